//! `PUT /api/v1/orders/{id}/cancel`: the owner or an admin; the reserved stock is released.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::{State, services::orders};

#[utoipa::path(put, path = "/api/v1/orders/{id}/cancel", tag = "orders", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "the order id")),
    responses((status = 200, description = "cancelled", body = orderly_store::orders::Order),
        (status = 404, description = "no such order, or another user's", body = crate::http::docs::ErrorBody),
        (status = 409, description = "ILLEGAL_TRANSITION (e.g. already fulfilled)", body = crate::http::docs::ErrorBody)))]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    Ok(ok(
        &orders::cancel(state, &request, request.path_id("id")?).await?
    ))
}
