mod signed_post;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use aws_config::SdkConfig;
use thiserror::Error;

use crate::CloudError;
use crate::lazy::LazyClient;
use signed_post::SignedPost;

#[derive(Debug, Error)]
pub enum PushError {
    /// The client has gone: forget the connection, do not retry.
    #[error("connection {0} is gone")]
    Gone(String),
    /// Anything else (throttling, an outage): worth retrying.
    #[error(transparent)]
    Failed(#[from] CloudError),
}

/// Sends to and closes WebSocket connections held by API Gateway.
pub trait ConnectionPusher: Send + Sync {
    fn push(
        &self,
        connection_id: &str,
        payload: Vec<u8>,
    ) -> impl Future<Output = Result<(), PushError>> + Send;
    fn close(&self, connection_id: &str) -> impl Future<Output = Result<(), PushError>> + Send;
}

/// The `@connections` management API of the WebSocket API. Its endpoint is the API's own URL
/// (`https://{api}.execute-api.{region}.amazonaws.com/{stage}`), so it is always set explicitly and never
/// taken from `AWS_ENDPOINT_URL`, which points at the emulator.
///
/// Posts are signed and sent by `SignedPost`, one per socket of a broadcast; closing a connection, rare,
/// goes through `aws-sdk-apigatewaymanagement` (ADR 0026).
#[derive(Clone)]
pub struct ApiGatewayConnections {
    client: LazyClient<aws_sdk_apigatewaymanagement::Client>,
    post: Arc<SignedPost>,
}

impl fmt::Debug for ApiGatewayConnections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiGatewayConnections")
            .field("endpoint", &self.post.endpoint())
            .finish_non_exhaustive()
    }
}

impl ApiGatewayConnections {
    pub fn new(sdk: &SdkConfig, endpoint: &str) -> Self {
        let post = Arc::new(SignedPost::new(sdk, endpoint));
        let endpoint = endpoint.to_owned();
        let make = move |sdk: &SdkConfig| {
            let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
                .endpoint_url(&endpoint)
                .build();
            aws_sdk_apigatewaymanagement::Client::from_conf(config)
        };
        Self {
            client: LazyClient::new(sdk, make),
            post,
        }
    }
}

impl ConnectionPusher for ApiGatewayConnections {
    async fn push(&self, connection_id: &str, payload: Vec<u8>) -> Result<(), PushError> {
        self.post.post(connection_id, payload).await
    }

    async fn close(&self, connection_id: &str) -> Result<(), PushError> {
        match self
            .client
            .get()
            .delete_connection()
            .connection_id(connection_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_gone_exception()) => {
                Err(PushError::Gone(connection_id.to_owned()))
            }
            Err(e) => Err(CloudError::from_sdk("execute-api:DeleteConnection", e).into()),
        }
    }
}
