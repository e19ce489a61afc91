//! `POST /api/v1/admin/api-keys`: a new key for a service client; the secret is in this response only.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::CreatedKeyView;
use crate::State;
use crate::http::{caller, created};
use crate::services::api_keys::{self, NewKey};

#[utoipa::path(
    post,
    path = "/api/v1/admin/api-keys",
    tag = "api keys",
    request_body = NewKey,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "the key; `api_key` is shown only here", body = CreatedKeyView),
        (status = 403, description = "admins only", body = ErrorBody),
        (status = 422, description = "invalid fields", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let input = request.json()?;
    let key = api_keys::create(state, &caller(&request), input).await?;
    Ok(created(&CreatedKeyView::from(key)))
}
