//! `PUT /api/v1/products/{id}/inventory` (admin): count on hand, adjust, or set the threshold; audited.

use orderly_domain::inventory::StockInput;
use orderly_http::{ApiError, ErrorBody, HttpRequest, Response, json_response};

use super::StockView;
use crate::http::caller;
use crate::{State, services::inventory};

#[utoipa::path(
    put,
    path = "/api/v1/products/{id}/inventory",
    tag = "inventory",
    params(
        ("id" = uuid::Uuid, Path, description = "the product"),
        ("Idempotency-Key" = Option<String>, Header, description = "the same key and change replay the first response; an adjustment retried after a lost answer is applied once"),
    ),
    request_body = StockInput,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the new stock levels", body = StockView),
        (status = 403, description = "admins only", body = ErrorBody),
        (status = 404, description = "no such product", body = ErrorBody),
        (status = 409, description = "BELOW_RESERVED, INSUFFICIENT_STOCK, STOCK_LIMIT, or NOT_IN_FLASH_SALE (a buyer_limit for a product not in flash-sale mode)", body = ErrorBody),
        (status = 422, description = "invalid fields, or an Idempotency-Key used for a different change", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let id = request.path_id("id")?;
    let key = request.header("idempotency-key");
    let (status, body) = inventory::change(
        state,
        &caller(&request),
        id,
        request.json()?,
        key,
        StockView::render,
    )
    .await?;
    Ok(json_response(status, &body))
}
