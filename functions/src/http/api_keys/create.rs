//! `POST /api/v1/admin/api-keys`: a new key for a service client; the secret is in this response only.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::created;
use crate::{State, services::api_keys};

#[utoipa::path(post, path = "/api/v1/admin/api-keys", tag = "api keys", request_body = crate::services::api_keys::NewKey, security(("bearer" = [])), responses((status = 201, description = "the key; `api_key` is shown only here", body = crate::services::api_keys::CreatedKey), (status = 403, description = "admins only", body = crate::http::docs::ErrorBody), (status = 422, description = "invalid fields", body = crate::http::docs::ErrorBody)))]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let input = request.json()?;
    Ok(created(&api_keys::create(state, &request, input).await?))
}
