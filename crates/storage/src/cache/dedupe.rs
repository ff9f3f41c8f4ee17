//! The write-dedupe cache (Cortex's index write cache) behind the store's [`WriteDedupe`] seam:
//! a (table, bucket, series) key found in the cache means its label rows are already in the
//! index, so they are not written again. Keys are stored only after the index write succeeded;
//! a cache outage answers "missing", which only costs idempotent rewrites.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::cache::Cache;
use crate::store::dedupe::WriteDedupe;

/// [`WriteDedupe`] backed by any [`Cache`].
pub struct CacheWriteDedupe {
    cache: Arc<dyn Cache>,
}

impl CacheWriteDedupe {
    /// Remembers written keys in `cache`.
    pub fn new(cache: Arc<dyn Cache>) -> Self {
        Self { cache }
    }
}

#[async_trait]
impl WriteDedupe for CacheWriteDedupe {
    async fn missing(&self, keys: &[String]) -> Vec<bool> {
        if keys.is_empty() {
            return Vec::new();
        }
        let fetched = self.cache.fetch(keys).await;
        let found: std::collections::HashSet<&str> =
            fetched.found.iter().map(|(key, _)| key.as_str()).collect();
        keys.iter().map(|key| !found.contains(key.as_str())).collect()
    }

    async fn store(&self, keys: &[String]) {
        if keys.is_empty() {
            return;
        }
        let entries = keys.iter().map(|key| (key.clone(), Bytes::from_static(b"1"))).collect();
        self.cache.store(entries).await;
    }
}
