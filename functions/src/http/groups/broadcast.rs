//! `POST /api/v1/admin/groups/{id}/broadcast`: BroadcastToGroup. Answers 202 at once; the notification
//! worker reaches the members a page at a time, each with a stored notification and a live push.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use crate::State;
use crate::http::{caller, json_response_of};
use crate::services::groups::{self, BroadcastInput};

#[utoipa::path(
    post,
    path = "/api/v1/admin/groups/{id}/broadcast",
    tag = "notifications",
    params(
        ("id" = uuid::Uuid, Path, description = "the group"),
        ("Idempotency-Key" = Option<String>, Header, description = "the same key and body answer the same broadcast, which reaches each member once"),
    ),
    request_body = BroadcastInput,
    security(("bearer" = [])),
    responses(
        (status = 202, description = "`{broadcast_id, group_id, members}`: under way", body = serde_json::Value),
        (status = 403, description = "admins only", body = ErrorBody),
        (status = 404, description = "no such group", body = ErrorBody),
        (status = 422, description = "a bad type, title, message or data, or an Idempotency-Key used for another broadcast", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let input = request.json()?;
    let group = request.path_id("id")?;
    let key = request.header("idempotency-key");
    let (status, body) = groups::broadcast(state, &caller(&request), group, input, key).await?;
    Ok(json_response_of(status, &body))
}
