//! `PUT /api/v1/admin/orders/{id}/status`: cancel, or move a paid order through fulfilment by hand; stock
//! follows. Statuses that record money (PAID, PAYMENT_FAILED) or time (EXPIRED) are the system's alone.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::OrderView;
use crate::State;
use crate::http::{caller, ok};
use crate::services::orders::{self, StatusChangeInput};

#[utoipa::path(
    put,
    path = "/api/v1/admin/orders/{id}/status",
    tag = "orders",
    params(("id" = uuid::Uuid, Path, description = "the order")),
    request_body = StatusChangeInput,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "changed", body = OrderView),
        (status = 403, description = "admins only", body = ErrorBody),
        (status = 404, description = "no such order", body = ErrorBody),
        (status = 409, description = "ILLEGAL_TRANSITION", body = ErrorBody),
        (status = 422, description = "an unknown status, or one only the system sets (PAID, PAYMENT_FAILED, EXPIRED, PENDING_PAYMENT)", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let id = request.path_id("id")?;
    let order = orders::set_status(state, &caller(&request), id, request.json()?).await?;
    Ok(ok(&OrderView::from(order)))
}
