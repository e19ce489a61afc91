//! `GET /api/v1/admin/orders?status=&user_id=&from=&to=`: every order, newest first.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::{State, services::orders};

#[utoipa::path(get, path = "/api/v1/admin/orders", tag = "orders", security(("bearer" = [])),
    params(("status" = Option<orderly_domain::orders::OrderStatus>, Query, description = "only this status"),
        ("user_id" = Option<uuid::Uuid>, Query, description = "only this user's"),
        ("from" = Option<String>, Query, description = "created at or after (RFC 3339)"), ("to" = Option<String>, Query, description = "created before (RFC 3339)"),
        ("limit" = Option<i64>, Query, description = "1 to 100, default 20"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, description = "orders", body = crate::services::Paged<orderly_store::orders::Order>),
        (status = 403, description = "admins only", body = crate::http::docs::ErrorBody), (status = 422, description = "invalid query", body = crate::http::docs::ErrorBody)))]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    Ok(ok(&orders::list_all(state, &request).await?))
}
