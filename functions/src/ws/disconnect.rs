//! `$disconnect`: forgets the connection (best effort on AWS's side, so `ws-prune` sweeps the rest).

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use orderly_http::{ApiError, Response, json_response};
use serde_json::json;

use super::{connection_id, store_failed};
use crate::{State, services::live_updates};

pub async fn handle(
    request: ApiGatewayWebsocketProxyRequest,
    state: &'static State,
) -> Result<Response, ApiError> {
    live_updates::disconnect(&state.db, connection_id(&request)?)
        .await
        .map_err(store_failed)?;
    Ok(json_response(200, &json!({})))
}
