//! S3 as the chunk object store, through `object_store`'s `AmazonS3`. Object keys are the chunk
//! keys unchanged (as Cortex writes them); with several buckets (`-s3.buckets`) each key lives
//! in the bucket its FNV-1a hash picks, as in Cortex, and listings merge every bucket.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, PutPayload};

use crate::aws::config::{AwsConfig, S3Target};
use crate::error::StorageError;
use crate::object::ObjectClient;

const BACKEND: &str = "s3";

/// Chunk objects in one or more S3 buckets.
#[derive(Debug)]
pub struct S3ObjectClient {
    buckets: Vec<AmazonS3>,
}

/// Cortex's bucket choice: 32-bit FNV-1a of the key, modulo the bucket count.
fn fnv32a(key: &str) -> u32 {
    key.bytes().fold(0x811c_9dc5_u32, |hash, byte| (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193))
}

/// The endpoint of `bucket` for virtual-hosted requests to a custom endpoint:
/// `scheme://bucket.host`.
fn virtual_hosted_endpoint(endpoint: &str, bucket: &str) -> String {
    match endpoint.split_once("://") {
        Some((scheme, host)) => format!("{scheme}://{bucket}.{host}"),
        None => format!("{bucket}.{endpoint}"),
    }
}

fn s3_error(error: object_store::Error, key: &str) -> StorageError {
    match error {
        object_store::Error::NotFound { .. } => StorageError::NotFound(key.to_string()),
        other => StorageError::backend(BACKEND, other),
    }
}

/// The S3 key of a chunk key: the same text, refused if S3 paths cannot hold it.
fn object_path(key: &str) -> Result<ObjectPath, StorageError> {
    ObjectPath::parse(key).map_err(|err| StorageError::BadQuery(format!("invalid object key {key:?}: {err}")))
}

impl S3ObjectClient {
    /// A client for `storage.aws` (validated here; errors name the option).
    pub fn new(config: &AwsConfig) -> Result<Self, StorageError> {
        use neocortex_core::ConfigSection;
        config.validate().map_err(StorageError::Config)?;
        let target = config.s3_target()?;
        let options = ClientOptions::new()
            .with_allow_http(target.allow_http)
            .with_allow_invalid_certificates(config.http_config.insecure_skip_verify)
            .with_pool_idle_timeout(config.http_config.idle_conn_timeout.0)
            .with_connect_timeout(Duration::from_secs(5));
        let buckets = target
            .buckets
            .iter()
            .map(|bucket| bucket_store(&target, bucket, options.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { buckets })
    }

    fn bucket_for(&self, key: &str) -> &AmazonS3 {
        // `new` refuses configs without buckets, so the modulo is never by zero.
        let index = fnv32a(key) as usize % self.buckets.len().max(1);
        &self.buckets[index]
    }
}

fn bucket_store(target: &S3Target, bucket: &str, options: ClientOptions) -> Result<AmazonS3, StorageError> {
    let virtual_hosted = !target.force_path_style;
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_virtual_hosted_style_request(virtual_hosted)
        .with_client_options(options);
    if let Some(endpoint) = &target.endpoint {
        let endpoint =
            if virtual_hosted { virtual_hosted_endpoint(endpoint, bucket) } else { endpoint.clone() };
        builder = builder.with_endpoint(endpoint);
    }
    if !target.region.is_empty() {
        builder = builder.with_region(&target.region);
    }
    if let Some((key, secret)) = &target.credentials {
        builder = builder.with_access_key_id(key).with_secret_access_key(secret);
    }
    builder.build().map_err(|err| StorageError::Config(format!("storage.aws: S3 bucket {bucket}: {err}")))
}

#[async_trait]
impl ObjectClient for S3ObjectClient {
    async fn put(&self, key: &str, data: Bytes) -> Result<(), StorageError> {
        let path = object_path(key)?;
        self.bucket_for(key).put(&path, PutPayload::from(data)).await.map_err(|err| s3_error(err, key))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        let path = object_path(key)?;
        let result = self.bucket_for(key).get(&path).await.map_err(|err| s3_error(err, key))?;
        result.bytes().await.map_err(|err| s3_error(err, key))
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let path = object_path(key)?;
        match self.bucket_for(key).delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(s3_error(err, key)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let trimmed = prefix.trim_end_matches('/');
        let prefix_path = if trimmed.is_empty() { None } else { Some(object_path(trimmed)?) };
        let mut keys = Vec::new();
        for bucket in &self.buckets {
            let listed: Vec<String> = bucket
                .list(prefix_path.as_ref())
                .map_ok(|meta| meta.location.as_ref().to_string())
                .try_collect()
                .await
                .map_err(|err| s3_error(err, prefix))?;
            keys.extend(listed);
        }
        keys.sort();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_reference_values() {
        // FNV-1a 32-bit test vectors.
        assert_eq!(fnv32a(""), 0x811c_9dc5);
        assert_eq!(fnv32a("a"), 0xe40c_292c);
        assert_eq!(fnv32a("foobar"), 0xbf9c_f968);
    }

    #[test]
    fn endpoints_and_keys() {
        assert_eq!(virtual_hosted_endpoint("http://minio:9000", "b"), "http://b.minio:9000");
        assert!(object_path("team-a/1f:0:1:2").is_ok());
        assert!(matches!(object_path("team-a//x"), Err(StorageError::BadQuery(_))));
    }

    #[test]
    fn config_without_bucket_is_refused() {
        let error = S3ObjectClient::new(&AwsConfig::default()).unwrap_err();
        assert!(error.to_string().contains("no S3 bucket"), "{error}");
    }
}
