//! The write-dedupe seam: before writing a series' label rows for a bucket, the store asks
//! which (table, bucket, series) keys it has written already, and skips those rows. The cache
//! work plugs the write-dedupe cache (in-process or memcached) in here; a cache failure must
//! never fail a write, so this interface has no errors: when unsure, answer "missing".

use std::collections::HashSet;

use async_trait::async_trait;
use parking_lot::Mutex;

/// Remembers which label rows were written.
#[async_trait]
pub trait WriteDedupe: Send + Sync {
    /// For each key, whether its rows must be written (true = not known to be written).
    async fn missing(&self, keys: &[String]) -> Vec<bool>;

    /// Records that the rows of `keys` are now in the index.
    async fn store(&self, keys: &[String]);
}

/// No dedupe: every label row is written every time (the index makes rewrites idempotent).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoWriteDedupe;

#[async_trait]
impl WriteDedupe for NoWriteDedupe {
    async fn missing(&self, keys: &[String]) -> Vec<bool> {
        vec![true; keys.len()]
    }

    async fn store(&self, _keys: &[String]) {}
}

/// A bounded in-process set; when full it forgets everything and starts again.
#[derive(Debug)]
pub struct MemoryWriteDedupe {
    seen: Mutex<HashSet<String>>,
    capacity: usize,
}

impl MemoryWriteDedupe {
    /// A set remembering at most `capacity` keys.
    pub fn new(capacity: usize) -> Self {
        Self { seen: Mutex::new(HashSet::new()), capacity }
    }
}

#[async_trait]
impl WriteDedupe for MemoryWriteDedupe {
    async fn missing(&self, keys: &[String]) -> Vec<bool> {
        let seen = self.seen.lock();
        keys.iter().map(|key| !seen.contains(key)).collect()
    }

    async fn store(&self, keys: &[String]) {
        let mut seen = self.seen.lock();
        if seen.len() + keys.len() > self.capacity {
            seen.clear();
        }
        seen.extend(keys.iter().cloned());
    }
}
