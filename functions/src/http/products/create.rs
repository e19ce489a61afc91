//! `POST /api/v1/products`: a product and its opening stock (admins).

use orderly_domain::products::ProductInput;
use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::{ProductView, with_etag};
use crate::http::caller;
use crate::{State, services::catalogue};

#[utoipa::path(
    post,
    path = "/api/v1/products",
    tag = "catalogue",
    request_body = ProductInput,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "created with its stock", body = ProductView, headers(("ETag" = String))),
        (status = 403, description = "admins only", body = ErrorBody),
        (status = 409, description = "SKU_TAKEN", body = ErrorBody),
        (status = 422, description = "invalid fields", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let input = request.json()?;
    let product = catalogue::create(state, &caller(&request), input).await?;
    Ok(with_etag(201, product))
}
