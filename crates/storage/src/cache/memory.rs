//! The in-process cache (Cortex's `fifocache`): a moka cache bounded by bytes and by items, with
//! an optional time to live (the validity), evicting the least recently used entry first.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use moka::future::Cache as MokaCache;
use moka::notification::RemovalCause;
use moka::policy::EvictionPolicy;
use prometheus_client::metrics::gauge::Gauge;

use crate::cache::metrics::{CacheLabel, CacheMetrics};
use crate::cache::{Cache, Fetched};

/// Bytes counted for an entry beyond its key and value (moka's and our bookkeeping).
const ENTRY_OVERHEAD_BYTES: u64 = 64;

/// The weight scale: both bounds are expressed as shares of this capacity, so one moka capacity
/// enforces them together (each entry weighs the larger of its byte share and its item share).
const CAPACITY_UNITS: u64 = u32::MAX as u64;

/// Bounds of an in-process cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryCacheLimits {
    /// Most bytes held (keys + values + overhead); 0 for no byte bound.
    pub max_bytes: u64,
    /// Most entries held; 0 for no item bound.
    pub max_items: u64,
    /// How long an entry stays valid after it is stored; `None` for ever.
    pub ttl: Option<Duration>,
}

/// Bytes an entry is counted for.
fn entry_bytes(key: &str, value: &Bytes) -> u64 {
    key.len() as u64 + value.len() as u64 + ENTRY_OVERHEAD_BYTES
}

/// The weight of an entry of `bytes` under `limits`, in `CAPACITY_UNITS` shares, rounded up.
fn entry_weight(limits: &MemoryCacheLimits, bytes: u64) -> u32 {
    let byte_share = match limits.max_bytes {
        0 => 0,
        max => (bytes as u128 * CAPACITY_UNITS as u128).div_ceil(max as u128),
    };
    let item_share = match limits.max_items {
        0 => 0,
        max => (CAPACITY_UNITS as u128).div_ceil(max as u128),
    };
    u32::try_from(byte_share.max(item_share)).unwrap_or(u32::MAX)
}

/// The moka capacity: `CAPACITY_UNITS` plus one unit per entry that can fit, absorbing the
/// rounding up of every weight. So exactly `max_items` entries fit, and the bytes held exceed
/// `max_bytes` by at most one unit (`max_bytes / 2^32`) per entry, i.e. never in practice.
fn capacity(limits: &MemoryCacheLimits) -> u64 {
    let most_entries = match limits.max_items {
        0 => limits.max_bytes / ENTRY_OVERHEAD_BYTES,
        items => items,
    };
    CAPACITY_UNITS + most_entries
}

/// An in-process, size- and TTL-bounded cache.
pub struct MemoryCache {
    cache: MokaCache<String, Bytes>,
    limits: MemoryCacheLimits,
    items: Gauge,
    bytes: Gauge,
}

