use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use crate::lazy::LazyClient;
use crate::{CloudError, s3_client};

/// S3's smallest part of a multipart upload, except the last.
pub const MIN_PART_BYTES: usize = 5 * 1024 * 1024;

/// An upload being written part by part, so a large file never sits whole in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub key: String,
    pub upload_id: String,
    parts: Vec<(i32, String)>,
}

#[derive(Clone, Debug)]
pub struct S3Bucket {
    client: LazyClient<aws_sdk_s3::Client>,
    bucket: String,
}

impl S3Bucket {
    pub fn new(sdk: &SdkConfig, bucket: impl Into<String>) -> Self {
        Self {
            client: LazyClient::new(sdk, s3_client),
            bucket: bucket.into(),
        }
    }

    pub fn name(&self) -> &str {
        &self.bucket
    }

    /// Proves the bucket exists and is reachable with our credentials.
    pub async fn probe(&self) -> Result<(), CloudError> {
        self.client
            .get()
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| CloudError::from_sdk("s3:HeadBucket", e))?;
        Ok(())
    }

    /// Starts a multipart upload of `key` with the headers a download should carry.
    pub async fn start_upload(
        &self,
        key: &str,
        content_type: &str,
        content_disposition: &str,
    ) -> Result<Upload, CloudError> {
        let started = self
            .client
            .get()
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_disposition(content_disposition)
            .send()
            .await
            .map_err(|e| CloudError::from_sdk("s3:CreateMultipartUpload", e))?;
        let upload_id = started.upload_id().ok_or_else(|| CloudError {
            operation: "s3:CreateMultipartUpload",
            message: "no upload id in the answer".into(),
        })?;
        Ok(Upload {
            key: key.to_owned(),
            upload_id: upload_id.to_owned(),
            parts: Vec::new(),
        })
    }

    /// Sends the next part (at least `MIN_PART_BYTES`, except the last).
    pub async fn upload_part(&self, upload: &mut Upload, bytes: Vec<u8>) -> Result<(), CloudError> {
        let number = i32::try_from(upload.parts.len() + 1).expect("fewer than 10,000 parts");
        let sent = self
            .client
            .get()
            .upload_part()
            .bucket(&self.bucket)
            .key(&upload.key)
            .upload_id(&upload.upload_id)
            .part_number(number)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| CloudError::from_sdk("s3:UploadPart", e))?;
        upload
            .parts
            .push((number, sent.e_tag().unwrap_or_default().to_owned()));
        Ok(())
    }

    pub async fn complete_upload(&self, upload: Upload) -> Result<(), CloudError> {
        let parts = upload
            .parts
            .into_iter()
            .map(|(number, e_tag)| {
                CompletedPart::builder()
                    .part_number(number)
                    .e_tag(e_tag)
                    .build()
            })
            .collect();
        self.client
            .get()
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&upload.key)
            .upload_id(&upload.upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| CloudError::from_sdk("s3:CompleteMultipartUpload", e))?;
        Ok(())
    }

    /// The object's bytes, chunk by chunk (never whole in memory).
    pub async fn object_stream(
        &self,
        key: &str,
    ) -> Result<impl futures::Stream<Item = Result<Vec<u8>, CloudError>> + use<>, CloudError> {
        let body = self
            .client
            .get()
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| CloudError::from_sdk("s3:GetObject", e))?
            .body;
        Ok(futures::stream::try_unfold(body, |mut body| async move {
            match body.try_next().await {
                Ok(Some(chunk)) => Ok(Some((chunk.to_vec(), body))),
                Ok(None) => Ok(None),
                Err(e) => Err(CloudError {
                    operation: "s3:GetObject (body)",
                    message: e.to_string(),
                }),
            }
        }))
    }

    /// Reads the object back chunk by chunk; returns its size in bytes.
    pub async fn read_object(
        &self,
        key: &str,
        mut each: impl FnMut(&[u8]),
    ) -> Result<u64, CloudError> {
        use futures::TryStreamExt;
        let stream = self.object_stream(key).await?;
        futures::pin_mut!(stream);
        let mut size = 0;
        while let Some(chunk) = stream.try_next().await? {
            size += chunk.len() as u64;
            each(&chunk);
        }
        Ok(size)
    }

    /// Drops an unfinished upload and its parts (an upload S3 no longer knows is already gone).
    pub async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<(), CloudError> {
        match self
            .client
            .get()
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_upload()) => Ok(()),
            Err(e) => Err(CloudError::from_sdk("s3:AbortMultipartUpload", e)),
        }
    }

    /// A URL that lets its holder GET `key` for `valid_for`, signed with this function's credentials.
    pub async fn presigned_get(
        &self,
        key: &str,
        valid_for: Duration,
    ) -> Result<String, CloudError> {
        let config = PresigningConfig::expires_in(valid_for).map_err(|e| CloudError {
            operation: "s3:GetObject (presign)",
            message: e.to_string(),
        })?;
        let request = self
            .client
            .get()
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| CloudError::from_sdk("s3:GetObject (presign)", e))?;
        Ok(request.uri().to_owned())
    }
}
