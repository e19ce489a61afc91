//! `$connect`: only with a connect ticket (`?ticket=`, from `POST /api/v1/ws/ticket`): single use, valid
//! 30 s, bound to the session it was issued in. The access token itself never travels in a URL, where
//! proxies and access logs keep it. A refusal makes API Gateway refuse the upgrade with the same status.

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use orderly_http::{ApiError, Response, json_response};
use serde_json::json;

use super::{connection_id, store_failed};
use crate::State;
use crate::services::live_updates::{self, ConnectRefusal, Opening};

pub async fn handle(
    request: ApiGatewayWebsocketProxyRequest,
    state: &'static State,
) -> Result<Response, ApiError> {
    let query = &request.query_string_parameters;
    let since = match query.first("since").filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => Some(raw.parse().map_err(|_| {
            ApiError::BadRequest(format!("?since= must be a notification id, not `{raw}`"))
        })?),
    };
    let identity = &request.request_context.identity;
    let opening = Opening {
        ticket: query.first("ticket").unwrap_or_default(),
        connection_id: connection_id(&request)?,
        source_ip: identity.source_ip.as_deref(),
        user_agent: identity.user_agent.as_deref(),
        since,
    };
    let connected =
        live_updates::connect(state, opening, state.config.ws_max_connections_per_user).await;
    match connected {
        Ok(()) => Ok(json_response(200, &json!({}))),
        Err(ConnectRefusal::NoValidTicket) => Err(ApiError::Unauthorized(
            "connect with ?ticket= from POST /api/v1/ws/ticket",
        )),
        Err(ConnectRefusal::TooManyConnections(_)) => Err(ApiError::RateLimited {
            retry_after_seconds: 60,
        }),
        Err(ConnectRefusal::Store(e)) => Err(store_failed(e)),
    }
}
