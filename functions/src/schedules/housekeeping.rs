//! Every hour: forgets idle rate-limit rows, expired idempotency keys, ended sessions with their refresh
//! tokens, and old connect tickets.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde_json::Value;

use crate::adapt::FunctionError;
use crate::services::ServiceError;
use crate::{Invocation, State, services::housekeeping};

pub async fn handle(
    _: EventBridgeEvent,
    invocation: Invocation,
    state: &'static State,
) -> Result<Value, FunctionError> {
    let purged = housekeeping::purge(&state.db)
        .await
        .map_err(ServiceError::from)?;
    tracing::info!(request_id = %invocation.request_id, ?purged, "housekeeping done");
    serde_json::to_value(purged).map_err(|e| FunctionError::Failed(e.to_string()))
}
