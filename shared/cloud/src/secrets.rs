use aws_config::SdkConfig;
use serde_json::{Map, Value};

use crate::CloudError;
use crate::lazy::LazyClient;

/// Secrets Manager, read once per instance at cold start: secrets never sit in a function's
/// configuration (where the console, `GetFunctionConfiguration` and every deploy log would show them).
#[derive(Clone, Debug)]
pub struct SecretsManager {
    client: LazyClient<aws_sdk_secretsmanager::Client>,
}

impl SecretsManager {
    pub fn new(sdk: &SdkConfig) -> Self {
        Self {
            client: LazyClient::new(sdk, aws_sdk_secretsmanager::Client::new),
        }
    }

    /// The secret's current value, which must be a JSON object (every Orderly secret is).
    pub async fn json(&self, secret_id: &str) -> Result<Map<String, Value>, CloudError> {
        let output = self
            .client
            .get()
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| CloudError::from_sdk("secretsmanager:GetSecretValue", e))?;
        let text = output.secret_string().ok_or_else(|| CloudError {
            operation: "secretsmanager:GetSecretValue",
            message: format!("{secret_id} has no string value"),
        })?;
        match serde_json::from_str(text) {
            Ok(Value::Object(fields)) => Ok(fields),
            // Never echo the value: it is a secret even when malformed.
            _ => Err(CloudError {
                operation: "secretsmanager:GetSecretValue",
                message: format!("{secret_id} is not a JSON object"),
            }),
        }
    }
}
