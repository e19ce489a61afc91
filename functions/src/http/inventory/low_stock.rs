//! `GET /api/v1/admin/inventory/low-stock`: products at or under their threshold.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::LowStockView;
use crate::State;
use crate::http::{caller, ok};
use crate::services::{Paged, inventory};

#[utoipa::path(
    get,
    path = "/api/v1/admin/inventory/low-stock",
    tag = "inventory",
    params(
        ("limit" = Option<i64>, Query, description = "1 to 100, default 20"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "products at or under their threshold", body = Paged<LowStockView>),
        (status = 403, description = "admins only", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let page = inventory::low_stock(state, &caller(&request), request.page()?).await?;
    Ok(ok(&page.map(LowStockView::from)))
}
