//! The AWS services Orderly talks to, behind small ports. The same code runs against AWS, LocalStack and
//! moto: `aws-config` reads `AWS_ENDPOINT_URL` (and the per-service variants) from the environment.

mod connections;
mod error;
mod lazy;
mod queues;
mod sdk;
mod secrets;
mod storage;
mod topic;

pub use connections::{ApiGatewayConnections, ConnectionPusher, PushError};
pub use error::CloudError;
pub use queues::SqsQueues;
pub use sdk::{lambda_sdk_config, load_sdk_config, s3_client, sdk_config_loader, use_ring_for_tls};
pub use secrets::SecretsManager;
pub use storage::{MIN_PART_BYTES, S3Bucket, Upload};
pub use topic::{
    EventPublisher, OutgoingEvent, PUBLISH_BATCH_MAX, PUBLISH_BATCH_MAX_BYTES, SnsTopic,
    publish_batches,
};
