//! `GET /api/v1/admin/inventory/low-stock`: products at or under their threshold.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::{State, services::inventory};

pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    Ok(ok(&inventory::low_stock(state, &request).await?))
}
