use aws_sdk_sqs::error::DisplayErrorContext;
use thiserror::Error;

#[derive(Debug, Error)]
#[error("{operation} failed: {message}")]
pub struct CloudError {
    pub operation: &'static str,
    pub message: String,
}

impl CloudError {
    /// Keeps the whole error chain: the SDK's top-level message alone is often just "service error".
    pub fn from_sdk<E: std::error::Error>(operation: &'static str, error: E) -> Self {
        Self {
            operation,
            message: DisplayErrorContext(error).to_string(),
        }
    }
}
