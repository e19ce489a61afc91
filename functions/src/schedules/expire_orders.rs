//! Every minute: orders left unpaid past their window expire and release their stock.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde_json::{Value, json};

use crate::adapt::FunctionError;
use crate::{Invocation, State, services::orders};

pub async fn handle(
    _: EventBridgeEvent,
    invocation: Invocation,
    state: &'static State,
) -> Result<Value, FunctionError> {
    let expired = orders::expire(state).await?;
    tracing::info!(request_id = %invocation.request_id, expired, "unpaid orders expired");
    Ok(json!({ "expired": expired }))
}
