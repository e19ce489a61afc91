//! Every minute: closes and forgets WebSocket connections past API Gateway's two-hour limit, and those whose
//! session, role or access token ended (they already receive nothing; closing tells the client).

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde_json::{Value, json};

use crate::adapt::FunctionError;
use crate::services::ServiceError;
use crate::{Invocation, State, services::live_updates};

pub async fn handle(
    _: EventBridgeEvent,
    invocation: Invocation,
    state: &'static State,
) -> Result<Value, FunctionError> {
    let forgotten = live_updates::prune(&state.db, &state.connections)
        .await
        .map_err(ServiceError::from)?;
    tracing::info!(request_id = %invocation.request_id, forgotten, "stale connections pruned");
    Ok(json!({ "forgotten": forgotten }))
}
