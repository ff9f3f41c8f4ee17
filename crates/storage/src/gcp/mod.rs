//! Bigtable index (Cortex's `gcp-columnkey` layout), chunks in Bigtable tables and GCS chunks: the `storage.bigtable` and
//! `storage.gcs` sections, the clients, and the factories the rest of the system calls.
//!
//! The config and the factories are always compiled (so every config file parses and callers
//! need no `cfg`); without the `gcp` cargo feature the factories return a clear error.

#[cfg(feature = "gcp")]
pub mod admin;
#[cfg(feature = "gcp")]
pub mod bigtable;
#[cfg(feature = "gcp")]
pub mod bigtable_chunks;
pub mod config;
#[cfg(feature = "gcp")]
pub mod gcs;

use std::sync::Arc;

pub use config::{BigtableConfig, GcsConfig};

use crate::error::StorageError;
use crate::index::IndexClient;
use crate::object::ObjectClient;
use crate::table_client::TableClient;

#[cfg(not(feature = "gcp"))]
fn not_built(what: &str) -> StorageError {
    StorageError::Config(format!("{what} needs the `gcp` cargo feature, which this build does not have"))
}

/// The Bigtable index client of `config`.
pub async fn index_client(config: &BigtableConfig) -> Result<Arc<dyn IndexClient>, StorageError> {
    #[cfg(feature = "gcp")]
    {
        Ok(Arc::new(bigtable::BigtableIndexClient::connect(config).await?))
    }
    #[cfg(not(feature = "gcp"))]
    {
        let _ = config;
        Err(not_built("the bigtable index"))
    }
}

/// The Bigtable table client of `config`, for the table manager.
pub async fn table_client(config: &BigtableConfig) -> Result<Arc<dyn TableClient>, StorageError> {
    #[cfg(feature = "gcp")]
    {
        Ok(Arc::new(bigtable::BigtableIndexClient::connect(config).await?))
    }
    #[cfg(not(feature = "gcp"))]
    {
        let _ = config;
        Err(not_built("the bigtable table client"))
    }
}

/// The object client keeping chunks in the Bigtable chunk tables of `schema`
/// (`object_store: bigtable`, `gcp`, `gcp-columnkey`, `bigtable-hashed`).
pub async fn bigtable_chunk_client(
    config: &BigtableConfig,
    schema: &crate::schema::config::SchemaConfig,
) -> Result<Arc<dyn ObjectClient>, StorageError> {
    #[cfg(feature = "gcp")]
    {
        Ok(Arc::new(bigtable_chunks::BigtableChunkClient::connect(config, schema.clone()).await?))
    }
    #[cfg(not(feature = "gcp"))]
    {
        let _ = (config, schema);
        Err(not_built("chunks in bigtable"))
    }
}

/// The GCS object client of `config`.
pub async fn object_client(config: &GcsConfig) -> Result<Arc<dyn ObjectClient>, StorageError> {
    #[cfg(feature = "gcp")]
    {
        Ok(Arc::new(gcs::GcsObjectClient::connect(config).await?))
    }
    #[cfg(not(feature = "gcp"))]
    {
        let _ = config;
        Err(not_built("the gcs object store"))
    }
}
