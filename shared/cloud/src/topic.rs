use std::future::Future;

use aws_config::SdkConfig;
use aws_sdk_sns::types::MessageAttributeValue;

use crate::CloudError;

/// Publishes domain events to the `order-events` topic. Subscriptions filter on the `event_type`
/// attribute; the correlation id travels as an attribute so every consumer can log it.
pub trait EventPublisher: Send + Sync {
    fn publish(
        &self,
        event_type: &str,
        body: &str,
        correlation_id: Option<&str>,
    ) -> impl Future<Output = Result<String, CloudError>> + Send;
}

#[derive(Clone, Debug)]
pub struct SnsTopic {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsTopic {
    pub fn new(sdk: &SdkConfig, topic_arn: impl Into<String>) -> Self {
        Self {
            client: aws_sdk_sns::Client::new(sdk),
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
}
