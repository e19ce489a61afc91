//! `POST /api/v1/admin/merchants`: a merchant that products can belong to.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::created;
use crate::{State, services::merchants};

#[utoipa::path(post, path = "/api/v1/admin/merchants", tag = "catalogue", request_body = crate::services::merchants::NewMerchant, security(("bearer" = [])), responses((status = 201, description = "created", body = orderly_store::merchants::Merchant), (status = 403, description = "admins only", body = crate::http::docs::ErrorBody), (status = 409, description = "MERCHANT_EXISTS", body = crate::http::docs::ErrorBody), (status = 422, description = "invalid fields", body = crate::http::docs::ErrorBody)))]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let input = request.json()?;
    Ok(created(&merchants::create(state, &request, input).await?))
}
