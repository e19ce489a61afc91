//! `GET /api/v1/admin/reports/daily?from=&to=`: orders, units and gross per day and per product.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::{State, services::reports};

#[utoipa::path(get, path = "/api/v1/admin/reports/daily", tag = "reports", security(("bearer" = [])),
    params(("from" = String, Query, description = "first day, YYYY-MM-DD"), ("to" = String, Query, description = "last day, YYYY-MM-DD")),
    responses((status = 200, description = "days with activity, oldest first", body = Vec<orderly_store::reports::SalesDay>),
        (status = 403, description = "admins only", body = crate::http::docs::ErrorBody),
        (status = 422, description = "missing or invalid dates", body = crate::http::docs::ErrorBody)))]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    Ok(ok(&reports::daily(state, &request).await?))
}
