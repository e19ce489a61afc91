//! `GET /api/v1/products/{id}/inventory`: available, reserved, sold, threshold, low_stock.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::{State, services::inventory};

#[utoipa::path(get, path = "/api/v1/products/{id}/inventory", tag = "inventory", params(("id" = uuid::Uuid, Path, description = "the resource id")), responses((status = 200, description = "stock levels", body = crate::services::inventory::StockView), (status = 400, description = "malformed id", body = crate::http::docs::ErrorBody), (status = 404, description = "no such product", body = crate::http::docs::ErrorBody)))]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    Ok(ok(&inventory::get(state, request.path_id("id")?).await?))
}
