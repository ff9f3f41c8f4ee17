//! The shape of the store's in-process caches of decoded state (opened objects, kept lookups,
//! decoded timestamps): bounded by an estimate of the bytes each entry holds, least recently
//! used first, and switched off entirely by a capacity of 0.

use std::hash::Hash;

/// A byte-bounded in-process cache; `None` inside when its capacity is 0.
#[derive(Clone)]
pub(crate) struct ByteCache<K, V> {
    cache: Option<moka::future::Cache<K, V>>,
}

impl<K, V> std::fmt::Debug for ByteCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ByteCache").field("enabled", &self.cache.is_some()).finish()
    }
}

impl<K, V> ByteCache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A cache of at most `bytes`, as `weigh` estimates an entry (nothing at all for 0).
    pub(crate) fn new(bytes: u64, weigh: impl Fn(&K, &V) -> usize + Send + Sync + 'static) -> Self {
        let cache = (bytes > 0).then(|| {
            moka::future::Cache::builder()
                .max_capacity(bytes)
                .weigher(move |key: &K, value: &V| u32::try_from(weigh(key, value)).unwrap_or(u32::MAX))
                .build()
        });
        Self { cache }
    }

    /// Whether it keeps anything.
    pub(crate) fn enabled(&self) -> bool {
        self.cache.is_some()
    }

    /// The entry of `key`, if kept.
    pub(crate) async fn get(&self, key: &K) -> Option<V> {
        self.cache.as_ref()?.get(key).await
    }

    /// Keeps `value` under `key` (nothing when disabled).
    pub(crate) async fn insert(&self, key: K, value: V) {
        if let Some(cache) = &self.cache {
            cache.insert(key, value).await;
        }
    }

    /// Entries held once pending evictions have run (for tests of the bound).
    #[cfg(test)]
    pub(crate) async fn settled_entry_count(&self) -> u64 {
        match &self.cache {
            Some(cache) => {
                cache.run_pending_tasks().await;
                cache.entry_count()
            }
            None => 0,
        }
    }
}
