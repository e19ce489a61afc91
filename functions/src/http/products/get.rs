//! `GET /api/v1/products/{id}`: one product, with its ETag.

use orderly_http::{ApiError, HttpRequest, Response};

use super::with_etag;
use crate::http::ok;
use crate::{State, services::catalogue};

#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "catalogue", params(("id" = uuid::Uuid, Path, description = "the resource id")), responses((status = 200, description = "the product; `ETag` is its version", body = orderly_store::products::Product, headers(("ETag" = String))), (status = 400, description = "malformed id", body = crate::http::docs::ErrorBody), (status = 404, description = "no such product", body = crate::http::docs::ErrorBody)))]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let product = catalogue::get(state, request.path_id("id")?).await?;
    Ok(with_etag(ok(&product), &product))
}
