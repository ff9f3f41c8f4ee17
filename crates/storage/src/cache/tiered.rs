//! Tiers of caches, fastest first (in-process in front of memcached): stores go to every tier;
//! a fetch asks each tier for what the previous ones missed, and copies what a slower tier found
//! into the faster ones.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::cache::{Cache, Fetched};

/// Several caches used as one.
pub struct TieredCache {
    tiers: Vec<Arc<dyn Cache>>,
}

impl TieredCache {
    /// Tiers in lookup order (fastest first).
    pub fn new(tiers: Vec<Arc<dyn Cache>>) -> Self {
        Self { tiers }
    }
}

#[async_trait]
impl Cache for TieredCache {
    async fn store(&self, entries: Vec<(String, Bytes)>) {
        let Some((last, rest)) = self.tiers.split_last() else { return };
        for tier in rest {
            tier.store(entries.clone()).await;
        }
        last.store(entries).await;
    }

    /// Only when every tier is: a slower tier's hits are copied into the faster ones unchecked.
    fn in_process(&self) -> bool {
        self.tiers.iter().all(|tier| tier.in_process())
    }

    async fn fetch(&self, keys: &[String]) -> Fetched {
        let mut found: HashMap<String, Bytes> = HashMap::new();
        let mut missing: Vec<String> = keys.to_vec();
        for (depth, tier) in self.tiers.iter().enumerate() {
            if missing.is_empty() {
                break;
            }
            let fetched = tier.fetch(&missing).await;
            if depth > 0 && !fetched.found.is_empty() {
                for faster in &self.tiers[..depth] {
                    faster.store(fetched.found.clone()).await;
                }
            }
            found.extend(fetched.found);
            missing = fetched.missing;
        }
        let mut result = Fetched::default();
        for key in keys {
            match found.get(key) {
                Some(value) => result.found.push((key.clone(), value.clone())),
                None => result.missing.push(key.clone()),
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::memory::{MemoryCache, MemoryCacheLimits};
    use crate::cache::metrics::CacheMetrics;

    fn memory() -> Arc<MemoryCache> {
        let limits = MemoryCacheLimits { max_bytes: 1 << 20, max_items: 0, ttl: None };
        Arc::new(MemoryCache::new("t", limits, &CacheMetrics::unregistered()))
    }

    #[tokio::test]
    async fn lower_tier_hits_fill_the_upper_tier() {
        let (fast, slow) = (memory(), memory());
        let tiered = TieredCache::new(vec![fast.clone(), slow.clone()]);
        slow.store(vec![("a".into(), Bytes::from_static(b"1"))]).await;
        tiered.store(vec![("b".into(), Bytes::from_static(b"2"))]).await;
        let keys: Vec<String> = ["a", "b", "c"].iter().map(|k| k.to_string()).collect();
        let fetched = tiered.fetch(&keys).await;
        assert_eq!(fetched.found.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(fetched.missing, ["c"]);
        assert_eq!(fast.fetch(&keys).await.found.len(), 2, "a copied into the fast tier, b stored in both");
    }
}
