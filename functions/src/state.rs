use std::time::Instant;

use orderly_cloud::{ApiGatewayConnections, S3Bucket, SnsTopic, SqsQueues, load_sdk_config};
use orderly_store::Pool;

use crate::Config;
use crate::services::payment_provider::HttpPaymentProvider;

/// Everything a function needs besides its event, built once per instance (cold start) and shared by
/// every invocation that instance serves.
pub struct State {
    pub config: Config,
    pub db: Pool,
    pub queues: SqsQueues,
    pub bucket: S3Bucket,
    pub topic: SnsTopic,
    pub connections: ApiGatewayConnections,
    pub payments: Option<HttpPaymentProvider>,
    pub started: Instant,
}

impl State {
    pub async fn new(config: Config) -> Result<Self, orderly_store::StoreError> {
        let sdk = load_sdk_config().await;
        Ok(Self {
            db: orderly_store::connect(&config.database_url, config.pool)?,
            queues: SqsQueues::new(&sdk),
            bucket: S3Bucket::new(&sdk, &config.artifacts_bucket),
            topic: SnsTopic::new(&sdk, &config.order_events_topic_arn),
            connections: ApiGatewayConnections::new(&sdk, &config.websocket_management_endpoint),
            payments: config
                .payment_provider_url
                .as_deref()
                .map(HttpPaymentProvider::new),
            started: Instant::now(),
            config,
        })
    }

    /// The instance lives as long as the process, so its state does too; a `'static` reference lets
    /// handlers borrow it across `.await` without reference counting.
    pub fn leak(self) -> &'static State {
        Box::leak(Box::new(self))
    }
}
