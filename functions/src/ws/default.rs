//! `$default`: client messages (`subscribe`, `unsubscribe`, `ping`); the reply is pushed back.

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use orderly_cloud::{ConnectionPusher, PushError};
use orderly_http::{ApiError, Response, json_response};
use serde_json::json;

use super::{connection_id, store_failed};
use crate::{State, services::live_updates};

pub async fn handle(
    request: ApiGatewayWebsocketProxyRequest,
    state: &'static State,
) -> Result<Response, ApiError> {
    let connection_id = connection_id(&request)?;
    let body = request.body.as_deref().unwrap_or_default();
    let reply = live_updates::on_message(&state.db, connection_id, body)
        .await
        .map_err(store_failed)?;
    match state
        .connections
        .push(connection_id, reply.to_string().into_bytes())
        .await
    {
        Ok(()) | Err(PushError::Gone(_)) => Ok(json_response(200, &json!({}))),
        Err(e) => Err(ApiError::Internal(e.to_string())),
    }
}
