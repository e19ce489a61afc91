//! Every minute: publishes outbox events a crash or an outage left unpublished.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde_json::{Value, json};

use crate::adapt::FunctionError;
use crate::{Invocation, State, services::outbox};

pub async fn handle(
    _: EventBridgeEvent,
    invocation: Invocation,
    state: &'static State,
) -> Result<Value, FunctionError> {
    let published = outbox::sweep(state).await?;
    tracing::info!(request_id = %invocation.request_id, published, "outbox swept");
    Ok(json!({ "published": published }))
}
