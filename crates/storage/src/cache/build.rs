//! Caches from config, and the one place they are put around the store's clients:
//! [`StoreCaches::from_config`] builds the chunk, index-query and write-dedupe caches (each
//! in-process, memcached, or both tiered) and [`wrap_with_caches`] wraps an index client and an
//! object client and picks the write dedupe.

use std::sync::Arc;
use std::time::Duration;

use crate::cache::background::BackgroundCache;
use crate::cache::config::{CacheConfig, ChunkStoreConfig};
use crate::cache::dedupe::CacheWriteDedupe;
use crate::cache::index::CachingIndexClient;
use crate::cache::memcached::{MemcachedCache, MemcachedSettings};
use crate::cache::memory::{MemoryCache, MemoryCacheLimits};
use crate::cache::metrics::{CacheMetrics, InstrumentedCache};
use crate::cache::object::CachingObjectClient;
use crate::cache::tiered::TieredCache;
use crate::cache::Cache;
use crate::config::StorageConfig;
use crate::error::StorageError;
use crate::index::IndexClient;
use crate::object::ObjectClient;
use crate::store::dedupe::{NoWriteDedupe, WriteDedupe};

/// Name prefix of the chunk cache's metrics (`chunksmemcache`, `chunksfifocache`).
pub const CHUNKS_CACHE_PREFIX: &str = "chunks";
/// Name prefix of the index-query cache's metrics.
pub const INDEX_READ_CACHE_PREFIX: &str = "store.index-cache-read.";
/// Name prefix of the write-dedupe cache's metrics.
pub const INDEX_WRITE_CACHE_PREFIX: &str = "store.index-cache-write.";

/// The memcached settings of a cache config.
pub fn memcached_settings(config: &CacheConfig) -> MemcachedSettings {
    let client = &config.memcached_client;
    let unlimited = |n: usize| if n == 0 { usize::MAX } else { n };
    let breaker_timeout = if client.circuit_breaker_timeout.0.is_zero() {
        Duration::from_secs(60)
    } else {
        client.circuit_breaker_timeout.0
    };
    MemcachedSettings {
        addresses: client.address_list().map(str::to_string).collect(),
        host: client.host.trim().to_string(),
        timeout: client.timeout.0,
        max_idle_conns: client.max_idle_conns,
        update_interval: client.update_interval.0,
        consistent_hash: client.consistent_hash,
        expiration: config.memcached_expiration(),
        batch_size: unlimited(config.memcached.batch_size),
        parallelism: if config.memcached.parallelism == 0 {
            tokio::sync::Semaphore::MAX_PERMITS
        } else {
            config.memcached.parallelism
        },
        max_item_size: client.max_item_size,
        circuit_breaker_consecutive_failures: client.circuit_breaker_consecutive_failures,
        circuit_breaker_timeout: breaker_timeout,
        circuit_breaker_interval: client.circuit_breaker_interval.0,
    }
}

/// The cache `config` describes, named by `prefix` in metrics; `None` when it enables nothing.
/// Tiered (in-process first) when both backends are on, as Cortex does.
pub fn new_cache(
    prefix: &str,
    config: &CacheConfig,
    metrics: &CacheMetrics,
) -> Result<Option<Arc<dyn Cache>>, StorageError> {
    let mut tiers: Vec<Arc<dyn Cache>> = Vec::new();
    if config.enable_fifocache {
        let name = format!("{prefix}fifocache");
        let limits = MemoryCacheLimits {
            max_bytes: config.fifocache.max_bytes().map_err(StorageError::Config)?,
            max_items: config.fifocache.max_items(),
            ttl: Some(config.fifo_validity()).filter(|ttl| !ttl.is_zero()),
        };
        let memory: Arc<dyn Cache> = Arc::new(MemoryCache::new(&name, limits, metrics));
        tiers.push(Arc::new(InstrumentedCache::new(name, memory, metrics.clone())));
    }
    if config.memcached_client.is_configured() {
        let name = format!("{prefix}memcache");
        let memcached: Arc<dyn Cache> =
            Arc::new(MemcachedCache::new(&name, memcached_settings(config), metrics.clone()));
        let instrumented: Arc<dyn Cache> =
            Arc::new(InstrumentedCache::new(name.clone(), memcached, metrics.clone()));
        tiers.push(Arc::new(BackgroundCache::new(&name, instrumented, &config.background, metrics)));
    }
    Ok(match tiers.len() {
        0 => None,
        1 => tiers.pop(),
        _ => {
            let tiered: Arc<dyn Cache> = Arc::new(TieredCache::new(tiers));
            Some(Arc::new(InstrumentedCache::new(format!("{prefix}tiered"), tiered, metrics.clone())))
        }
    })
}

