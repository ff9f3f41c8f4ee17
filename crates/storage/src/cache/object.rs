//! The chunk cache as an [`ObjectClient`] wrapper: `get` looks in the cache first and fills it
//! on a miss; `put` writes through (the object store first, then the cache), so freshly flushed
//! chunks are cached. A chunk object from a cache outside the process (memcached) whose CRC-32C
//! disagrees with its key is counted in `cortex_cache_corrupt_chunks_total` and read from the
//! store instead; the in-process cache holds what was stored in it, and the store checks every
//! object it opens anyway. Chunk objects are
//! immutable and their keys carry their checksum, so entries never go stale; `delete` only
//! removes the object (the index rows pointing at it go with it).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::cache::metrics::CacheMetrics;
use crate::cache::Cache;
use crate::chunk_key::ChunkRef;
use crate::error::StorageError;
use crate::object::ObjectClient;
use crate::object_format;

/// An object client with a chunk cache in front.
pub struct CachingObjectClient {
    inner: Arc<dyn ObjectClient>,
    cache: Arc<dyn Cache>,
    name: String,
    metrics: CacheMetrics,
}

impl CachingObjectClient {
    /// Caches the objects of `inner` in `cache` (`name` labels the corrupt-chunk counter).
    pub fn new(
        inner: Arc<dyn ObjectClient>,
        cache: Arc<dyn Cache>,
        name: &str,
        metrics: CacheMetrics,
    ) -> Self {
        Self { inner, cache, name: name.to_string(), metrics }
    }

    /// Whether a cache hit may be served: hits from outside the process must match the checksum
    /// their key names (a mismatch is counted and logged, and the store read instead); the
    /// in-process cache holds what was stored in it.
    fn usable_hit(&self, key: &str, data: &Bytes) -> bool {
        if self.cache.in_process() || intact(key, data) {
            return true;
        }
        self.metrics.count_corrupt_chunk(&self.name);
        tracing::warn!(cache = %self.name, key, "cached chunk fails its checksum; reading the store");
        false
    }
}

/// Whether `data` is intact for `key`: for chunk keys (`<user>/<fp>:<from>:<through>:<crc>`)
/// its checksum must match; other keys carry nothing to check.
fn intact(key: &str, data: &[u8]) -> bool {
    let Some((user, _)) = key.split_once('/') else { return true };
    match ChunkRef::parse(user, key) {
        Ok(chunk) => object_format::checksum(data) == chunk.checksum,
        Err(_) => true,
    }
}

#[async_trait]
impl ObjectClient for CachingObjectClient {
    async fn put(&self, key: &str, data: Bytes) -> Result<(), StorageError> {
        self.inner.put(key, data.clone()).await?;
        self.cache.store(vec![(key.to_string(), data)]).await;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        let fetched = self.cache.fetch(&[key.to_string()]).await;
        if let Some((_, data)) = fetched.found.into_iter().next() {
            if self.usable_hit(key, &data) {
                return Ok(data);
            }
        }
        let data = self.inner.get(key).await?;
        self.cache.store(vec![(key.to_string(), data.clone())]).await;
        Ok(data)
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.inner.delete(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.inner.list(prefix).await
    }

    async fn put_many(&self, objects: Vec<(String, Bytes)>, concurrency: usize) -> Result<(), StorageError> {
        self.inner.put_many(objects.clone(), concurrency).await?;
        self.cache.store(objects).await;
        Ok(())
    }

    /// One cache lookup for every key, then one batch from the store for those missing.
    async fn get_many(&self, keys: &[String], concurrency: usize) -> Result<Vec<Bytes>, StorageError> {
        let fetched = self.cache.fetch(keys).await;
        // Hits come in the order of the keys asked, so they are matched up in one pass.
        let mut hits = fetched.found.into_iter().peekable();
        let mut found: Vec<Option<Bytes>> = Vec::with_capacity(keys.len());
        for key in keys {
            let hit = hits.next_if(|(hit, _)| hit == key).map(|(_, data)| data);
            found.push(hit.filter(|data| self.usable_hit(key, data)));
        }
        let mut asked = HashSet::new();
        let missing: Vec<String> = keys
            .iter()
            .zip(&found)
            .filter(|(key, data)| data.is_none() && asked.insert(key.as_str()))
            .map(|(key, _)| key.clone())
            .collect();
        if !missing.is_empty() {
            let data = self.inner.get_many(&missing, concurrency).await?;
            let fresh: HashMap<&str, &Bytes> = missing.iter().map(String::as_str).zip(&data).collect();
            for (key, slot) in keys.iter().zip(found.iter_mut()) {
                if slot.is_none() {
                    *slot = fresh.get(key.as_str()).map(|data| (*data).clone());
                }
            }
            self.cache.store(missing.iter().cloned().zip(data.iter().cloned()).collect()).await;
        }
        keys.iter()
            .zip(found)
            .map(|(key, data)| data.ok_or_else(|| StorageError::NotFound(key.clone())))
            .collect()
    }

    async fn delete_chunks_before(&self, through_before_ms: i64) -> Result<Option<usize>, StorageError> {
        self.inner.delete_chunks_before(through_before_ms).await
    }

    fn table_client(self: Arc<Self>) -> Option<Arc<dyn crate::table_client::TableClient>> {
        Arc::clone(&self.inner).table_client()
    }
}
