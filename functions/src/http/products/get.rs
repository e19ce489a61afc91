//! `GET /api/v1/products/{id}`: a live product with its stock; `ETag` is its version.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::{ProductView, with_etag};
use crate::{State, services::catalogue};

#[utoipa::path(
    get,
    path = "/api/v1/products/{id}",
    tag = "catalogue",
    params(("id" = uuid::Uuid, Path, description = "the product")),
    responses(
        (status = 200, description = "the product and its stock; `ETag` is its version", body = ProductView, headers(("ETag" = String))),
        (status = 400, description = "malformed id", body = ErrorBody),
        (status = 404, description = "no such live product", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let product = catalogue::get(state, request.path_id("id")?).await?;
    Ok(with_etag(200, product))
}
