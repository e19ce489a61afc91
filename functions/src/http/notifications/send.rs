//! `POST /api/v1/admin/notifications`: SendToUsers. Stores one notification per user and answers 202;
//! the push to their sockets goes out from the WebSocket push worker.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use crate::State;
use crate::http::{caller, json_response_of};
use crate::services::notifications::{self, SendToUsers};

#[utoipa::path(
    post,
    path = "/api/v1/admin/notifications",
    tag = "notifications",
    request_body = SendToUsers,
    params(("Idempotency-Key" = Option<String>, Header, description = "the same key and body answer the same send")),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "`{batch_id, notifications: [{user_id, notification_id}], unknown_user_ids}`", body = serde_json::Value),
        (status = 403, description = "admins only", body = ErrorBody),
        (status = 422, description = "no users or more than 1,000, or a bad type, title, message or data", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let input = request.json()?;
    let key = request.header("idempotency-key");
    let (status, body) = notifications::send_to_users(state, &caller(&request), input, key).await?;
    Ok(json_response_of(status, &body))
}
