//! `GET /api/v1/orders?status=&limit=&cursor=`: the caller's orders, newest first.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::{State, services::orders};

#[utoipa::path(get, path = "/api/v1/orders", tag = "orders", security(("bearer" = [])),
    params(("status" = Option<orderly_domain::orders::OrderStatus>, Query, description = "only orders in this status"),
        ("limit" = Option<i64>, Query, description = "1 to 100, default 20"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, description = "own orders", body = crate::services::Paged<orderly_store::orders::Order>),
        (status = 401, description = "no valid credentials", body = crate::http::docs::ErrorBody), (status = 422, description = "invalid query", body = crate::http::docs::ErrorBody)))]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    Ok(ok(&orders::list_own(state, &request).await?))
}
