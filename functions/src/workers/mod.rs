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
use std::sync::Arc;

use futures::future::BoxFuture;

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

/// A batch's messages split into the events that could be read (with their message ids) and the ids of
/// those that could not, which fail.
struct Readable {
    ids: Vec<String>,
    events: Vec<EventEnvelope>,
    failed: Vec<String>,
}

fn readable(worker: &'static str, batch: &SqsEvent) -> Readable {
    let mut split = Readable {
        ids: Vec::new(),
        events: Vec::new(),
        failed: Vec::new(),
    };
    for message in &batch.records {
        let id = message.message_id.clone().unwrap_or_default();
        match envelope(message) {
            Ok(event) => {
                split.ids.push(id);
                split.events.push(event);
            }
            Err(reason) => {
                tracing::warn!(worker, message_id = %id, %reason, "message failed; it will be retried");
                split.failed.push(id);
            }
        }
    }
    split
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
    each_event_after(
        worker,
        batch,
        |_| Box::pin(async { Ok(()) }),
        |event, _| handle(event),
    )
    .await
}

/// Looks up what the whole batch needs once (`prepare`, over the events of its readable messages), then
/// handles every message concurrently with it and reports the ones that failed. When `prepare` fails,
/// every readable message fails with it and comes back; an unreadable message fails alone.
pub async fn each_event_after<T, P, F, Fut>(
    worker: &'static str,
    batch: SqsEvent,
    prepare: P,
    handle: F,
) -> SqsBatchResponse
where
    P: for<'e> FnOnce(&'e [EventEnvelope]) -> BoxFuture<'e, Result<T, ServiceError>>,
    F: Fn(EventEnvelope, Arc<T>) -> Fut,
    Fut: Future<Output = Result<(), ServiceError>>,
{
    let Readable {
        ids,
        events,
        mut failed,
    } = readable(worker, &batch);
    let shared = match prepare(&events).await {
        Ok(shared) => Arc::new(shared),
        Err(reason) => {
            tracing::warn!(worker, messages = ids.len(), %reason, "batch failed; its messages will be retried");
            failed.extend(ids);
            return batch_item_failures(failed);
        }
    };
    let outcomes = futures::future::join_all(
        events
            .into_iter()
            .map(|event| handle(event, shared.clone())),
    )
    .await;
    for (id, outcome) in ids.into_iter().zip(outcomes) {
        if let Err(reason) = outcome {
            tracing::warn!(worker, message_id = %id, %reason, "message failed; it will be retried");
            failed.push(id);
        }
    }
    batch_item_failures(failed)
}

/// The response that has SQS redeliver these messages (by message id) and delete the rest.
pub(crate) fn batch_item_failures(message_ids: Vec<String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = message_ids
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

/// Handles the readable messages of a batch together (one transaction for all of them, say): when that
/// fails, each of them is reported failed and comes back; an unreadable message fails alone.
pub async fn whole_batch<F, Fut>(
    worker: &'static str,
    batch: SqsEvent,
    handle: F,
) -> SqsBatchResponse
where
    F: FnOnce(Vec<EventEnvelope>) -> Fut,
    Fut: Future<Output = Result<(), ServiceError>>,
{
    let Readable {
        ids,
        events,
        mut failed,
    } = readable(worker, &batch);
    if let Err(reason) = handle(events).await {
        tracing::warn!(worker, messages = ids.len(), %reason, "batch failed; its messages will be retried");
        failed.extend(ids);
    }
    batch_item_failures(failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::sqs::SqsMessage;
    use orderly_domain::events::{Event, InventoryChanged};

    fn batch() -> SqsEvent {
        let readable = EventEnvelope {
            event_id: uuid::Uuid::now_v7(),
            occurred_at: chrono::Utc::now(),
            correlation_id: None,
            event: Event::InventoryChanged(InventoryChanged {
                product_ids: vec![uuid::Uuid::now_v7()],
            }),
        };
        let message = |id: &str, body: String| {
            let mut m = SqsMessage::default();
            m.message_id = Some(id.to_owned());
            m.body = Some(body);
            m
        };
        let mut batch = SqsEvent::default();
        batch.records = vec![
            message("readable", serde_json::to_string(&readable).unwrap()),
            message("garbage", "{not json".to_owned()),
        ];
        batch
    }

    fn failed(response: &SqsBatchResponse) -> Vec<&str> {
        response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    #[tokio::test]
    async fn what_a_batch_looks_up_once_fails_every_readable_message_if_it_fails() {
        let looked_up = each_event_after(
            "test",
            batch(),
            |events| Box::pin(async move { Ok(events.len()) }),
            |_, readable| async move {
                match *readable {
                    1 => Err(ServiceError::internal("this push failed")),
                    _ => Ok(()),
                }
            },
        )
        .await;
        assert_eq!(
            failed(&looked_up),
            ["garbage", "readable"],
            "the handler saw what prepare found (one readable event) and failed its own message"
        );

        let not_looked_up = each_event_after(
            "test",
            batch(),
            |_| Box::pin(async { Err::<(), _>(ServiceError::internal("the database is down")) }),
            |_, _| async { panic!("nothing is handled without what the batch needs") },
        )
        .await;
        assert_eq!(failed(&not_looked_up), ["garbage", "readable"]);

        let handled = each_event("test", batch(), |_| async { Ok(()) }).await;
        assert_eq!(
            failed(&handled),
            ["garbage"],
            "each_event is the same, looking up nothing"
        );
    }

    #[tokio::test]
    async fn a_whole_batch_fails_together_and_an_unreadable_message_alone() {
        let handled = std::sync::Mutex::new(0);
        let handled_ref = &handled;
        let ok = whole_batch("test", batch(), |events| async move {
            *handled_ref.lock().unwrap() = events.len();
            Ok(())
        })
        .await;
        assert_eq!(failed(&ok), ["garbage"]);
        assert_eq!(
            *handled.lock().unwrap(),
            1,
            "only the readable one is handled"
        );

        let failing = whole_batch("test", batch(), |_| async {
            Err(ServiceError::internal("the database is down"))
        })
        .await;
        assert_eq!(failed(&failing), ["garbage", "readable"]);
    }
}
