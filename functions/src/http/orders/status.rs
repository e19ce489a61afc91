//! `GET /api/v1/orders/{id}/status`: an order's status and the history of changes.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::OrderHistoryView;
use crate::http::{caller, ok};
use crate::{State, services::orders};

#[utoipa::path(
    get,
    path = "/api/v1/orders/{id}/status",
    tag = "orders",
    params(("id" = uuid::Uuid, Path, description = "the order")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "status and history", body = OrderHistoryView),
        (status = 404, description = "no such order, or another user's", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let history = orders::status(state, &caller(&request), request.path_id("id")?).await?;
    Ok(ok(&OrderHistoryView::from(history)))
}
