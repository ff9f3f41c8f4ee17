//! Caches for the chunk store: chunk cache, index-query cache and write-dedupe cache, in-process
//! (size and TTL bounded) or memcached. A cache failure is a miss, never a failed read or write.
//!
//! - [`Cache`]: store many keys, fetch many keys (found + missing), never an error;
//! - backends: [`memory::MemoryCache`] (moka, bounded by bytes and items, TTL),
//!   [`memcached::MemcachedCache`] (several servers, consistent hashing, timeouts, batching),
//!   [`tiered::TieredCache`] (in-process in front of memcached);
//! - [`metrics`]: Cortex's cache metrics, and the instrumenting wrapper;
//! - wrappers that plug caches into the store: [`object::CachingObjectClient`] (chunk cache),
//!   [`index::CachingIndexClient`] (index-query cache), [`dedupe::CacheWriteDedupe`];
//! - [`config`]: Cortex's cache config blocks; [`build`]: caches and wrappers from config.

pub mod background;
pub mod build;
pub mod config;
pub mod dedupe;
pub mod index;
pub mod memcached;
pub mod memory;
pub mod metrics;
pub mod object;
pub mod selector;
pub mod tiered;

use async_trait::async_trait;
use bytes::Bytes;

pub use build::{wrap_with_caches, StoreCaches};
pub use config::{CacheConfig, ChunkStoreConfig};

/// What a fetch found: the hits (in the order of the keys asked) and the keys it did not find.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fetched {
    /// Keys found, with their values.
    pub found: Vec<(String, Bytes)>,
    /// Keys not found (or whose server failed).
    pub missing: Vec<String>,
}

/// A key → bytes cache. Infallible by design: a backend that fails logs and counts the error
/// and answers "missing" (fetch) or drops the write (store), so callers fall back to the store.
#[async_trait]
pub trait Cache: Send + Sync {
    /// Stores every entry (best effort).
    async fn store(&self, entries: Vec<(String, Bytes)>);

    /// Looks every key up.
    async fn fetch(&self, keys: &[String]) -> Fetched;

    /// Whether entries live in this process's memory exactly as they were stored, so that
    /// readers need not check them again (nothing crossed a network or another writer's hands).
    fn in_process(&self) -> bool {
        false
    }
}
