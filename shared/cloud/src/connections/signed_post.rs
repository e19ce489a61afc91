//! `PostToConnection` as the SDK sends it (the same path, SigV4 with the same settings, the same retry
//! rule), without the SDK's per-call orchestration, which costs three times the signed request itself
//! (docs/adr/0026-signed-posts-to-connections.md). A broadcast makes one of these per socket.

use std::sync::{OnceLock, RwLock};
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::PushError;
use crate::CloudError;

const OPERATION: &str = "execute-api:PostToConnection";
/// The signing name of the management API.
const SERVICE: &str = "execute-api";
/// How the SDK escapes a path label: everything but RFC 3986's unreserved characters.
const LABEL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// Credentials this close to their expiry are fetched again (the SDK's identity cache uses 5 minutes).
const REFRESH_BEFORE: Duration = Duration::from_secs(300);
/// The SDK's default connect timeout for this behaviour version.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3_100);
/// A post is at most 128 KB to a gateway in the same region: one slower than this is a failed attempt.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) struct SignedPost {
    /// The API's management endpoint, without a trailing slash.
    endpoint: String,
    region: Option<String>,
    credentials: Option<SharedCredentialsProvider>,
    retry: RetryConfig,
    identity: RwLock<Option<Identity>>,
    /// Made on the first post: building a client reads the system's trust anchors, which a cold start
    /// of a function that never pushes should not pay for (ADR 0022).
    client: OnceLock<reqwest::Client>,
}

/// What one attempt came to.
enum Attempt {
    Posted,
    Gone,
    Failed { error: CloudError, retryable: bool },
}

impl SignedPost {
    pub(super) fn new(sdk: &SdkConfig, endpoint: &str) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            region: sdk.region().map(|r| r.to_string()),
            credentials: sdk.credentials_provider(),
            // The SDK's default when none is configured: standard, three attempts.
            retry: sdk
                .retry_config()
                .cloned()
                .unwrap_or_else(RetryConfig::standard),
            identity: RwLock::new(None),
            client: OnceLock::new(),
        }
    }

    pub(super) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Posts `payload` to the connection, retrying what the SDK's standard retry would (throttling,
    /// 5xx, a failed connection) as often as the configuration allows, with its jittered backoff.
    pub(super) async fn post(
        &self,
        connection_id: &str,
        payload: Vec<u8>,
    ) -> Result<(), PushError> {
        let url = connection_url(&self.endpoint, connection_id);
        let body = Bytes::from(payload);
        let mut attempt = 1;
        loop {
            match self.attempt(&url, &body).await {
                Attempt::Posted => return Ok(()),
                Attempt::Gone => return Err(PushError::Gone(connection_id.to_owned())),
                Attempt::Failed { error, retryable } => {
                    if !retryable || attempt >= self.retry.max_attempts() {
                        return Err(PushError::Failed(error));
                    }
                    tokio::time::sleep(backoff(&self.retry, attempt)).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn attempt(&self, url: &str, body: &Bytes) -> Attempt {
        let failed = |message: String, retryable| Attempt::Failed {
            error: CloudError {
                operation: OPERATION,
                message,
            },
            retryable,
        };
        let Some(region) = self.region.as_deref() else {
            // As the SDK would: a signature needs the region (Lambda always sets `AWS_REGION`).
            return failed("no region is configured to sign with".into(), false);
        };
        let identity = match self.identity().await {
            Ok(identity) => identity,
            Err(error) => return failed(error.message, false),
        };
        let headers = match signature_headers(&identity, region, url, body, SystemTime::now()) {
            Ok(headers) => headers,
            Err(e) => return failed(format!("signing: {e}"), false),
        };
        let mut request = self.client().post(url).body(body.clone());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return failed(format!("{e}"), true),
        };
        let status = response.status();
        if status.is_success() {
            return Attempt::Posted;
        }
        if status.as_u16() == 410 {
            return Attempt::Gone;
        }
        let error_type = response
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(':').next().unwrap_or(v).to_owned())
            .unwrap_or_default();
        let text = response.text().await.unwrap_or_default();
        let retryable = matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504);
        failed(
            format!("HTTP {status} {error_type}: {}", text.trim()),
            retryable,
        )
    }

    fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            crate::use_ring_for_tls();
            reqwest::Client::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(ATTEMPT_TIMEOUT)
                .build()
                .expect("an HTTP client")
        })
    }

    /// The function's credentials, fetched once and again when they near their expiry.
    async fn identity(&self) -> Result<Identity, CloudError> {
        let cached = self.identity.read().expect("not poisoned").clone();
        if let Some(identity) = cached.filter(fresh) {
            return Ok(identity);
        }
        let provider = self.credentials.as_ref().ok_or_else(|| CloudError {
            operation: OPERATION,
            message: "no credentials provider is configured".into(),
        })?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| CloudError::from_sdk(OPERATION, e))?;
        let identity = Identity::from(credentials);
        *self.identity.write().expect("not poisoned") = Some(identity.clone());
        Ok(identity)
    }
}

fn fresh(identity: &Identity) -> bool {
    identity
        .expiration()
        .is_none_or(|at| at > SystemTime::now() + REFRESH_BEFORE)
}

/// `{endpoint}/@connections/{id}`, the id escaped as the SDK escapes a label.
fn connection_url(endpoint: &str, connection_id: &str) -> String {
    format!(
        "{endpoint}/@connections/{}",
        utf8_percent_encode(connection_id, LABEL)
    )
}

/// The headers that sign a `POST` of `body` to `url` at `now`: `x-amz-date`, `authorization` and, with
/// temporary credentials, `x-amz-security-token`. The settings are the SDK's for this service (double
/// URI encoding, normalised path, no payload-hash header).
fn signature_headers(
    identity: &Identity,
    region: &str,
    url: &str,
    body: &[u8],
    now: SystemTime,
) -> Result<Vec<(&'static str, String)>, String> {
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region(region)
        .name(SERVICE)
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let request = SignableRequest::new("POST", url, std::iter::empty(), SignableBody::Bytes(body))
        .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(request, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    let (headers, _) = instructions.into_parts();
    Ok(headers
        .into_iter()
        .map(|h| (h.name(), h.value().to_owned()))
        .collect())
}

/// The SDK's standard backoff: up to `initial × 2^(attempt-1)`, at most `max`, scaled by a random
/// fraction so that throttled callers do not come back together.
fn backoff(retry: &RetryConfig, attempt: u32) -> Duration {
    let ceiling = retry
        .initial_backoff()
        .saturating_mul(2u32.saturating_pow(attempt - 1))
        .min(retry.max_backoff());
    ceiling.mul_f64(rand::random::<f64>())
}

#[cfg(test)]
mod tests;
