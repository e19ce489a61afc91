//! `GET /api/v1/admin/orders?status=&user_id=&from=&to=`: every order, filtered.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::{OrderView, status_filter, time_filter};
use crate::State;
use crate::http::{caller, ok};
use crate::services::Paged;
use crate::services::orders::{self, OrderQuery};

#[utoipa::path(
    get,
    path = "/api/v1/admin/orders",
    tag = "orders",
    params(
        ("status" = Option<orderly_domain::orders::OrderStatus>, Query, description = "only this status (any letter case)"),
        ("user_id" = Option<uuid::Uuid>, Query, description = "only this user's"),
        ("from" = Option<String>, Query, description = "created at or after (RFC 3339)"),
        ("to" = Option<String>, Query, description = "created before (RFC 3339)"),
        ("limit" = Option<i64>, Query, description = "1 to 100, default 20"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "orders, newest first", body = Paged<OrderView>),
        (status = 403, description = "admins only", body = ErrorBody),
        (status = 422, description = "invalid query", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let query = OrderQuery {
        user_id: request.query_id("user_id")?,
        status: status_filter(&request)?,
        from: time_filter(&request, "from")?,
        to: time_filter(&request, "to")?,
    };
    let page = orders::list_all(state, &caller(&request), &query, request.page()?).await?;
    Ok(ok(&page.map(OrderView::from)))
}
