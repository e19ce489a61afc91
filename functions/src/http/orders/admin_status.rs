//! `PUT /api/v1/admin/orders/{id}/status`: cancel, or move a paid order through fulfilment by hand; stock
//! follows. Statuses that record money (PAID, PAYMENT_FAILED) or time (EXPIRED) are the system's alone.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::{State, services::orders};

#[utoipa::path(put, path = "/api/v1/admin/orders/{id}/status", tag = "orders", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "the order id")), request_body = crate::services::orders::StatusChangeInput,
    responses((status = 200, description = "changed", body = orderly_store::orders::Order),
        (status = 403, description = "admins only", body = crate::http::docs::ErrorBody), (status = 404, description = "no such order", body = crate::http::docs::ErrorBody),
        (status = 409, description = "ILLEGAL_TRANSITION", body = crate::http::docs::ErrorBody), (status = 422, description = "an unknown status, or one only the system sets (PAID, PAYMENT_FAILED, EXPIRED, PENDING_PAYMENT)", body = crate::http::docs::ErrorBody)))]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let id = request.path_id("id")?;
    Ok(ok(&orders::set_status(
        state,
        &request,
        id,
        request.json()?,
    )
    .await?))
}
