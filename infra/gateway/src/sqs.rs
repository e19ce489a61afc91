//! SQS event source mappings: long-polls each mapped queue, hands the batch to the function as an
//! `SqsEvent`, and deletes only what succeeded. With `ReportBatchItemFailures` the function's
//! `batchItemFailures` stay on the queue; a failed invocation keeps the whole batch. Either way the
//! queue's visibility timeout and redrive policy decide redelivery and the DLQ, as in AWS.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use base64::Engine;
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::Gateway;
use crate::invoke::{BatchOutcome, new_request_id, outcome_name};
use crate::template::SqsMapping;

fn record(message: &Message, queue_arn: &str, region: &str) -> Value {
    let attributes: Map<String, Value> = message
        .attributes()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.as_str().to_owned(), json!(v)))
        .collect();
    let message_attributes: Map<String, Value> = message
        .message_attributes()
        .into_iter()
        .flatten()
        .map(|(name, value)| {
            let binary = value
                .binary_value()
                .map(|b| base64::engine::general_purpose::STANDARD.encode(b.as_ref()));
            (
                name.clone(),
                json!({
                    "stringValue": value.string_value(),
                    "binaryValue": binary,
                    "stringListValues": value.string_list_values(),
                    "binaryListValues": [],
                    "dataType": value.data_type(),
                }),
            )
        })
        .collect();
    json!({
        "messageId": message.message_id(),
        "receiptHandle": message.receipt_handle(),
        "body": message.body(),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.md5_of_body(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    })
}

/// Which messages of a batch to delete, given the function's answer. `None`: delete nothing.
pub fn succeeded<'a>(
    messages: &'a [Message],
    response: &Value,
    report_failures: bool,
) -> Option<Vec<&'a Message>> {
    if !report_failures {
        return Some(messages.iter().collect());
    }
    let failures = match response.get("batchItemFailures") {
        None | Some(Value::Null) => return Some(messages.iter().collect()),
        Some(Value::Array(failures)) => failures,
        Some(_) => return None,
    };
    let mut failed = Vec::new();
    for failure in failures {
        // As in AWS: an empty or unknown identifier fails the whole batch.
        let id = failure.get("itemIdentifier").and_then(Value::as_str)?;
        if !messages.iter().any(|m| m.message_id() == Some(id)) {
            return None;
        }
        failed.push(id);
    }
    Some(
        messages
            .iter()
            .filter(|m| !m.message_id().is_some_and(|id| failed.contains(&id)))
            .collect(),
    )
}

/// How many pollers a mapping runs: Lambda's event source starts five and adds more while batches come
/// back full, up to `ScalingConfig.MaximumConcurrency` (and the function's reserved concurrency); here
/// also up to a local cap (`ORDERLY_SQS_MAX_POLLERS`, default 5), because every invocation shares this
/// machine's cores. A poller whose receive comes back empty retires while more than `start` run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scaling {
    pub start: usize,
    pub max: usize,
}

/// Lambda's starting pollers for an SQS event source.
const LAMBDA_START_POLLERS: usize = 5;

impl Scaling {
    pub fn of(mapping: &SqsMapping, reserved: Option<u32>, local_cap: usize) -> Self {
        let max = [mapping.maximum_concurrency, reserved]
            .into_iter()
            .flatten()
            .map(|n| n as usize)
            .fold(local_cap, usize::min)
            .max(1);
        Self {
            start: LAMBDA_START_POLLERS.min(max),
            max,
        }
    }

