//! `GET /api/v1/orders/{id}`: an order with its lines (its owner, or an admin).

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::OrderDetailView;
use crate::http::{caller, ok};
use crate::{State, services::orders};

#[utoipa::path(
    get,
    path = "/api/v1/orders/{id}",
    tag = "orders",
    params(("id" = uuid::Uuid, Path, description = "the order")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the order and its lines", body = OrderDetailView),
        (status = 400, description = "malformed id", body = ErrorBody),
        (status = 404, description = "no such order, or another user's", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let order = orders::get(state, &caller(&request), request.path_id("id")?).await?;
    Ok(ok(&OrderDetailView::from(order)))
}