impl std::fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCache").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl MemoryCache {
    /// A cache named `name` (for its gauges) bounded by `limits`. With neither a byte nor an item
    /// bound it is unbounded (config validation refuses that).
    pub fn new(name: &str, limits: MemoryCacheLimits, metrics: &CacheMetrics) -> Self {
        let label = CacheLabel { cache: name.to_string() };
        let items = metrics.memory_items.get_or_create(&label).clone();
        let bytes = metrics.memory_bytes.get_or_create(&label).clone();
        let (evicted_items, evicted_bytes) = (items.clone(), bytes.clone());
        let mut builder = MokaCache::builder().eviction_policy(EvictionPolicy::lru()).eviction_listener(
            move |key: Arc<String>, value: Bytes, _cause: RemovalCause| {
                evicted_items.dec();
                evicted_bytes.dec_by(entry_bytes(&key, &value) as i64);
            },
        );
        if limits.max_bytes > 0 || limits.max_items > 0 {
            builder = builder
                .max_capacity(capacity(&limits))
                .weigher(move |key: &String, value: &Bytes| entry_weight(&limits, entry_bytes(key, value)));
        }
        if let Some(ttl) = limits.ttl.filter(|ttl| !ttl.is_zero()) {
            builder = builder.time_to_live(ttl);
        }
        Self { cache: builder.build(), limits, items, bytes }
    }

    /// Entries held (after pending evictions are applied).
    pub async fn entry_count(&self) -> u64 {
        self.cache.run_pending_tasks().await;
        self.cache.entry_count()
    }

    /// Bytes held (keys + values + per-entry overhead), after pending evictions are applied.
    pub async fn size_bytes(&self) -> u64 {
        self.cache.run_pending_tasks().await;
        self.bytes.get().max(0) as u64
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn store(&self, entries: Vec<(String, Bytes)>) {
        for (key, value) in entries {
            let bytes = entry_bytes(&key, &value);
            if self.limits.max_bytes > 0 && bytes > self.limits.max_bytes {
                continue;
            }
            self.items.inc();
            self.bytes.inc_by(bytes as i64);
            self.cache.insert(key, value).await;
        }
    }

    fn in_process(&self) -> bool {
        true
    }

    async fn fetch(&self, keys: &[String]) -> Fetched {
        let mut fetched = Fetched::default();
        for key in keys {
            match self.cache.get(key).await {
                Some(value) => fetched.found.push((key.clone(), value)),
                None => fetched.missing.push(key.clone()),
            }
        }
        fetched
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_bytes: u64, max_items: u64, ttl: Option<Duration>) -> MemoryCacheLimits {
        MemoryCacheLimits { max_bytes, max_items, ttl }
    }

    fn keys(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn weights_enforce_both_bounds() {
        let both = limits(1000, 10, None);
        let room = capacity(&both);
        // 10 items of tiny size: the item share dominates and exactly fills the capacity.
        assert!(entry_weight(&both, 1) as u64 * 10 <= room);
        assert!(entry_weight(&both, 1) as u64 * 11 > room);
        // 500-byte entries: the byte share dominates, two fit.
        assert!(entry_weight(&both, 500) as u64 * 2 <= room);
        assert!(entry_weight(&both, 501) as u64 * 2 > room);
        let bytes_only = limits(1650, 0, None);
        assert!(entry_weight(&bytes_only, 165) as u64 * 10 <= capacity(&bytes_only));
        assert!(entry_weight(&bytes_only, 166) as u64 * 10 > capacity(&bytes_only));
        assert_eq!(entry_weight(&limits(10, 0, None), 1_000_000), u32::MAX);
    }

    #[tokio::test]
    async fn stores_and_fetches() {
        let cache = MemoryCache::new("t", limits(1 << 20, 0, None), &CacheMetrics::unregistered());
        cache
            .store(vec![("a".into(), Bytes::from_static(b"1")), ("b".into(), Bytes::from_static(b"2"))])
            .await;
        let fetched = cache.fetch(&keys(&["b", "x", "a"])).await;
        assert_eq!(
            fetched.found,
            vec![("b".into(), Bytes::from_static(b"2")), ("a".into(), Bytes::from_static(b"1"))]
        );
        assert_eq!(fetched.missing, keys(&["x"]));
    }

    #[tokio::test]
    async fn evicts_by_size() {
        // Room for 10 entries of 100 + 1 + 64 bytes.
        let max_bytes = 10 * 165;
        let metrics = CacheMetrics::unregistered();
        let cache = MemoryCache::new("size", limits(max_bytes, 0, None), &metrics);
        for i in 0..100 {
            cache.store(vec![(format!("{}", i % 10), Bytes::from(vec![i as u8; 100]))]).await;
        }
        // Overwrites replace: ten keys stay, and the bytes gauge counts each once.
        assert_eq!(cache.entry_count().await, 10);
        assert_eq!(cache.size_bytes().await, max_bytes);
        for i in 0..100u32 {
            cache.store(vec![(format!("k{i:02}"), Bytes::from(vec![1u8; 99]))]).await;
        }
        let count = cache.entry_count().await;
        assert!(count <= 10, "{count} entries exceed the byte bound");
        assert!(cache.size_bytes().await <= max_bytes);
        // The most recent entry survives (LRU evicts the oldest).
        let fetched = cache.fetch(&keys(&["k99", "k00"])).await;
        assert_eq!(fetched.found.len(), 1);
        assert_eq!(fetched.found[0].0, "k99");
        // Something bigger than the whole cache is not stored.
        cache.store(vec![("huge".into(), Bytes::from(vec![0u8; 4096]))]).await;
        assert_eq!(cache.fetch(&keys(&["huge"])).await.missing, keys(&["huge"]));
    }

    #[tokio::test]
    async fn evicts_by_items() {
        let cache = MemoryCache::new("items", limits(0, 5, None), &CacheMetrics::unregistered());
        for i in 0..50 {
            cache.store(vec![(format!("k{i}"), Bytes::from(vec![0u8; 1000]))]).await;
        }
        assert_eq!(cache.entry_count().await, 5);
    }

    #[tokio::test]
    async fn entries_expire_after_the_ttl() {
        let ttl = Duration::from_millis(200);
        let cache = MemoryCache::new("ttl", limits(1 << 20, 0, Some(ttl)), &CacheMetrics::unregistered());
        cache.store(vec![("a".into(), Bytes::from_static(b"1"))]).await;
        assert_eq!(cache.fetch(&keys(&["a"])).await.found.len(), 1);
        tokio::time::sleep(ttl + Duration::from_millis(100)).await;
        assert_eq!(cache.fetch(&keys(&["a"])).await.missing, keys(&["a"]));
    }
}
