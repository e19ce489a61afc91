use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_sdk_sqs::config::SharedCredentialsProvider;
use aws_smithy_http_client::{Builder, tls};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// Loads region, credentials and endpoint overrides from the environment once per instance.
pub async fn load_sdk_config() -> SdkConfig {
    sdk_config_loader().load().await
}

/// A function's SDK configuration, from what Lambda puts in its environment: the region (`AWS_REGION`),
/// the execution role's credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`)
/// and, locally, the emulator (`AWS_ENDPOINT_URL`); and the retry settings an operator may give a
/// function as the SDK's loader would read them (`AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`). Timeouts and the
/// identity cache are the SDK's defaults for this behaviour version, as the clients set them. A retry
/// setting that is not valid is an error, so the function fails its init saying which.
///
/// Not the SDK's loader: its default chain (profile files, SSO, web identity through STS, ECS, IMDS)
/// serves hosts that are not Lambda, reads files on every cold start and is 0.3 MB of every artifact
/// (docs/adr/0023-four-artifacts-by-kind-of-work.md). The local tools keep the loader.
pub fn lambda_sdk_config() -> Result<SdkConfig, String> {
    lambda_sdk_config_from(|name| std::env::var(name).ok())
}

fn lambda_sdk_config_from(lookup: impl Fn(&str) -> Option<String>) -> Result<SdkConfig, String> {
    let variable = |name| lookup(name).filter(|v: &String| !v.is_empty());
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(
            variable("AWS_REGION")
                .or_else(|| variable("AWS_DEFAULT_REGION"))
                .map(Region::new),
        )
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .http_client(http_client());
    if let Some(endpoint) = variable("AWS_ENDPOINT_URL") {
        config = config.endpoint_url(endpoint);
    }
    let mode = variable("AWS_RETRY_MODE");
    let attempts = variable("AWS_MAX_ATTEMPTS");
    if mode.is_some() || attempts.is_some() {
        let mut retry = match mode.as_deref() {
            None | Some("standard") | Some("legacy") => RetryConfig::standard(),
            Some("adaptive") => RetryConfig::adaptive(),
            Some(other) => {
                return Err(format!(
                    "AWS_RETRY_MODE={other}: expected standard, legacy or adaptive"
                ));
            }
        };
        if let Some(attempts) = attempts {
            let attempts = attempts
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| {
                    format!("AWS_MAX_ATTEMPTS={attempts}: expected a whole number, 1 or more")
                })?;
            retry = retry.with_max_attempts(attempts);
        }
        config = config.retry_config(retry);
    }
    Ok(config.build())
}

/// The SDK's defaults with Orderly's HTTP client; for callers that add their own overrides (the local
/// tools' region and endpoint).
pub fn sdk_config_loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client())
}

/// The SDK's own hyper client on rustls with ring, which keeps aws-lc out of the build (ADR 0022).
///
/// The SDK builds a client's TLS configuration, reading every trust anchor the system has, as soon as a
/// service client is created, so that the first request does not pay for it. In a Lambda that is the
/// cold start, and it is paid for every client the instance creates whether it sends a request or not
/// (half of a REST function's init, ADR 0020). Wrapped, the configuration is built on the first request
/// that needs it instead.
pub(crate) fn http_client() -> SharedHttpClient {
    let inner = Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    SharedHttpClient::new(OnFirstRequest(inner))
}

#[derive(Debug)]
struct OnFirstRequest(SharedHttpClient);

impl HttpClient for OnFirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// An S3 client; path-style addressing when an endpoint override is set, since emulators on 127.0.0.1
/// cannot serve `bucket.host` virtual-hosted names.
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Makes ring rustls's process-wide crypto provider, for the clients that take that default (reqwest,
/// built without a provider of its own: ADR 0022). Call it before building one; later calls do nothing.
pub fn use_ring_for_tls() {
    // Fails only when a provider is installed already, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::retry::RetryMode;

    fn from(pairs: &[(&str, &str)]) -> Result<SdkConfig, String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        lambda_sdk_config_from(move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn retry_settings_are_read_as_the_sdk_loader_reads_them() {
        let untouched = from(&[("AWS_REGION", "eu-west-1")]).unwrap();
        assert_eq!(untouched.region().unwrap().as_ref(), "eu-west-1");
        assert!(
            untouched.retry_config().is_none(),
            "the clients' own defaults"
        );
        let tuned = from(&[("AWS_MAX_ATTEMPTS", "7"), ("AWS_RETRY_MODE", "adaptive")]).unwrap();
        let retry = tuned.retry_config().unwrap();
        assert_eq!(
            (retry.max_attempts(), retry.mode()),
            (7, RetryMode::Adaptive)
        );
        let attempts_only = from(&[("AWS_MAX_ATTEMPTS", "2")]).unwrap();
        let retry = attempts_only.retry_config().unwrap();
        assert_eq!(
            (retry.max_attempts(), retry.mode()),
            (2, RetryMode::Standard)
        );
    }

    #[test]
    fn a_retry_setting_that_is_not_valid_fails_saying_which() {
        for (name, value) in [
            ("AWS_MAX_ATTEMPTS", "0"),
            ("AWS_MAX_ATTEMPTS", "many"),
            ("AWS_RETRY_MODE", "eager"),
        ] {
            let error = from(&[(name, value)]).unwrap_err();
            assert!(error.starts_with(&format!("{name}={value}")), "{error}");
        }
    }
}
