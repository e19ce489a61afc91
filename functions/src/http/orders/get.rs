//! `GET /api/v1/orders/{id}`: an order with its lines; another user's order is 404.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::{State, services::orders};

#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "the order id")),
    responses((status = 200, description = "the order and its lines", body = crate::services::orders::OrderView),
        (status = 400, description = "malformed id", body = crate::http::docs::ErrorBody), (status = 404, description = "no such order, or another user's", body = crate::http::docs::ErrorBody)))]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    Ok(ok(
        &orders::get(state, &request, request.path_id("id")?).await?
    ))
}
