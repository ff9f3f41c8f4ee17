//! The object client: put, get, delete and list of chunk objects by key. Backends: `memory`
//! (tests), `filesystem` (the local default, through `object_store`'s `LocalFileSystem`) and
//! `cloud` (Azure Blob, through `object_store`); GCS lives in `gcp::gcs`, S3 in `aws::s3`, and
//! the table-based stores (chunks as rows of the schema's chunk tables) in
//! `aws::dynamodb::chunks` and `gcp::bigtable_chunks`.

#[cfg(feature = "azure")]
pub mod cloud;
pub mod conformance;
#[cfg(feature = "local")]
pub mod filesystem;
pub mod memory;
pub mod tables;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{FuturesOrdered, FuturesUnordered};
use futures::{StreamExt, TryStreamExt};

use crate::error::StorageError;
use crate::table_client::TableClient;

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

    /// Stores every `(key, data)` pair, at most `concurrency` requests in flight. Backends
    /// with batch writes (DynamoDB's BatchWriteItem, Bigtable's MutateRows) override it; the
    /// default puts one object at a time.
    async fn put_many(&self, objects: Vec<(String, Bytes)>, concurrency: usize) -> Result<(), StorageError> {
        let mut writes = FuturesUnordered::new();
        for (key, data) in &objects {
            if writes.len() >= concurrency.max(1) {
                writes.next().await.transpose()?;
            }
            writes.push(self.put(key, data.clone()));
        }
        while writes.next().await.transpose()?.is_some() {}
        Ok(())
    }

    /// The objects under `keys`, in the same order, at most `concurrency` requests in flight;
    /// a missing one fails the call with `StorageError::NotFound`. Backends with batch reads
    /// (DynamoDB's BatchGetItem, Bigtable's multi-row ReadRows) override it.
    async fn get_many(&self, keys: &[String], concurrency: usize) -> Result<Vec<Bytes>, StorageError> {
        let mut objects = Vec::with_capacity(keys.len());
        let mut reads = FuturesOrdered::new();
        for key in keys {
            if reads.len() >= concurrency.max(1) {
                objects.extend(reads.next().await.transpose()?);
            }
            reads.push_back(self.get(key));
        }
        while let Some(data) = reads.next().await.transpose()? {
            objects.push(data);
        }
        Ok(objects)
    }

    /// Deletes every chunk object (key `<user>/<fingerprint>:<from>:<through>:<checksum>`)
    /// whose last sample is before `through_before_ms`, for the table manager's retention, and
    /// returns how many it deleted; `None` when the store leaves expiry to something else (a
    /// bucket's lifecycle rule for S3, GCS and Azure; dropped tables for table-based stores).
    async fn delete_chunks_before(&self, through_before_ms: i64) -> Result<Option<usize>, StorageError> {
        let _ = through_before_ms;
        Ok(None)
    }

    /// The table client of a store that keeps chunks in periodic tables, so the table
    /// manager can create and delete the chunk tables even when the index lives elsewhere.
    fn table_client(self: Arc<Self>) -> Option<Arc<dyn TableClient>> {
        None
    }
}

/// Deletes, by listing every key, the chunk objects (and timestamps objects, keyed alike) whose
/// last sample is before `through_before_ms`: `delete_chunks_before` for stores that keep
/// every chunk in one place with no expiry of their own (the filesystem, Cassandra's chunks
/// table). Keys that are not chunk keys are left alone.
pub(crate) async fn delete_listed_chunks_before(
    client: &(impl ObjectClient + ?Sized),
    through_before_ms: i64,
) -> Result<usize, StorageError> {
    let expired: Vec<String> = client
        .list("")
        .await?
        .into_iter()
        .filter(|key| {
            let Some((user, _)) = key.split_once('/') else { return false };
            crate::chunk_key::ChunkRef::parse(user, key)
                .is_ok_and(|chunk| chunk.through_ms < through_before_ms)
        })
        .collect();
    let deleted = expired.len();
    futures::stream::iter(expired)
        .map(|key| async move { client.delete(&key).await })
        .buffer_unordered(DELETE_CONCURRENCY)
        .try_collect::<()>()
        .await?;
    Ok(deleted)
}

/// Objects deleted at once by [`delete_listed_chunks_before`].
const DELETE_CONCURRENCY: usize = 16;

/// The object under `key` through `get_many`, for clients that read in batches and answer a
/// single `get` as a batch of one.
pub(crate) async fn get_one(client: &(impl ObjectClient + ?Sized), key: &str) -> Result<Bytes, StorageError> {
    let mut objects = client.get_many(&[key.to_string()], 1).await?;
    objects.pop().ok_or_else(|| StorageError::NotFound(key.to_string()))
}

/// Whether `key` lies under the `/`-delimited path `prefix`.
pub(crate) fn key_under_prefix(key: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return true;
    }
    key.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
}
