//! SQS event source mappings: long-polls each mapped queue, hands the batch to the function as an
//! `SqsEvent`, and deletes only what succeeded. With `ReportBatchItemFailures` the function's
//! `batchItemFailures` stay on the queue; a failed invocation keeps the whole batch. Either way the
//! queue's visibility timeout and redrive policy decide redelivery and the DLQ, as in AWS.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use base64::Engine;
use serde_json::{Map, Value, json};
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

pub async fn poll(
    gateway: Arc<Gateway>,
    mapping: SqsMapping,
    sqs: aws_sdk_sqs::Client,
    wait_seconds: i32,
    cancel: CancellationToken,
) {
    let physical = &gateway.resolver.physical[&mapping.queue];
    let (url, arn) = (
        physical.reference.clone(),
        physical.attributes.get("Arn").cloned().unwrap_or_default(),
    );
    tracing::info!(queue = %mapping.queue, function = %mapping.function, batch_size = mapping.batch_size, "polling");
    loop {
        let receive = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(mapping.batch_size.clamp(1, 10))
            .wait_time_seconds(wait_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send();
        let messages = tokio::select! {
            _ = cancel.cancelled() => return,
            received = receive => match received {
                Ok(output) => output.messages.unwrap_or_default(),
                Err(e) => {
                    tracing::warn!(queue = %mapping.queue, error = %aws_sdk_sqs::error::DisplayErrorContext(e), "receive failed; retrying");
                    tokio::select! { _ = cancel.cancelled() => return, _ = tokio::time::sleep(Duration::from_secs(1)) => continue }
                }
            },
        };
        if messages.is_empty() {
            continue;
        }
        let event = json!({ "Records": messages.iter().map(|m| record(m, &arn, &gateway.region)).collect::<Vec<_>>() });
        let request_id = new_request_id();
        let result = gateway
            .invoker
            .invoke(&mapping.function, event, &request_id)
            .await;
        let to_delete = result
            .as_ref()
            .ok()
            .and_then(|r| succeeded(&messages, r, mapping.report_batch_item_failures))
            .unwrap_or_default();
        let outcome = BatchOutcome {
            size: messages.len(),
            failed: messages.len() - to_delete.len(),
        };
        gateway.invoker.record(
            &mapping.function,
            &request_id,
            outcome_name(&result),
            Some(outcome),
        );
        if to_delete.is_empty() {
            continue;
        }
        let entries = to_delete.iter().enumerate().map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .build()
                .expect("id and receipt handle are set")
        });
        if let Err(e) = sqs
            .delete_message_batch()
            .queue_url(&url)
            .set_entries(Some(entries.collect()))
            .send()
            .await
        {
            tracing::warn!(queue = %mapping.queue, error = %aws_sdk_sqs::error::DisplayErrorContext(e), "delete failed; messages will be redelivered");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
