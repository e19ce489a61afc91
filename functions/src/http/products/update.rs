//! `PUT /api/v1/products/{id}` (admin, `If-Match` required): replaces the product's fields.

use orderly_http::{ApiError, HttpRequest, Response};

use super::with_etag;
use crate::http::ok;
use crate::{State, services::catalogue};

#[utoipa::path(put, path = "/api/v1/products/{id}", tag = "catalogue", params(("id" = uuid::Uuid, Path, description = "the resource id"), ("If-Match" = String, Header, description = "the ETag you read")), request_body = orderly_domain::products::ProductInput, security(("bearer" = [])), responses((status = 200, description = "replaced", body = orderly_store::products::Product, headers(("ETag" = String))), (status = 403, description = "admins only", body = crate::http::docs::ErrorBody), (status = 404, description = "no such product", body = crate::http::docs::ErrorBody), (status = 409, description = "SKU_TAKEN", body = crate::http::docs::ErrorBody), (status = 412, description = "stale ETag; the current one is in ETag", body = crate::http::docs::ErrorBody), (status = 422, description = "invalid fields", body = crate::http::docs::ErrorBody), (status = 428, description = "If-Match missing", body = crate::http::docs::ErrorBody)))]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let id = request.path_id("id")?;
    let product = catalogue::replace(state, &request, id, request.json()?).await?;
    Ok(with_etag(ok(&product), &product))
}
