//! `POST /api/v1/admin/merchants`: a merchant that products can belong to.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::MerchantView;
use crate::State;
use crate::http::{caller, created};
use crate::services::merchants::{self, NewMerchant};

#[utoipa::path(
    post,
    path = "/api/v1/admin/merchants",
    tag = "catalogue",
    request_body = NewMerchant,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "created", body = MerchantView),
        (status = 403, description = "admins only", body = ErrorBody),
        (status = 409, description = "MERCHANT_EXISTS", body = ErrorBody),
        (status = 422, description = "invalid fields", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let input = request.json()?;
    let merchant = merchants::create(state, &caller(&request), input).await?;
    Ok(created(&MerchantView::from(merchant)))
}
