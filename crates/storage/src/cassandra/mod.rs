//! Cassandra index and chunks (experimental): the `storage.cassandra` section and clients.
//!
//! The config and the CQL statements are always compiled (so every config file parses and the
//! statements are tested); the clients only with the `cassandra` cargo feature. No Cassandra
//! server runs in our tests, so the backend stays experimental until it has run against one.

#[cfg(feature = "cassandra")]
pub mod client;
pub mod config;
pub mod cql;

use std::sync::Arc;

pub use config::CassandraConfig;

use crate::error::StorageError;
use crate::index::IndexClient;
use crate::object::ObjectClient;
use crate::table_client::TableClient;

/// The error of a factory function when the `cassandra` feature is off.
#[cfg(not(feature = "cassandra"))]
fn not_compiled() -> StorageError {
    StorageError::Config(
        "the cassandra backend is not compiled in: build with the `cassandra` cargo feature".to_string(),
    )
}

/// The Cassandra index client of `config`.
pub async fn index_client(config: &CassandraConfig) -> Result<Arc<dyn IndexClient>, StorageError> {
    #[cfg(feature = "cassandra")]
    {
        Ok(Arc::new(client::CassandraClient::connect(config).await?))
    }
    #[cfg(not(feature = "cassandra"))]
    {
        let _ = config;
        Err(not_compiled())
    }
}

/// The Cassandra table client (for the table manager) of `config`.
pub async fn table_client(config: &CassandraConfig) -> Result<Arc<dyn TableClient>, StorageError> {
    #[cfg(feature = "cassandra")]
    {
        Ok(Arc::new(client::CassandraClient::connect(config).await?))
    }
    #[cfg(not(feature = "cassandra"))]
    {
        let _ = config;
        Err(not_compiled())
    }
}

/// The Cassandra object client (chunks in the `chunks` table) of `config`.
pub async fn object_client(config: &CassandraConfig) -> Result<Arc<dyn ObjectClient>, StorageError> {
    #[cfg(feature = "cassandra")]
    {
        Ok(Arc::new(client::CassandraClient::connect(config).await?))
    }
    #[cfg(not(feature = "cassandra"))]
    {
        let _ = config;
        Err(not_compiled())
    }
}
