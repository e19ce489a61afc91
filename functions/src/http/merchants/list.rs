//! `GET /api/v1/admin/merchants`.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::{State, services::merchants};

#[utoipa::path(get, path = "/api/v1/admin/merchants", tag = "catalogue", params(("limit" = Option<i64>, Query, description = "1 to 100, default 20"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")), security(("bearer" = [])), responses((status = 200, description = "merchants", body = crate::services::Paged<orderly_store::merchants::Merchant>), (status = 403, description = "admins only", body = crate::http::docs::ErrorBody)))]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    Ok(ok(&merchants::list(state, &request).await?))
}
