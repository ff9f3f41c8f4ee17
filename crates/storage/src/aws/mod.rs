//! DynamoDB index, S3 chunks and chunks in DynamoDB tables: the `storage.aws` section and clients.
//!
//! The config is always compiled (so every config file parses); the clients only with the
//! `aws` cargo feature. The factory functions exist either way: without the feature they return
//! a config error saying the backend is not compiled in.

pub mod config;
#[cfg(feature = "aws")]
pub mod dynamodb;
#[cfg(feature = "aws")]
mod rate;
#[cfg(feature = "aws")]
pub mod s3;
pub mod url;

use std::sync::Arc;

pub use config::AwsConfig;

use crate::error::StorageError;
use crate::index::IndexClient;
use crate::object::ObjectClient;
use crate::table_client::TableClient;

/// The error of a factory function when the `aws` feature is off.
#[cfg(not(feature = "aws"))]
fn not_compiled() -> StorageError {
    StorageError::Config("the aws backend is not compiled in: build with the `aws` cargo feature".to_string())
}

/// The DynamoDB index client of `config.dynamodb`.
pub async fn index_client(config: &AwsConfig) -> Result<Arc<dyn IndexClient>, StorageError> {
    #[cfg(feature = "aws")]
    {
        Ok(Arc::new(dynamodb::DynamoDbClient::connect(config).await?))
    }
    #[cfg(not(feature = "aws"))]
    {
        let _ = config;
        Err(not_compiled())
    }
}

/// The DynamoDB table client (for the table manager) of `config.dynamodb`.
pub async fn table_client(config: &AwsConfig) -> Result<Arc<dyn TableClient>, StorageError> {
    #[cfg(feature = "aws")]
    {
        Ok(Arc::new(dynamodb::DynamoDbClient::connect(config).await?))
    }
    #[cfg(not(feature = "aws"))]
    {
        let _ = config;
        Err(not_compiled())
    }
}

/// The object client keeping chunks in the DynamoDB chunk tables of `schema`
/// (`object_store: aws-dynamo`), connected as `config.dynamodb` says.
pub async fn dynamodb_chunk_client(
    config: &AwsConfig,
    schema: &crate::schema::config::SchemaConfig,
) -> Result<Arc<dyn ObjectClient>, StorageError> {
    #[cfg(feature = "aws")]
    {
        Ok(Arc::new(dynamodb::chunks::DynamoDbChunkClient::connect(config, schema.clone()).await?))
    }
    #[cfg(not(feature = "aws"))]
    {
        let _ = (config, schema);
        Err(not_compiled())
    }
}

/// The S3 object client of `config` (`s3`, `bucketnames`, `endpoint`, …).
pub async fn object_client(config: &AwsConfig) -> Result<Arc<dyn ObjectClient>, StorageError> {
    #[cfg(feature = "aws")]
    {
        Ok(Arc::new(s3::S3ObjectClient::new(config)?))
    }
    #[cfg(not(feature = "aws"))]
    {
        let _ = config;
        Err(not_compiled())
    }
}
