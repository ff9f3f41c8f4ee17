//! Cortex's cache metrics, so the Cortex mixin's cache panels work:
//! `cortex_cache_request_duration_seconds{method="<name>.fetch|store",status_code}`,
//! `cortex_cache_fetched_keys{name}`, `cortex_cache_hits{name}`,
//! `cortex_cache_value_size_bytes{name,method}`, `cortex_cache_corrupt_chunks_total{name}`,
//! `cortex_memcache_request_duration_seconds{method,status_code,name}`,
//! `cortex_memcache_client_servers{name}`, and for the in-process cache
//! `cortex_cache_memory_items_count{cache}` and `cortex_cache_memory_size_bytes{cache}`.
//!
//! `cortex_cache_fetched_keys` and `cortex_cache_hits` keep Cortex's names without `_total`
//! (prometheus-client appends `_total` to counters), so they are exposed as untyped totals.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

use crate::cache::{Cache, Fetched};

/// A monotonic count exposed under its exact name (no `_total` suffix), as Cortex's legacy
/// counters `cortex_cache_fetched_keys` and `cortex_cache_hits` are.
#[derive(Debug, Clone, Default)]
pub struct Total(Arc<AtomicU64>);

impl Total {
    /// Adds `n`.
    pub fn inc_by(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl TypedMetric for Total {
    const TYPE: MetricType = MetricType::Unknown;
}

impl EncodeMetric for Total {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        encoder.encode_gauge(&self.get())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Unknown
    }
}

/// `{method, status_code}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct MethodLabels {
    /// `<cache name>.fetch` or `<cache name>.store`.
    pub method: String,
    /// `200` (cache calls never fail).
    pub status_code: String,
}

/// `{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct NameLabels {
    /// The cache name (`chunksmemcache`, `store.index-cache-read.fifocache`, …).
    pub name: String,
}

/// `{name, method}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct NameMethodLabels {
    /// The cache name.
    pub name: String,
    /// `fetch` or `store`.
    pub method: String,
}

/// `{method, status_code, name}` of a memcached request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct MemcacheLabels {
    /// `Memcache.GetMulti` or `Memcache.SetMulti`.
    pub method: String,
    /// `200`, `500` (error) or `timeout`.
    pub status_code: String,
    /// The cache name.
    pub name: String,
}

/// `{cache}` of the in-process cache gauges.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct CacheLabel {
    /// The cache name.
    pub cache: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn request_histogram() -> Histogram {
    // Cache requests are quick: 16 µs to about 0.26 s, as Cortex buckets them.
    Histogram::new(exponential_buckets(0.000016, 4.0, 8))
}

fn size_histogram() -> Histogram {
    // 1 KiB to 4 MiB, as Cortex buckets value sizes.
    Histogram::new(exponential_buckets(1024.0, 4.0, 7))
}

/// Handles to every cache metric (cheap to clone; clones share values). Register once per
/// registry and hand clones to every cache.
#[derive(Debug, Clone)]
pub struct CacheMetrics {
    pub(crate) request_duration: HistogramFamily<MethodLabels>,
    pub(crate) fetched_keys: Family<NameLabels, Total>,
    pub(crate) hits: Family<NameLabels, Total>,
    pub(crate) value_size: HistogramFamily<NameMethodLabels>,
    pub(crate) corrupt_chunks: Family<NameLabels, Counter>,
    pub(crate) memcache_request_duration: HistogramFamily<MemcacheLabels>,
    pub(crate) memcache_servers: Family<NameLabels, Gauge>,
    /// Memcached requests by outcome (the histogram's count, readable; not exposed).
    pub(crate) memcache_requests: Family<MemcacheLabels, Counter>,
    pub(crate) memory_items: Family<CacheLabel, Gauge>,
    pub(crate) memory_bytes: Family<CacheLabel, Gauge>,
    pub(crate) dropped_background_writes: Family<NameLabels, Counter>,
    pub(crate) background_queue_length: Family<NameLabels, Gauge>,
}

impl Default for CacheMetrics {
    fn default() -> Self {
        Self::unregistered()
    }
}

