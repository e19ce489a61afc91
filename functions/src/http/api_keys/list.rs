//! `GET /api/v1/admin/api-keys`: live keys, without secrets.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::{State, services::api_keys};

pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    Ok(ok(&api_keys::list(state, &request).await?))
}
