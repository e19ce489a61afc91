use aws_config::{BehaviorVersion, SdkConfig};

/// Loads region, credentials and endpoint overrides from the environment once per instance.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// An S3 client; path-style addressing when an endpoint override is set, since emulators on 127.0.0.1
/// cannot serve `bucket.host` virtual-hosted names.
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}
