//! `PUT /api/v1/products/{id}`: replaces a product's fields, if it is still the version you read.

use orderly_domain::products::ProductInput;
use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::{ProductView, with_etag};
use crate::http::caller;
use crate::{State, services::catalogue};

#[utoipa::path(
    put,
    path = "/api/v1/products/{id}",
    tag = "catalogue",
    params(
        ("id" = uuid::Uuid, Path, description = "the product"),
        ("If-Match" = String, Header, description = "the ETag you read"),
    ),
    request_body = ProductInput,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "replaced", body = ProductView, headers(("ETag" = String))),
        (status = 403, description = "admins only", body = ErrorBody),
        (status = 404, description = "no such live product", body = ErrorBody),
        (status = 409, description = "SKU_TAKEN", body = ErrorBody),
        (status = 412, description = "stale ETag; the current one is in `ETag`", body = ErrorBody),
        (status = 422, description = "invalid fields", body = ErrorBody),
        (status = 428, description = "If-Match missing", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let (id, expected) = (request.path_id("id")?, request.if_match()?);
    let product =
        catalogue::replace(state, &caller(&request), id, expected, request.json()?).await?;
    Ok(with_etag(200, product))
}
