//! `DELETE /api/v1/products/{id}`: takes a product off sale (orders keep pointing at it).

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response, empty_response};

use crate::http::caller;
use crate::{State, services::catalogue};

#[utoipa::path(
    delete,
    path = "/api/v1/products/{id}",
    tag = "catalogue",
    params(
        ("id" = uuid::Uuid, Path, description = "the product"),
        ("If-Match" = String, Header, description = "the ETag you read"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "deleted (orders keep it)"),
        (status = 403, description = "admins only", body = ErrorBody),
        (status = 404, description = "no such live product", body = ErrorBody),
        (status = 412, description = "stale ETag", body = ErrorBody),
        (status = 428, description = "If-Match missing", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let (id, expected) = (request.path_id("id")?, request.if_match()?);
    catalogue::delete(state, &caller(&request), id, expected).await?;
    Ok(empty_response(204))
}
