//! `PUT /api/v1/products/{id}/inventory` (admin): count on hand, adjust, or set the threshold; audited.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::{State, services::inventory};

#[utoipa::path(put, path = "/api/v1/products/{id}/inventory", tag = "inventory", params(("id" = uuid::Uuid, Path, description = "the resource id")), request_body = orderly_domain::inventory::StockInput, security(("bearer" = [])), responses((status = 200, description = "the new stock levels", body = crate::services::inventory::StockView), (status = 403, description = "admins only", body = crate::http::docs::ErrorBody), (status = 404, description = "no such product", body = crate::http::docs::ErrorBody), (status = 409, description = "BELOW_RESERVED, INSUFFICIENT_STOCK or STOCK_LIMIT", body = crate::http::docs::ErrorBody), (status = 422, description = "invalid fields", body = crate::http::docs::ErrorBody)))]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let id = request.path_id("id")?;
    Ok(ok(
        &inventory::change(state, &request, id, request.json()?).await?
    ))
}
