//! `GET /api/v1/products/{id}/inventory`: available, reserved, sold, threshold, low_stock.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::{State, services::inventory};

pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    Ok(ok(&inventory::get(state, request.path_id("id")?).await?))
}
