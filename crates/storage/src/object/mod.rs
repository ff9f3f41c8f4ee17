//! The object client: put, get, delete and list of chunk objects by key. Backends: `memory`
//! (tests), `filesystem` (the local default, through `object_store`'s `LocalFileSystem`) and
//! `cloud` (Azure Blob, through `object_store`); GCS lives in `gcp::gcs`.

#[cfg(feature = "azure")]
pub mod cloud;
pub mod conformance;
#[cfg(feature = "local")]
pub mod filesystem;
pub mod memory;

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::StorageError;

/// A store of immutable objects addressed by `/`-separated keys.
///
/// Contract (checked by [`conformance::run_object_client_suite`]):
/// - `get` of a missing key fails with `StorageError::NotFound`; `delete` of one succeeds;
/// - `put` of an existing key replaces it;
/// - `list(prefix)` returns, sorted, every key under the `/`-delimited path `prefix` (all keys
///   for an empty prefix), exactly as they were put.
#[async_trait]
pub trait ObjectClient: Send + Sync {
    /// Stores `data` under `key`.
    async fn put(&self, key: &str, data: Bytes) -> Result<(), StorageError>;

    /// The object stored under `key`.
    async fn get(&self, key: &str) -> Result<Bytes, StorageError>;

    /// Removes the object under `key`.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;

    /// Keys under the path `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError>;
}

/// Whether `key` lies under the `/`-delimited path `prefix`.
pub(crate) fn key_under_prefix(key: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return true;
    }
    key.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
}