    /// What a poller does after a batch of `received` messages (of `wanted`), `deleted` of them handled,
    /// with `active` pollers: only a full batch that went through asks for another poller (a failing
    /// function is not scaled out, as Lambda does not).
    fn after_batch(self, active: usize, received: usize, deleted: usize, wanted: usize) -> Step {
        if received >= wanted && deleted == received && active < self.max {
            Step::Grow
        } else if received == 0 && active > self.start {
            Step::Retire
        } else {
            Step::Stay
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Step {
    Grow,
    Stay,
    Retire,
}

/// One mapping's queue, function and settings, shared by its pollers.
struct Source {
    gateway: Arc<Gateway>,
    mapping: SqsMapping,
    sqs: aws_sdk_sqs::Client,
    url: String,
    arn: String,
    wait_seconds: i32,
    scaling: Scaling,
    active: AtomicUsize,
}

pub async fn poll(
    gateway: Arc<Gateway>,
    mapping: SqsMapping,
    sqs: aws_sdk_sqs::Client,
    wait_seconds: i32,
    scaling: Scaling,
    cancel: CancellationToken,
) {
    let physical = &gateway.resolver.physical[&mapping.queue];
    let (url, arn) = (
        physical.reference.clone(),
        physical.attributes.get("Arn").cloned().unwrap_or_default(),
    );
    tracing::info!(queue = %mapping.queue, function = %mapping.function, batch_size = mapping.batch_size, pollers = ?scaling, "polling");
    let source = Arc::new(Source {
        gateway,
        mapping,
        sqs,
        url,
        arn,
        wait_seconds,
        scaling,
        active: AtomicUsize::new(0),
    });
    let (grow, mut grow_requests) = mpsc::channel::<()>(1);
    let mut pollers = JoinSet::new();
    let spawn = |pollers: &mut JoinSet<()>| {
        source.active.fetch_add(1, Ordering::SeqCst);
        pollers.spawn(poller(source.clone(), grow.clone(), cancel.clone()));
    };
    for _ in 0..scaling.start {
        spawn(&mut pollers);
    }
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            Some(()) = grow_requests.recv() => {
                if source.active.load(Ordering::SeqCst) < scaling.max {
                    spawn(&mut pollers);
                }
            }
            Some(_) = pollers.join_next() => {}
        }
    }
    while pollers.join_next().await.is_some() {}
}

/// Receives up to the mapping's batch size: one receive, or, with a batching window, receives from the
/// first message on until the batch is full or the window has passed (SQS hands out at most 10 a receive).
async fn receive_batch(source: &Source) -> Result<Vec<Message>, String> {
    let wanted = source.mapping.batch_size.max(1) as usize;
    let window = Duration::from_secs(u64::from(source.mapping.batching_window_seconds));
    let mut batch = Vec::new();
    let mut deadline = None;
    loop {
        let left = deadline.map(|d: tokio::time::Instant| {
            d.saturating_duration_since(tokio::time::Instant::now())
        });
        let wait = match left {
            None => source.wait_seconds,
            Some(left) => (left.as_secs() as i32).min(source.wait_seconds),
        };
        let received = source
            .sqs
            .receive_message()
            .queue_url(&source.url)
            .max_number_of_messages((wanted - batch.len()).clamp(1, 10) as i32)
            .wait_time_seconds(wait)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?
            .messages
            .unwrap_or_default();
        let got_some = !received.is_empty();
        batch.extend(received);
        if batch.is_empty() || batch.len() >= wanted || window.is_zero() {
            return Ok(batch);
        }
        let deadline = *deadline.get_or_insert_with(|| tokio::time::Instant::now() + window);
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(batch);
        }
        if !got_some && wait == 0 {
            // Under a second of window left and nothing more yet: look again shortly, not in a spin.
            tokio::time::sleep((deadline - now).min(Duration::from_millis(100))).await;
        }
    }
}

