//! Queue workers. Each message is one `EventEnvelope`; a message that cannot be read or handled becomes
//! a batch item failure (the worker edge's rendering of a `ServiceError`), so SQS redelivers it and, after
//! `maxReceiveCount`, moves it to the DLQ.

pub mod flash_sale;
pub mod fulfillment;
pub mod notification;
pub mod payment;
pub mod report;
pub mod settlement;
pub mod ws_push;

use std::future::Future;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use orderly_domain::EventEnvelope;

use crate::services::ServiceError;

/// The event types a worker handler acts on (its queue's subscription filter must be exactly these), or
/// `None` for a handler that is not a queue worker.
pub fn handled_events(handler: &str) -> Option<&'static [&'static str]> {
    Some(match handler {
        "payment" => payment::HANDLES,
        "fulfillment" => fulfillment::HANDLES,
        "notification" => notification::HANDLES,
        "report" => report::HANDLES,
        "ws-push" => ws_push::HANDLES,
        "settlement" => settlement::HANDLES,
        "flash-sale-reserve" => flash_sale::HANDLES,
        _ => return None,
    })
}

pub(crate) fn envelope(message: &SqsMessage) -> Result<EventEnvelope, ServiceError> {
    let body = message
        .body
        .as_deref()
        .ok_or_else(|| ServiceError::internal("the message has no body"))?;
    serde_json::from_str(body)
        .map_err(|e| ServiceError::internal(format!("not an event envelope: {e}")))
}

/// Handles every message of a batch concurrently and reports the ones that failed.
pub async fn each_event<F, Fut>(
    worker: &'static str,
    batch: SqsEvent,
    handle: F,
) -> SqsBatchResponse
where
    F: Fn(EventEnvelope) -> Fut,
    Fut: Future<Output = Result<(), ServiceError>>,
{
    let outcomes = futures::future::join_all(batch.records.iter().map(|m| {
        let event = envelope(m);
        let handle = &handle;
        async move { handle(event?).await }
    }))
    .await;
    let mut response = SqsBatchResponse::default();
    for (message, outcome) in batch.records.iter().zip(outcomes) {
        if let Err(reason) = outcome {
            let id = message.message_id.clone().unwrap_or_default();
            tracing::warn!(worker, message_id = %id, %reason, "message failed; it will be retried");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}
