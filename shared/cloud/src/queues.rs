use aws_config::SdkConfig;
use aws_sdk_sqs::types::QueueAttributeName;

use crate::CloudError;
use crate::lazy::LazyClient;

#[derive(Clone, Debug)]
pub struct SqsQueues {
    client: LazyClient<aws_sdk_sqs::Client>,
}

impl SqsQueues {
    pub fn new(sdk: &SdkConfig) -> Self {
        Self {
            client: LazyClient::new(sdk, aws_sdk_sqs::Client::new),
        }
    }

    /// Proves the queue exists and we may read its attributes (what the health check needs, no more).
    pub async fn probe(&self, queue_url: &str) -> Result<(), CloudError> {
        self.client
            .get()
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| CloudError::from_sdk("sqs:GetQueueAttributes", e))?;
        Ok(())
    }

    /// Sends `body` to the queue, to be received no earlier than `delay_seconds` (0–900) from now.
    pub async fn send_later(
        &self,
        queue_url: &str,
        body: String,
        delay_seconds: i32,
    ) -> Result<(), CloudError> {
        self.client
            .get()
            .send_message()
            .queue_url(queue_url)
            .message_body(body)
            .delay_seconds(delay_seconds)
            .send()
            .await
            .map_err(|e| CloudError::from_sdk("sqs:SendMessage", e))?;
        Ok(())
    }
}