impl CacheMetrics {
    /// Metrics not exposed anywhere (tests, benchmarks).
    pub fn unregistered() -> Self {
        Self {
            request_duration: Family::new_with_constructor(request_histogram),
            fetched_keys: Family::default(),
            hits: Family::default(),
            value_size: Family::new_with_constructor(size_histogram),
            corrupt_chunks: Family::default(),
            memcache_request_duration: Family::new_with_constructor(request_histogram),
            memcache_servers: Family::default(),
            memcache_requests: Family::default(),
            memory_items: Family::default(),
            memory_bytes: Family::default(),
            dropped_background_writes: Family::default(),
            background_queue_length: Family::default(),
        }
    }

    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::unregistered();
        registry.register(
            "cortex_cache_request_duration_seconds",
            "Total time spent in seconds doing cache requests",
            metrics.request_duration.clone(),
        );
        registry.register(
            "cortex_cache_fetched_keys",
            "Total count of keys requested from cache",
            metrics.fetched_keys.clone(),
        );
        registry.register("cortex_cache_hits", "Total count of keys found in cache", metrics.hits.clone());
        registry.register(
            "cortex_cache_value_size_bytes",
            "Size of values in the cache",
            metrics.value_size.clone(),
        );
        registry.register(
            "cortex_cache_corrupt_chunks",
            "Total count of corrupt chunks found in cache",
            metrics.corrupt_chunks.clone(),
        );
        registry.register(
            "cortex_memcache_request_duration_seconds",
            "Total time spent in seconds doing memcache requests",
            metrics.memcache_request_duration.clone(),
        );
        registry.register(
            "cortex_memcache_client_servers",
            "The number of memcache servers discovered",
            metrics.memcache_servers.clone(),
        );
        registry.register(
            "cortex_cache_memory_items_count",
            "Total number of entries in the in-process cache",
            metrics.memory_items.clone(),
        );
        registry.register(
            "cortex_cache_memory_size_bytes",
            "Total size of the in-process cache in bytes",
            metrics.memory_bytes.clone(),
        );
        registry.register(
            "cortex_cache_dropped_background_writes",
            "Total count of dropped write backs to cache",
            metrics.dropped_background_writes.clone(),
        );
        registry.register(
            "cortex_cache_background_queue_length",
            "Length of the cache background write queue",
            metrics.background_queue_length.clone(),
        );
        metrics
    }

    /// Keys requested from cache `name` so far.
    pub fn fetched_keys(&self, name: &str) -> u64 {
        self.fetched_keys.get_or_create(&NameLabels { name: name.to_string() }).get()
    }

    /// Keys found in cache `name` so far.
    pub fn hits(&self, name: &str) -> u64 {
        self.hits.get_or_create(&NameLabels { name: name.to_string() }).get()
    }

    /// Memcached requests of cache `name` that ended with `status_code` (`200`, `500`, `timeout`).
    pub fn memcache_requests(&self, name: &str, method: &str, status_code: &str) -> u64 {
        let labels = MemcacheLabels {
            method: method.to_string(),
            status_code: status_code.to_string(),
            name: name.to_string(),
        };
        self.memcache_requests.get_or_create(&labels).get()
    }

    /// Counts a chunk found corrupt in cache `name`.
    pub fn count_corrupt_chunk(&self, name: &str) {
        self.corrupt_chunks.get_or_create(&NameLabels { name: name.to_string() }).inc();
    }
}

/// Counts and times every call of the cache it wraps under `name` (Cortex's `Instrument`).
pub struct InstrumentedCache {
    name: String,
    inner: Arc<dyn Cache>,
    metrics: CacheMetrics,
}

impl InstrumentedCache {
    /// Wraps `inner`, reporting as `name`.
    pub fn new(name: impl Into<String>, inner: Arc<dyn Cache>, metrics: CacheMetrics) -> Self {
        Self { name: name.into(), inner, metrics }
    }

    fn observe(&self, operation: &str, started: Instant) {
        let labels =
            MethodLabels { method: format!("{}.{operation}", self.name), status_code: "200".to_string() };
        self.metrics.request_duration.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
    }

    fn observe_sizes<'a>(&self, operation: &str, values: impl Iterator<Item = &'a Bytes>) {
        let labels = NameMethodLabels { name: self.name.clone(), method: operation.to_string() };
        let histogram = self.metrics.value_size.get_or_create(&labels);
        for value in values {
            histogram.observe(value.len() as f64);
        }
    }
}

#[async_trait]
impl Cache for InstrumentedCache {
    async fn store(&self, entries: Vec<(String, Bytes)>) {
        let started = Instant::now();
        self.observe_sizes("store", entries.iter().map(|(_, value)| value));
        self.inner.store(entries).await;
        self.observe("store", started);
    }

    fn in_process(&self) -> bool {
        self.inner.in_process()
    }

    async fn fetch(&self, keys: &[String]) -> Fetched {
        let started = Instant::now();
        let fetched = self.inner.fetch(keys).await;
        self.observe("fetch", started);
        let name = NameLabels { name: self.name.clone() };
        self.metrics.fetched_keys.get_or_create(&name).inc_by(keys.len() as u64);
        self.metrics.hits.get_or_create(&name).inc_by(fetched.found.len() as u64);
        self.observe_sizes("fetch", fetched.found.iter().map(|(_, value)| value));
        fetched
    }
}
