//! `POST /api/v1/products` (admin): a product and its initial stock.

use orderly_http::{ApiError, HttpRequest, Response};

use super::with_etag;
use crate::http::created;
use crate::{State, services::catalogue};

#[utoipa::path(post, path = "/api/v1/products", tag = "catalogue", request_body = orderly_domain::products::ProductInput, security(("bearer" = [])), responses((status = 201, description = "created with its stock", body = orderly_store::products::Product, headers(("ETag" = String))), (status = 403, description = "admins only", body = crate::http::docs::ErrorBody), (status = 409, description = "SKU_TAKEN", body = crate::http::docs::ErrorBody), (status = 422, description = "invalid fields", body = crate::http::docs::ErrorBody)))]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let input = request.json()?;
    let product = catalogue::create(state, &request, input).await?;
    Ok(with_etag(created(&product), &product))
}
