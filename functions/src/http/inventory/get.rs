//! `GET /api/v1/products/{id}/inventory`: available, reserved, sold, threshold, low_stock.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::StockView;
use crate::http::ok;
use crate::{State, services::inventory};

#[utoipa::path(
    get,
    path = "/api/v1/products/{id}/inventory",
    tag = "inventory",
    params(("id" = uuid::Uuid, Path, description = "the product")),
    responses(
        (status = 200, description = "stock levels", body = StockView),
        (status = 400, description = "malformed id", body = ErrorBody),
        (status = 404, description = "no such product", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let id = request.path_id("id")?;
    let stock = inventory::get(state, id).await?;
    Ok(ok(&StockView::of(id, &stock)))
}