/// The three caches of the chunk store and the rules of the index-query cache.
#[derive(Clone, Default)]
pub struct StoreCaches {
    /// The chunk cache.
    pub chunks: Option<Arc<dyn Cache>>,
    /// The index-query cache.
    pub index_queries: Option<Arc<dyn Cache>>,
    /// The write-dedupe cache.
    pub write_dedupe: Option<Arc<dyn Cache>>,
    /// How long answers about recent index buckets are used (`storage.index_cache_validity`).
    pub index_cache_validity: Duration,
    /// Buckets older than this are cached for ever (`chunk_store.cache_lookups_older_than`).
    pub cache_lookups_older_than: Duration,
    /// The metrics handles the caches report to.
    pub metrics: CacheMetrics,
}

impl std::fmt::Debug for StoreCaches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreCaches")
            .field("chunks", &self.chunks.is_some())
            .field("index_queries", &self.index_queries.is_some())
            .field("write_dedupe", &self.write_dedupe.is_some())
            .field("index_cache_validity", &self.index_cache_validity)
            .field("cache_lookups_older_than", &self.cache_lookups_older_than)
            .finish()
    }
}

impl StoreCaches {
    /// The caches `storage` (index-query cache) and `chunk_store` (chunk and write-dedupe
    /// caches) configure, reporting to `metrics`.
    pub fn from_config(
        storage: &StorageConfig,
        chunk_store: &ChunkStoreConfig,
        metrics: &CacheMetrics,
    ) -> Result<Self, StorageError> {
        Ok(Self {
            chunks: new_cache(CHUNKS_CACHE_PREFIX, &chunk_store.chunk_cache_config, metrics)?,
            index_queries: new_cache(INDEX_READ_CACHE_PREFIX, &storage.index_queries_cache_config, metrics)?,
            write_dedupe: new_cache(
                INDEX_WRITE_CACHE_PREFIX,
                &chunk_store.write_dedupe_cache_config,
                metrics,
            )?,
            index_cache_validity: storage.index_cache_validity.0,
            cache_lookups_older_than: chunk_store.cache_lookups_older_than.0,
            metrics: metrics.clone(),
        })
    }
}

/// The store's clients with caches around them.
pub struct CachedClients {
    /// The index client (with the index-query cache when configured).
    pub index: Arc<dyn IndexClient>,
    /// The object client (with the chunk cache when configured).
    pub objects: Arc<dyn ObjectClient>,
    /// The write dedupe (the write-dedupe cache, or none).
    pub write_dedupe: Arc<dyn WriteDedupe>,
}

/// Puts `caches` around `index` and `objects`; clients without a configured cache are returned
/// unchanged. Use as `ChunkStore::new(schema, c.index, c.objects).with_write_dedupe(c.write_dedupe)`.
pub fn wrap_with_caches(
    index: Arc<dyn IndexClient>,
    objects: Arc<dyn ObjectClient>,
    caches: &StoreCaches,
) -> CachedClients {
    let index: Arc<dyn IndexClient> = match &caches.index_queries {
        Some(cache) => Arc::new(CachingIndexClient::new(
            index,
            Arc::clone(cache),
            caches.index_cache_validity,
            caches.cache_lookups_older_than,
        )),
        None => index,
    };
    let objects: Arc<dyn ObjectClient> = match &caches.chunks {
        Some(cache) => Arc::new(CachingObjectClient::new(
            objects,
            Arc::clone(cache),
            CHUNKS_CACHE_PREFIX,
            caches.metrics.clone(),
        )),
        None => objects,
    };
    let write_dedupe: Arc<dyn WriteDedupe> = match &caches.write_dedupe {
        Some(cache) => Arc::new(CacheWriteDedupe::new(Arc::clone(cache))),
        None => Arc::new(NoWriteDedupe),
    };
    CachedClients { index, objects, write_dedupe }
}
