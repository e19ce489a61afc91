//! `DELETE /api/v1/admin/api-keys/{id}`: the key stops working on its next request.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response, empty_response};

use crate::http::caller;
use crate::{State, services::api_keys};

#[utoipa::path(
    delete,
    path = "/api/v1/admin/api-keys/{id}",
    tag = "api keys",
    params(("id" = uuid::Uuid, Path, description = "the key")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "revoked"),
        (status = 403, description = "admins only", body = ErrorBody),
        (status = 404, description = "no live key with this id", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    api_keys::revoke(state, &caller(&request), request.path_id("id")?).await?;
    Ok(empty_response(204))
}
