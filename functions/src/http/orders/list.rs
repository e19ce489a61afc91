//! `GET /api/v1/orders?status=`: the caller's own orders, newest first.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::{OrderView, status_filter};
use crate::State;
use crate::http::{caller, ok};
use crate::services::{Paged, orders};

#[utoipa::path(
    get,
    path = "/api/v1/orders",
    tag = "orders",
    params(
        ("status" = Option<orderly_domain::orders::OrderStatus>, Query, description = "only orders in this status (any letter case)"),
        ("limit" = Option<i64>, Query, description = "1 to 100, default 20"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "own orders", body = Paged<OrderView>),
        (status = 401, description = "no valid credentials", body = ErrorBody),
        (status = 422, description = "invalid query", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let status = status_filter(&request)?;
    let page = orders::list_own(state, &caller(&request), status, request.page()?).await?;
    Ok(ok(&page.map(OrderView::from)))
}
