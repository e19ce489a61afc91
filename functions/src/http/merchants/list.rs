//! `GET /api/v1/admin/merchants`.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::{State, services::merchants};

pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    Ok(ok(&merchants::list(state, &request).await?))
}