async fn poller(source: Arc<Source>, grow: mpsc::Sender<()>, cancel: CancellationToken) {
    let mapping = &source.mapping;
    let wanted = (mapping.batch_size.max(1) as usize).min(10);
    let mut backoff = Duration::ZERO;
    loop {
        let messages = tokio::select! {
            _ = cancel.cancelled() => return,
            received = async {
                switched_on(&source.gateway.event_sources_off, &mapping.function).await;
                receive_batch(&source).await
            } => match received {
                Ok(messages) => messages,
                Err(e) => {
                    tracing::warn!(queue = %mapping.queue, error = %e, "receive failed; retrying");
                    tokio::select! { _ = cancel.cancelled() => return, _ = tokio::time::sleep(Duration::from_secs(1)) => continue }
                }
            },
        };
        let deleted = if messages.is_empty() {
            0
        } else {
            handle_batch(&source, &messages).await
        };
        let active = source.active.load(Ordering::SeqCst);
        match source
            .scaling
            .after_batch(active, messages.len(), deleted, wanted)
        {
            Step::Grow => {
                let _ = grow.try_send(());
            }
            Step::Retire => {
                // Only one of several idle pollers may retire on the same count.
                if source
                    .active
                    .compare_exchange(active, active - 1, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    return;
                }
            }
            Step::Stay => {}
        }
        // As Lambda's pollers do when invocations fail: back off (100 ms, doubling to 2 s) instead of
        // spinning on messages that keep failing, e.g. while the database is down.
        if !messages.is_empty() && deleted == 0 {
            backoff = (backoff * 2).clamp(MIN_BACKOFF, MAX_BACKOFF);
            tokio::select! { _ = cancel.cancelled() => return, _ = tokio::time::sleep(backoff) => {} }
        } else {
            backoff = Duration::ZERO;
        }
    }
}

