use aws_config::SdkConfig;

use crate::{CloudError, s3_client};

#[derive(Clone, Debug)]
pub struct S3Bucket {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Bucket {
    pub fn new(sdk: &SdkConfig, bucket: impl Into<String>) -> Self {
        Self {
            client: s3_client(sdk),
            bucket: bucket.into(),
        }
    }

    pub fn name(&self) -> &str {
        &self.bucket
    }

    /// Proves the bucket exists and is reachable with our credentials.
    pub async fn probe(&self) -> Result<(), CloudError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| CloudError::from_sdk("s3:HeadBucket", e))?;
        Ok(())
    }
}
