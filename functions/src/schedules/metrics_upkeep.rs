//! Every minute: the month partitions of `metric_events` ahead of time, closed minutes merged into one
//! row each, minutes past the API's longest span forgotten.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde_json::{Value, json};

use crate::adapt::FunctionError;
use crate::services::event_metrics;
use crate::{Invocation, State};

pub async fn handle(
    _: EventBridgeEvent,
    invocation: Invocation,
    state: &'static State,
) -> Result<Value, FunctionError> {
    let done = event_metrics::upkeep(&state.db, chrono::Utc::now()).await?;
    tracing::info!(request_id = %invocation.request_id, ?done, "metrics upkeep");
    Ok(json!(done))
}
