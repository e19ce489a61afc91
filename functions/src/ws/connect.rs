//! `$connect`: remembers the connection. Token checks arrive with identity (issue 3).

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use orderly_http::{ApiError, Response, json_response};
use orderly_store::ws_connections::NewConnection;
use serde_json::json;

use super::{connection_id, store_failed};
use crate::{State, services::live_updates};

pub async fn handle(
    request: ApiGatewayWebsocketProxyRequest,
    state: &'static State,
) -> Result<Response, ApiError> {
    let identity = &request.request_context.identity;
    let connection = NewConnection {
        connection_id: connection_id(&request)?,
        user_id: None,
        source_ip: identity.source_ip.as_deref(),
        user_agent: identity.user_agent.as_deref(),
    };
    live_updates::connect(&state.db, &connection)
        .await
        .map_err(store_failed)?;
    Ok(json_response(200, &json!({})))
}
