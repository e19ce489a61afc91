//! Queue `WsPushQueue` (every order event): pushes each event to the WebSocket connections following it.
//! A message that cannot be read, or whose push fails for a reason other than a gone client, is reported
//! as a batch item failure: SQS redelivers it, and after `maxReceiveCount` it lands in the DLQ.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use orderly_domain::EventEnvelope;

use crate::{State, services::live_updates};

async fn deliver(message: &SqsMessage, state: &State) -> Result<(), String> {
    let body = message.body.as_deref().ok_or("message has no body")?;
    let event: EventEnvelope =
        serde_json::from_str(body).map_err(|e| format!("not an event envelope: {e}"))?;
    let delivery = live_updates::deliver(&state.db, &state.connections, &event)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(event_id = %event.event_id, event_type = %event.event_type, pushed = delivery.pushed, gone = delivery.gone, "event pushed");
    Ok(())
}

pub async fn handle(batch: SqsEvent, state: &'static State) -> SqsBatchResponse {
    let outcomes = futures::future::join_all(batch.records.iter().map(|m| deliver(m, state))).await;
    let mut response = SqsBatchResponse::default();
    for (message, outcome) in batch.records.iter().zip(outcomes) {
        if let Err(reason) = outcome {
            let id = message.message_id.clone().unwrap_or_default();
            tracing::warn!(message_id = %id, %reason, "push failed; the message will be retried");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}
