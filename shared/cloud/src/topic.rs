use std::future::Future;

use aws_config::SdkConfig;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};

use crate::CloudError;
use crate::lazy::LazyClient;

/// SNS takes at most this many messages in one `PublishBatch`.
pub const PUBLISH_BATCH_MAX: usize = 10;

/// One event for `publish_batch`.
#[derive(Debug, Clone, Copy)]
pub struct OutgoingEvent<'a> {
    pub event_type: &'a str,
    pub body: &'a str,
    pub correlation_id: Option<&'a str>,
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

    /// Publishes up to `PUBLISH_BATCH_MAX` events in one call. `Err` when the call failed as a whole;
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
