//! `DELETE /api/v1/admin/api-keys/{id}`: the key stops working at once.

use orderly_http::{ApiError, HttpRequest, Response, empty_response};

use crate::{State, services::api_keys};

#[utoipa::path(delete, path = "/api/v1/admin/api-keys/{id}", tag = "api keys", params(("id" = uuid::Uuid, Path, description = "the resource id")), security(("bearer" = [])), responses((status = 204, description = "revoked"), (status = 403, description = "admins only", body = crate::http::docs::ErrorBody), (status = 404, description = "no live key with this id", body = crate::http::docs::ErrorBody)))]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let id = request.path_id("id")?;
    api_keys::revoke(state, &request, id).await?;
    Ok(empty_response(204))
}
