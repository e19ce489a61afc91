//! `PUT /api/v1/notifications/read-all`: marks every notification of the caller read.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};
use serde_json::json;

use crate::State;
use crate::http::{caller, ok};
use crate::services::notifications;

#[utoipa::path(
    put,
    path = "/api/v1/notifications/read-all",
    tag = "notifications",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{\"updated\": n}`: how many were unread", body = serde_json::Value),
        (status = 401, description = "no valid credentials", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let updated = notifications::mark_all_read(state, &caller(&request)).await?;
    Ok(ok(&json!({"updated": updated})))
}
