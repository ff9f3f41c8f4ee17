//! Chunk objects opened recently, kept decompressed: a query that reads the same series as an
//! earlier one (a dashboard refreshing its last hour) takes them from here instead of fetching,
//! verifying, decompressing and parsing every object again, which was most of the time such a
//! query took. The chunk cache in front of the object store holds the compressed objects; this
//! holds what a reader needs of them.
//!
//! Objects are immutable and their keys name their checksum, so an entry never goes stale. An
//! object opened for a range holds its newest segments only, and serves later reads only when
//! those cover the range they ask for; a wider read opens it again and replaces the entry.

use std::sync::Arc;

use crate::chunk_key::ChunkRef;
use crate::object_format::OpenedObject;
use crate::store::byte_cache::ByteCache;

/// Bytes of opened objects kept: every object of 10,000 series opened whole for a day, or of
/// about 100,000 opened for their last hour.
const CAPACITY_BYTES: u64 = 128 << 20;

/// Bytes counted per entry beyond what the object holds (its key, moka's bookkeeping).
const ENTRY_OVERHEAD_BYTES: usize = 96;

/// A bounded (by bytes, least recently used first) in-process cache of opened objects, keyed by
/// chunk (tenant included).
#[derive(Debug, Clone)]
pub(crate) struct OpenedObjects {
    cache: ByteCache<ChunkRef, Arc<OpenedObject>>,
}

impl OpenedObjects {
    /// A cache holding at most [`CAPACITY_BYTES`].
    pub(crate) fn new() -> Self {
        Self::with_capacity(CAPACITY_BYTES)
    }

    /// A cache holding at most `bytes` (none at all for 0).
    pub(crate) fn with_capacity(bytes: u64) -> Self {
        let cache = ByteCache::new(bytes, |chunk: &ChunkRef, object: &Arc<OpenedObject>| {
            object.held_bytes() + chunk.user.len() + ENTRY_OVERHEAD_BYTES
        });
        Self { cache }
    }

    /// The object `chunk` names, if it was opened recently for a range that holds the samples
    /// from `start_ms` to `end_ms`.
    pub(crate) async fn get(
        &self,
        chunk: &ChunkRef,
        start_ms: i64,
        end_ms: i64,
    ) -> Option<Arc<OpenedObject>> {
        self.cache.get(chunk).await.filter(|object| object.covers(start_ms, end_ms))
    }

    /// Keeps an opened object (with its shared timestamps attached) for later reads.
    pub(crate) async fn insert(&self, chunk: ChunkRef, object: Arc<OpenedObject>) {
        self.cache.insert(chunk, object).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object_format::{self, BodyEncoding, SEGMENT_SAMPLES};
    use neocortex_core::{Labels, Sample};

    fn chunk(user: &str) -> ChunkRef {
        ChunkRef { user: user.to_string(), fingerprint: 7, from_ms: 0, through_ms: 1, checksum: 9 }
    }

    #[tokio::test]
    async fn serves_only_ranges_the_opened_segments_hold() {
        // Values that do not compress away, so that the newest segment is a small part of the body.
        let samples: Vec<Sample> = (0..SEGMENT_SAMPLES as i64 * 3)
            .map(|i| Sample { timestamp_ms: i * 1000, value: (i as f64 * 1.618).sin() })
            .collect();
        let last_ms = samples.last().unwrap().timestamp_ms;
        let object =
            object_format::encode(&Labels::from_pairs([("__name__", "x")]), &samples, BodyEncoding::Zstd);
        let cache = OpenedObjects::new();
        let newest = Arc::new(object_format::open_range(&object, last_ms - 10_000, last_ms).unwrap());
        cache.insert(chunk("a"), newest).await;
        assert!(cache.get(&chunk("a"), last_ms - 60_000, last_ms).await.is_some());
        assert!(cache.get(&chunk("a"), 0, last_ms).await.is_none(), "older segments were not opened");
        assert!(cache.get(&chunk("b"), last_ms - 60_000, last_ms).await.is_none(), "another tenant's key");
        let whole = Arc::new(object_format::open_range(&object, 0, last_ms).unwrap());
        cache.insert(chunk("a"), whole).await;
        assert!(cache.get(&chunk("a"), 0, last_ms).await.is_some());
    }

    #[tokio::test]
    async fn stays_within_its_capacity() {
        let samples: Vec<Sample> =
            (0..2000).map(|i| Sample { timestamp_ms: i * 1000, value: i as f64 }).collect();
        let object =
            object_format::encode(&Labels::from_pairs([("__name__", "x")]), &samples, BodyEncoding::Zstd);
        let opened = Arc::new(object_format::open(&object).unwrap());
        let weight = opened.held_bytes() + chunk("a").user.len() + ENTRY_OVERHEAD_BYTES;
        let cache = OpenedObjects::with_capacity(10 * weight as u64);
        for fingerprint in 0..100 {
            cache.insert(ChunkRef { fingerprint, ..chunk("a") }, Arc::clone(&opened)).await;
        }
        let held = cache.cache.settled_entry_count().await;
        assert!((1..=10).contains(&held), "{held} entries");
        let none = OpenedObjects::with_capacity(0);
        none.insert(chunk("a"), Arc::clone(&opened)).await;
        assert!(none.get(&chunk("a"), 0, 1).await.is_none());
    }
}
