//! `GET /api/v1/admin/inventory/low-stock`: products at or under their threshold.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::{State, services::inventory};

#[utoipa::path(get, path = "/api/v1/admin/inventory/low-stock", tag = "inventory", params(("limit" = Option<i64>, Query, description = "1 to 100, default 20"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")), security(("bearer" = [])), responses((status = 200, description = "products at or under their threshold", body = crate::services::Paged<orderly_store::inventory::LowStock>), (status = 403, description = "admins only", body = crate::http::docs::ErrorBody)))]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    Ok(ok(&inventory::low_stock(state, &request).await?))
}
