//! `GET /api/v1/admin/audit-logs?actor=&action=&limit=&cursor=`: newest first.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::AuditLogView;
use crate::State;
use crate::http::{caller, ok};
use crate::services::Paged;
use crate::services::audit::{self, AuditQuery};

#[utoipa::path(
    get,
    path = "/api/v1/admin/audit-logs",
    tag = "audit",
    params(
        ("actor" = Option<uuid::Uuid>, Query, description = "the acting user"),
        ("action" = Option<String>, Query, description = "e.g. product.updated"),
        ("limit" = Option<i64>, Query, description = "1 to 100, default 20"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "newest first", body = Paged<AuditLogView>),
        (status = 403, description = "admins only", body = ErrorBody),
        (status = 422, description = "invalid query", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let query = AuditQuery {
        actor: request.query_id("actor")?,
        action: request.query("action").map(str::to_owned),
    };
    let page = audit::list(state, &caller(&request), &query, request.page()?).await?;
    Ok(ok(&page.map(AuditLogView::from)))
}
