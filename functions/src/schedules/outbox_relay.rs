//! Publishes outbox events as they commit, for about a minute; the schedule starts the next run each
//! minute, so one is always running (docs/adr/0017-outbox-relay.md).

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde_json::{Value, json};

use crate::Invocation;
use crate::State;
use crate::adapt::FunctionError;
use crate::services::outbox;

pub async fn handle(
    _: EventBridgeEvent,
    invocation: Invocation,
    state: &'static State,
) -> Result<Value, FunctionError> {
    let published = outbox::relay(state, invocation.deadline).await;
    tracing::info!(request_id = %invocation.request_id, published, "outbox relay run ended");
    Ok(json!({ "published": published }))
}
