//! `PATCH /api/v1/admin/merchants/{id}`: rename a merchant or change its fee schedule (audited).

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::MerchantView;
use crate::State;
use crate::http::{caller, ok};
use crate::services::merchants::{self, MerchantChange};

#[utoipa::path(
    patch,
    path = "/api/v1/admin/merchants/{id}",
    tag = "catalogue",
    params(("id" = uuid::Uuid, Path, description = "the merchant")),
    request_body = MerchantChange,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the merchant as it is now", body = MerchantView),
        (status = 403, description = "admins only", body = ErrorBody),
        (status = 404, description = "no such merchant", body = ErrorBody),
        (status = 409, description = "MERCHANT_EXISTS: the new name is taken", body = ErrorBody),
        (status = 422, description = "invalid fields, or none sent", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let id = request.path_id("id")?;
    let change = request.json()?;
    let merchant = merchants::update(state, &caller(&request), id, change).await?;
    Ok(ok(&MerchantView::from(merchant)))
}
