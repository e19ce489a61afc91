//! `POST /api/v1/admin/api-keys`: a new key for a service client; the secret is in this response only.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::created;
use crate::{State, services::api_keys};

pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let input = request.json()?;
    Ok(created(&api_keys::create(state, &request, input).await?))
}
