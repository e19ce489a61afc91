//! `DELETE /api/v1/products/{id}` (admin, `If-Match` required): hides the product; orders keep it.

use orderly_http::{ApiError, HttpRequest, Response, empty_response};

use crate::{State, services::catalogue};

#[utoipa::path(delete, path = "/api/v1/products/{id}", tag = "catalogue", params(("id" = uuid::Uuid, Path, description = "the resource id"), ("If-Match" = String, Header, description = "the ETag you read")), security(("bearer" = [])), responses((status = 204, description = "deleted (orders keep it)"), (status = 403, description = "admins only", body = crate::http::docs::ErrorBody), (status = 404, description = "no such product", body = crate::http::docs::ErrorBody), (status = 412, description = "stale ETag", body = crate::http::docs::ErrorBody), (status = 428, description = "If-Match missing", body = crate::http::docs::ErrorBody)))]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    catalogue::delete(state, &request, request.path_id("id")?).await?;
    Ok(empty_response(204))
}
