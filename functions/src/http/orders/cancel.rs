//! `PUT /api/v1/orders/{id}/cancel`: its owner (or an admin) cancels it; the stock goes back, a paid order
//! is refunded.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::OrderView;
use crate::http::{caller, ok};
use crate::{State, services::orders};

#[utoipa::path(
    put,
    path = "/api/v1/orders/{id}/cancel",
    tag = "orders",
    params(("id" = uuid::Uuid, Path, description = "the order")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "cancelled", body = OrderView),
        (status = 404, description = "no such order, or another user's", body = ErrorBody),
        (status = 409, description = "ILLEGAL_TRANSITION (e.g. already fulfilled)", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let order = orders::cancel(state, &caller(&request), request.path_id("id")?).await?;
    Ok(ok(&OrderView::from(order)))
}
