//! `POST /api/v1/orders`: reserves every line and places the order in one transaction; `Idempotency-Key`
//! makes retries safe.

use orderly_http::{ApiError, HttpRequest, Response, json_response};

use crate::{State, services::orders};

#[utoipa::path(post, path = "/api/v1/orders", tag = "orders", request_body = orderly_domain::orders::PlaceOrderInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "the same key and body replay the first response")),
    security(("bearer" = [])),
    responses((status = 201, description = "placed, stock reserved, PENDING_PAYMENT", body = crate::services::orders::OrderView),
        (status = 401, description = "no valid credentials", body = crate::http::docs::ErrorBody),
        (status = 409, description = "OUT_OF_STOCK with each short line in details", body = crate::http::docs::ErrorBody),
        (status = 422, description = "invalid basket, unknown product, or a reused Idempotency-Key", body = crate::http::docs::ErrorBody)))]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let input = request.json()?;
    let (status, body) = orders::place(state, &request, input).await?;
    Ok(json_response(status, &body))
}
