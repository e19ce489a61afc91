//! `GET /api/v1/orders/{id}/status`: the status and every change that led to it.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::{State, services::orders};

#[utoipa::path(get, path = "/api/v1/orders/{id}/status", tag = "orders", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "the order id")),
    responses((status = 200, description = "status and history", body = crate::services::orders::OrderStatusView),
        (status = 404, description = "no such order, or another user's", body = crate::http::docs::ErrorBody)))]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    Ok(ok(
        &orders::status(state, &request, request.path_id("id")?).await?
    ))
}
