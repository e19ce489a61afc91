//! `$default`: client messages (`subscribe`, `unsubscribe`, `ping`), at most
//! `WS_MESSAGES_PER_CONNECTION` per connection; the reply is pushed back.

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use orderly_cloud::{ConnectionPusher, PushError};
use orderly_http::{ApiError, Response, json_response};
use serde_json::json;

use super::{connection_id, store_failed};
use crate::State;
use crate::services::{ServiceError, live_updates, rate_limits};

pub async fn handle(
    request: ApiGatewayWebsocketProxyRequest,
    state: &'static State,
) -> Result<Response, ApiError> {
    let connection_id = connection_id(&request)?;
    let body = request.body.as_deref().unwrap_or_default();
    let reply = match rate_limits::for_client_message(state, connection_id).await {
        Ok(()) => live_updates::on_message(&state.db, connection_id, body)
            .await
            .map_err(store_failed)?,
        Err(ServiceError::RateLimited {
            retry_after_seconds,
        }) => json!({
            "type": "error", "code": "RATE_LIMITED",
            "message": format!("too many messages on this connection; retry in {retry_after_seconds} s"),
        }),
        Err(other) => return Err(other.into()),
    };
    match state
        .connections
        .push(connection_id, reply.to_string().into_bytes())
        .await
    {
        Ok(()) | Err(PushError::Gone(_)) => Ok(json_response(200, &json!({}))),
        Err(e) => Err(ApiError::Internal(e.to_string())),
    }
}
