//! `$connect`: only with a valid access token (`?token=`); the connection belongs to its user. A refusal
//! (401) makes API Gateway refuse the upgrade.

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use orderly_http::{ApiError, Response, json_response};
use orderly_store::ws_connections::NewConnection;
use serde_json::json;

use super::{connection_id, store_failed};
use crate::services::tokens;
use crate::{State, services::live_updates};

pub async fn handle(
    request: ApiGatewayWebsocketProxyRequest,
    state: &'static State,
) -> Result<Response, ApiError> {
    let key = state
        .config
        .jwt_signing_key
        .as_deref()
        .ok_or_else(|| ApiError::internal("JWT_SIGNING_KEY is not configured"))?;
    let token = request
        .query_string_parameters
        .first("token")
        .unwrap_or_default();
    let claims = tokens::verify_access(key, token)
        .ok_or(ApiError::Unauthorized("connect with ?token=<access token>"))?;
    let identity = &request.request_context.identity;
    let connection = NewConnection {
        connection_id: connection_id(&request)?,
        user_id: Some(claims.sub),
        source_ip: identity.source_ip.as_deref(),
        user_agent: identity.user_agent.as_deref(),
    };
    live_updates::connect(&state.db, &connection)
        .await
        .map_err(store_failed)?;
    Ok(json_response(200, &json!({})))
}
