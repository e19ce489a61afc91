//! `GET /api/v1/admin/audit-logs?actor=&action=&limit=&cursor=`: newest first.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::{State, services::audit};

pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    Ok(ok(&audit::list(state, &request).await?))
}
