use std::future::Future;

use aws_config::SdkConfig;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};

use crate::CloudError;
use crate::lazy::LazyClient;

/// SNS takes at most this many messages in one `PublishBatch`.
pub const PUBLISH_BATCH_MAX: usize = 10;
/// ... and at most this many bytes, every message's body and attributes together (the topic's default
/// `MaximumMessageSize`; more is refused whole with `BatchRequestTooLong`). Ten events of a
/// 1,000-recipient send are about 1 MB.
pub const PUBLISH_BATCH_MAX_BYTES: usize = 262_144;

/// One event for `publish_batch`.
#[derive(Debug, Clone, Copy)]
pub struct OutgoingEvent<'a> {
    pub event_type: &'a str,
    pub body: &'a str,
    pub correlation_id: Option<&'a str>,
}

impl OutgoingEvent<'_> {
    /// What the event counts towards `PUBLISH_BATCH_MAX_BYTES`: its body, and each attribute's name,
    /// data type and value.
    pub fn size(&self) -> usize {
        let attribute = |name: &str, value: &str| name.len() + "String".len() + value.len();
        self.body.len()
            + attribute("event_type", self.event_type)
            + self
                .correlation_id
                .map_or(0, |id| attribute("correlation_id", id))
    }
}

/// Cuts `events`, in order, into the runs SNS takes in one `PublishBatch` each: at most
/// `PUBLISH_BATCH_MAX` events and `PUBLISH_BATCH_MAX_BYTES`. An event over the byte limit on its own
/// goes alone (SNS refuses it, and says why).
pub fn publish_batches<'e, 'a>(events: &'e [OutgoingEvent<'a>]) -> Vec<&'e [OutgoingEvent<'a>]> {
    let mut batches = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, event) in events.iter().enumerate() {
        let size = event.size();
        if i > start && (i - start == PUBLISH_BATCH_MAX || bytes + size > PUBLISH_BATCH_MAX_BYTES) {
            batches.push(&events[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < events.len() {
        batches.push(&events[start..]);
    }
    batches
}

/// Publishes domain events to the `order-events` topic. Subscriptions filter on the `event_type`
/// attribute; the correlation id travels as an attribute so every consumer can log it.
pub trait EventPublisher: Send + Sync {
    fn publish(
        &self,
        event_type: &str,
        body: &str,
        correlation_id: Option<&str>,
    ) -> impl Future<Output = Result<String, CloudError>> + Send;

    /// Publishes one of `publish_batches`' runs in one call. `Err` when the call failed as a whole;
    /// otherwise one outcome per event, in order (SNS accepts or refuses each entry on its own).
    fn publish_batch(
        &self,
        events: &[OutgoingEvent<'_>],
    ) -> impl Future<Output = Result<Vec<Result<(), String>>, CloudError>> + Send;
}

#[derive(Clone, Debug)]
pub struct SnsTopic {
    client: LazyClient<aws_sdk_sns::Client>,
    topic_arn: String,
}

impl SnsTopic {
    pub fn new(sdk: &SdkConfig, topic_arn: impl Into<String>) -> Self {
        Self {
            client: LazyClient::new(sdk, aws_sdk_sns::Client::new),
            topic_arn: topic_arn.into(),
        }
    }
}

fn string_attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .expect("type and value are set")
}

impl EventPublisher for SnsTopic {
    async fn publish(
        &self,
        event_type: &str,
        body: &str,
        correlation_id: Option<&str>,
    ) -> Result<String, CloudError> {
        let mut request = self
            .client
            .get()
            .publish()
            .topic_arn(&self.topic_arn)
            .message(body)
            .message_attributes("event_type", string_attribute(event_type));
        if let Some(id) = correlation_id {
            request = request.message_attributes("correlation_id", string_attribute(id));
        }
        let output = request
            .send()
            .await
            .map_err(|e| CloudError::from_sdk("sns:Publish", e))?;
        Ok(output.message_id.unwrap_or_default())
    }

    async fn publish_batch(
        &self,
        events: &[OutgoingEvent<'_>],
    ) -> Result<Vec<Result<(), String>>, CloudError> {
        assert!(
            events.len() <= PUBLISH_BATCH_MAX,
            "at most {PUBLISH_BATCH_MAX} events a batch"
        );
        debug_assert!(
            events.len() == 1
                || events.iter().map(OutgoingEvent::size).sum::<usize>() <= PUBLISH_BATCH_MAX_BYTES,
            "at most {PUBLISH_BATCH_MAX_BYTES} bytes a batch"
        );
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let entries = events.iter().enumerate().map(|(i, event)| {
            let mut entry = PublishBatchRequestEntry::builder()
                .id(i.to_string())
                .message(event.body)
                .message_attributes("event_type", string_attribute(event.event_type));
            if let Some(id) = event.correlation_id {
                entry = entry.message_attributes("correlation_id", string_attribute(id));
            }
            entry.build().expect("id and message are set")
        });
        let output = self
            .client
            .get()
            .publish_batch()
            .topic_arn(&self.topic_arn)
            .set_publish_batch_request_entries(Some(entries.collect()))
            .send()
            .await
            .map_err(|e| CloudError::from_sdk("sns:PublishBatch", e))?;
        // An entry SNS names in neither list counts as failed: publishing it again is safe (consumers
        // deduplicate by event id), losing it is not.
        let mut outcomes = vec![Err("not acknowledged by SNS".to_owned()); events.len()];
        let slot = |id: &str| id.parse::<usize>().ok().filter(|&i| i < events.len());
        for ok in output.successful.unwrap_or_default() {
            if let Some(i) = ok.id.as_deref().and_then(slot) {
                outcomes[i] = Ok(());
            }
        }
        for failed in output.failed.unwrap_or_default() {
            if let Some(i) = slot(&failed.id) {
                let message = failed.message.unwrap_or_default();
                outcomes[i] = Err(format!("{}: {message}", failed.code));
            }
        }
        Ok(outcomes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(body: &str) -> OutgoingEvent<'_> {
        OutgoingEvent {
            event_type: "notification.sent",
            body,
            correlation_id: None,
        }
    }

    fn lengths(events: &[OutgoingEvent<'_>]) -> Vec<usize> {
        publish_batches(events).iter().map(|b| b.len()).collect()
    }

    #[test]
    fn an_event_counts_its_body_and_attributes() {
        let mut e = event("{}");
        assert_eq!(
            e.size(),
            2 + "event_type".len() + 6 + "notification.sent".len()
        );
        e.correlation_id = Some("abc");
        assert_eq!(e.size(), 35 + "correlation_id".len() + 6 + 3);
    }

    #[test]
    fn small_events_go_ten_to_a_batch() {
        let events = vec![event("{}"); 23];
        assert_eq!(lengths(&events), [10, 10, 3]);
        assert!(lengths(&[]).is_empty());
    }

    #[test]
    fn large_events_go_as_many_as_fit_in_256_kib() {
        // A 1,000-recipient `notification.sent` is about 100 KB: two to a batch, not ten.
        let page = "x".repeat(100_000);
        let events = vec![event(&page); 10];
        assert_eq!(lengths(&events), [2, 2, 2, 2, 2]);
        for batch in publish_batches(&events) {
            assert!(
                batch.iter().map(OutgoingEvent::size).sum::<usize>() <= PUBLISH_BATCH_MAX_BYTES
            );
        }
        // Exactly at the limit still fits; one byte over starts a new batch.
        let overhead = event("").size();
        let half = "y".repeat(PUBLISH_BATCH_MAX_BYTES / 2 - overhead);
        assert_eq!(lengths(&[event(&half), event(&half)]), [2]);
        let more = format!("{half}z");
        assert_eq!(lengths(&[event(&half), event(&more)]), [1, 1]);
    }

    #[test]
    fn an_event_over_the_limit_goes_alone() {
        let huge = "x".repeat(PUBLISH_BATCH_MAX_BYTES + 1);
        assert_eq!(
            lengths(&[event("{}"), event(&huge), event("{}")]),
            [1, 1, 1]
        );
    }
}
