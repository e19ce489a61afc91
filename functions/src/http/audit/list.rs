//! `GET /api/v1/admin/audit-logs?actor=&action=&limit=&cursor=`: newest first.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::{State, services::audit};

#[utoipa::path(get, path = "/api/v1/admin/audit-logs", tag = "audit", params(("actor" = Option<uuid::Uuid>, Query, description = "the acting user"), ("action" = Option<String>, Query, description = "e.g. product.updated"), ("limit" = Option<i64>, Query, description = "1 to 100, default 20"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")), security(("bearer" = [])), responses((status = 200, description = "newest first", body = crate::services::Paged<orderly_store::audit::AuditLog>), (status = 403, description = "admins only", body = crate::http::docs::ErrorBody), (status = 422, description = "invalid query", body = crate::http::docs::ErrorBody)))]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    Ok(ok(&audit::list(state, &request).await?))
}
