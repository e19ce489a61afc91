//! `POST /api/v1/orders`: reserves every line in one transaction, or, for a product in flash-sale mode,
//! queues the order for the reservation function; `Idempotency-Key` makes retries safe.

use orderly_domain::orders::PlaceOrderInput;
use orderly_http::{ApiError, ErrorBody, HttpRequest, Response, json_response};

use super::OrderDetailView;
use crate::http::caller;
use crate::{State, services::orders};

#[utoipa::path(
    post,
    path = "/api/v1/orders",
    tag = "orders",
    request_body = PlaceOrderInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "the same key and body replay the first response")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "placed, stock reserved, PENDING_PAYMENT", body = OrderDetailView),
        (status = 202, description = "a flash-sale product: QUEUED, to become PENDING_PAYMENT, REJECTED_OUT_OF_STOCK or REJECTED_BUYER_LIMIT (pushed over the WebSocket, and on GET /api/v1/orders/{id})", body = OrderDetailView),
        (status = 401, description = "no valid credentials", body = ErrorBody),
        (status = 409, description = "OUT_OF_STOCK with each short line in details (a sold-out flash sale too)", body = ErrorBody),
        (status = 422, description = "invalid basket, unknown product, a flash-sale product with other lines or for more than its limit per buyer, or a reused Idempotency-Key", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let input = request.json()?;
    let key = request.header("idempotency-key");
    let (status, body) = orders::place(
        state,
        &caller(&request),
        input,
        key,
        OrderDetailView::render,
    )
    .await?;
    Ok(json_response(status, &body))
}