/// Returns once `function`'s event source is on: at once, unless the control API switched it off.
async fn switched_on(off: &watch::Sender<BTreeSet<String>>, function: &str) {
    // The sender lives as long as the gateway, which outlives its pollers.
    let _ = off
        .subscribe()
        .wait_for(|off| !off.contains(function))
        .await;
}

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Invokes the function with one batch and deletes what it did not report failed; returns how many.
async fn handle_batch(source: &Source, messages: &[Message]) -> usize {
    let (gateway, mapping) = (&source.gateway, &source.mapping);
    let event = json!({ "Records": messages.iter().map(|m| record(m, &source.arn, &gateway.region)).collect::<Vec<_>>() });
    let request_id = new_request_id();
    let started = std::time::Instant::now();
    let result = gateway
        .invoker
        .invoke_as_service(&mapping.function, event, &request_id)
        .await;
    let took_ms = started.elapsed().as_millis() as u64;
    let to_delete = result
        .as_ref()
        .ok()
        .and_then(|r| succeeded(messages, r, mapping.report_batch_item_failures))
        .unwrap_or_default();
    let outcome = BatchOutcome {
        size: messages.len(),
        failed: messages.len() - to_delete.len(),
        message_ids: messages
            .iter()
            .filter_map(|m| m.message_id().map(str::to_owned))
            .collect(),
    };
    tracing::debug!(function = %mapping.function, size = outcome.size, failed = outcome.failed, took_ms, "batch handled");
    gateway.invoker.record(
        &mapping.function,
        &request_id,
        outcome_name(&result),
        Some(outcome),
    );
    let handled = to_delete.len();
    // The control API's redelivery fault: some handled messages stay, and come back after their
    // visibility timeout, as SQS's at-least-once delivery allows.
    let to_delete: Vec<_> = to_delete
        .into_iter()
        .filter(|_| !gateway.redeliver())
        .collect();
    if to_delete.is_empty() {
        return handled;
    }
    // SQS deletes at most 10 a call; a gathered batch may hold more.
    for chunk in to_delete.chunks(10) {
        let entries = chunk.iter().enumerate().map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .build()
                .expect("id and receipt handle are set")
        });
        match source
            .sqs
            .delete_message_batch()
            .queue_url(&source.url)
            .set_entries(Some(entries.collect()))
            .send()
            .await
        {
            Ok(output) => {
                // SQS refuses entries one by one inside a successful call: those come back too.
                for failed in output.failed() {
                    tracing::warn!(queue = %mapping.queue, code = failed.code(), message = failed.message(), "a delete was refused; that message will be redelivered");
                }
            }
            Err(e) => {
                tracing::warn!(queue = %mapping.queue, error = %aws_sdk_sqs::error::DisplayErrorContext(e), "delete failed; messages will be redelivered");
            }
        }
    }
    handled
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_switched_off_event_source_waits_until_switched_on_and_others_do_not_wait() {
        use futures::FutureExt;
        let off = watch::Sender::new(BTreeSet::from(["PaymentFunction".to_owned()]));
        assert!(
            switched_on(&off, "ReportFunction").now_or_never().is_some(),
            "another function's source is on"
        );
        let waiting = tokio::spawn({
            let off = off.clone();
            async move { switched_on(&off, "PaymentFunction").await }
        });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!waiting.is_finished(), "an off source does not receive");
        off.send_modify(|off| {
            off.remove("PaymentFunction");
        });
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("switched on, it goes on")
            .unwrap();
    }

    fn messages() -> Vec<Message> {
        ["a", "b", "c"]
            .iter()
            .map(|id| {
                Message::builder()
                    .message_id(*id)
                    .receipt_handle(format!("rh-{id}"))
                    .build()
            })
            .collect()
    }

    fn ids(kept: Option<Vec<&Message>>) -> Option<Vec<&str>> {
        kept.map(|k| k.iter().filter_map(|m| m.message_id()).collect())
    }

    #[test]
    fn deletes_all_but_the_reported_failures() {
        let m = messages();
        let response = json!({"batchItemFailures": [{"itemIdentifier": "b"}]});
        assert_eq!(ids(succeeded(&m, &response, true)), Some(vec!["a", "c"]));
        assert_eq!(
            ids(succeeded(&m, &json!({"batchItemFailures": []}), true)),
            Some(vec!["a", "b", "c"])
        );
        assert_eq!(
            ids(succeeded(&m, &json!(null), true)),
            Some(vec!["a", "b", "c"])
        );
    }

    #[test]
    fn an_unknown_or_empty_identifier_fails_the_whole_batch() {
        let m = messages();
        assert_eq!(
            ids(succeeded(
                &m,
                &json!({"batchItemFailures": [{"itemIdentifier": "zzz"}]}),
                true
            )),
            None
        );
        assert_eq!(
            ids(succeeded(
                &m,
                &json!({"batchItemFailures": [{"itemIdentifier": null}]}),
                true
            )),
            None
        );
        assert_eq!(
            ids(succeeded(&m, &json!({"batchItemFailures": "nope"}), true)),
            None
        );
    }

    fn mapping(maximum_concurrency: Option<u32>) -> SqsMapping {
        SqsMapping {
            function: "F".into(),
            queue: "Q".into(),
            batch_size: 10,
            report_batch_item_failures: true,
            batching_window_seconds: 0,
            maximum_concurrency,
        }
    }

    #[test]
    fn pollers_start_at_lambdas_five_within_every_bound() {
        let scaling = |max, reserved, cap| Scaling::of(&mapping(max), reserved, cap);
        assert_eq!(scaling(None, None, 5), Scaling { start: 5, max: 5 });
        assert_eq!(scaling(None, None, 8), Scaling { start: 5, max: 8 });
        assert_eq!(scaling(Some(2), None, 8), Scaling { start: 2, max: 2 });
        assert_eq!(scaling(Some(6), Some(3), 8), Scaling { start: 3, max: 3 });
        assert_eq!(
            scaling(None, Some(0), 8),
            Scaling { start: 1, max: 1 },
            "never none"
        );
    }

    #[test]
    fn full_batches_add_pollers_and_empty_receives_retire_the_extra_ones() {
        let scaling = Scaling { start: 2, max: 4 };
        assert_eq!(scaling.after_batch(2, 10, 10, 10), Step::Grow);
        assert_eq!(
            scaling.after_batch(2, 10, 9, 10),
            Step::Stay,
            "failures do not scale out"
        );
        assert_eq!(
            scaling.after_batch(4, 10, 10, 10),
            Step::Stay,
            "at the bound"
        );
        assert_eq!(
            scaling.after_batch(3, 4, 4, 10),
            Step::Stay,
            "one poller keeps up"
        );
        assert_eq!(scaling.after_batch(3, 0, 0, 10), Step::Retire);
        assert_eq!(
            scaling.after_batch(2, 0, 0, 10),
            Step::Stay,
            "the starting pollers stay"
        );
    }

    #[test]
    fn without_report_batch_item_failures_success_deletes_everything() {
        let m = messages();
        let response = json!({"batchItemFailures": [{"itemIdentifier": "b"}]});
        assert_eq!(
            ids(succeeded(&m, &response, false)),
            Some(vec!["a", "b", "c"])
        );
    }
}
