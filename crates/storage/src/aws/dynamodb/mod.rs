//! DynamoDB as the index store, with Cortex's table layout: hash key `h` (string), range key `r`
//! (binary), value `c` (binary, absent when empty). One client serves both the
//! [`IndexClient`](crate::IndexClient) (`index.rs`) and the
//! [`TableClient`](crate::table_client::TableClient) (`tables.rs`); `chunks.rs` keeps chunk
//! objects in the chunk tables (`object_store: aws-dynamo`).

pub mod chunks;
mod index;
mod tables;

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::TableStatus;
use aws_sdk_dynamodb::Client;

use crate::aws::config::{AwsConfig, DynamoDbConfig, DynamoDbTarget};
use crate::aws::rate::RateLimiter;
use crate::aws::url::Target;
use crate::error::StorageError;

/// Hash key attribute.
pub const HASH_KEY: &str = "h";
/// Range key attribute.
pub const RANGE_KEY: &str = "r";
/// Value attribute.
pub const VALUE_KEY: &str = "c";

/// Most items one BatchWriteItem request may carry.
pub const MAX_WRITE_BATCH: usize = 25;

/// BatchWriteItem requests in flight at once for one `batch_write`.
const WRITE_CONCURRENCY: usize = 8;
/// Query requests in flight at once for one `query`.
const QUERY_CONCURRENCY: usize = 16;
/// How long a new table may take to become ACTIVE.
const TABLE_ACTIVE_TIMEOUT: Duration = Duration::from_secs(120);

const BACKEND: &str = "dynamodb";

/// A DynamoDB client with Cortex's retry and rate-limit settings.
#[derive(Clone)]
pub struct DynamoDbClient {
    client: Client,
    config: DynamoDbConfig,
    api_limiter: Arc<RateLimiter>,
    throttle_limiter: Arc<RateLimiter>,
}

impl std::fmt::Debug for DynamoDbClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoDbClient").field("url", &redacted(&self.config.dynamodb_url)).finish()
    }
}

/// The URL with any secret replaced, for logs and debug output.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

impl DynamoDbClient {
    /// Connects as `storage.aws.dynamodb` says (validated here; errors name the option).
    pub async fn connect(config: &AwsConfig) -> Result<Self, StorageError> {
        use neocortex_core::ConfigSection;
        config.validate().map_err(StorageError::Config)?;
        let target = config.dynamodb_target()?;
        let client = sdk_client(&target).await;
        Ok(Self {
            client,
            config: config.dynamodb.clone(),
            api_limiter: Arc::new(RateLimiter::new(config.dynamodb.api_limit, 1)),
            throttle_limiter: Arc::new(RateLimiter::new(
                config.dynamodb.throttle_limit,
                MAX_WRITE_BATCH as u32,
            )),
        })
    }

    /// The SDK client, for callers that need an operation this type does not wrap.
    pub fn sdk(&self) -> &Client {
        &self.client
    }

    /// Waits until `name` is ACTIVE (new tables start CREATING).
    async fn wait_active(&self, name: &str) -> Result<(), StorageError> {
        let deadline = tokio::time::Instant::now() + TABLE_ACTIVE_TIMEOUT;
        let mut pause = Duration::from_millis(50);
        loop {
            let output = self.client.describe_table().table_name(name).send().await;
            match output {
                Ok(output) if output.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) => {
                    return Ok(())
                }
                Ok(_) => {}
                Err(err) if error_code(&err) == Some(RESOURCE_NOT_FOUND) => {}
                Err(err) => return Err(sdk_error(err)),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StorageError::backend(
                    BACKEND,
                    format!("table {name} not ACTIVE after {TABLE_ACTIVE_TIMEOUT:?}"),
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }
}

/// The SDK client for `target`: static credentials when given, the default chain otherwise;
/// bounded connect and attempt timeouts so an unreachable endpoint fails instead of hanging.
async fn sdk_client(target: &DynamoDbTarget) -> Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(30))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(5));
    match &target.target {
        Target::Endpoint { url, region } => {
            loader = loader.endpoint_url(url).region(Region::new(region.clone()));
        }
        Target::Region(region) => loader = loader.region(Region::new(region.clone())),
    }
    if let Some((key, secret)) = &target.credentials {
        loader =
            loader.credentials_provider(Credentials::new(key, secret, None, None, "storage.aws.dynamodb"));
    }
    Client::new(&loader.load().await)
}

const RESOURCE_NOT_FOUND: &str = "ResourceNotFoundException";
const RESOURCE_IN_USE: &str = "ResourceInUseException";

/// The AWS error code of a failed call (`ResourceNotFoundException`, …).
fn error_code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    error.code()
}

/// A failed call as a backend error carrying the whole error chain.
fn sdk_error<E, R>(error: SdkError<E, R>) -> StorageError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StorageError::backend(BACKEND, DisplayErrorContext(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(redacted("http://key:secret@127.0.0.1:1"), "http://***@127.0.0.1:1");
        assert_eq!(redacted("dynamodb://us-east-1"), "dynamodb://us-east-1");
    }
}
