//! Index lookups kept across queries: which chunks hold the series that a metric name and label
//! matchers select in one daily bucket. A dashboard refreshing its last hour asks the same
//! lookup again and again; resolving it walks the index for every series (its id, then its
//! chunk rows), which was the largest fixed cost of a small query.
//!
//! A lookup is kept with the index client's write generation taken before it ran, and served
//! only while the generation is the same: any write to the index, a table created or deleted,
//! makes every kept lookup of that client stale. Only clients that see every change to their
//! store report a generation (the embedded ones), so lookups over shared backends are never
//! kept. VictoriaMetrics keeps its tag-filter results the same way, reset when series are added.

use std::sync::Arc;

use neocortex_core::{MatchOp, Matcher};

use crate::chunk_key::ChunkRef;
use crate::schema::config::Bucket;
use crate::store::byte_cache::ByteCache;

/// Bytes of kept lookups: a lookup of 10,000 series with a chunk each takes about 0.6 MiB.
const CAPACITY_BYTES: u64 = 32 << 20;

/// Bytes counted per entry beyond its chunk references (the key, moka's bookkeeping).
const ENTRY_OVERHEAD_BYTES: usize = 160;

/// What a lookup asked: the period, the bucket (table and `<user>:d<day>`), the metric name and
/// the matchers the index answers (in the order given).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct LookupKey {
    period: usize,
    table: String,
    bucket: String,
    metric_name: String,
    matchers: Vec<(String, MatchOp, String)>,
}

impl LookupKey {
    /// The key of the lookup of `metric_name` and `matchers` in `bucket` of period `period` (its
    /// position in the schema).
    pub(crate) fn new(period: usize, bucket: &Bucket, metric_name: &str, matchers: &[&Matcher]) -> Self {
        Self {
            period,
            table: bucket.table.clone(),
            bucket: bucket.hash_key.clone(),
            metric_name: metric_name.to_string(),
            matchers: matchers.iter().map(|m| (m.name.clone(), m.op, m.value.clone())).collect(),
        }
    }

    fn bytes(&self) -> usize {
        self.table.len()
            + self.bucket.len()
            + self.metric_name.len()
            + self.matchers.iter().map(|(name, _, value)| name.len() + value.len() + 56).sum::<usize>()
    }
}

/// A lookup's answer: every chunk of the selected series in the whole bucket, sorted and unique,
/// and the write generation it was read at.
#[derive(Debug)]
struct KeptLookup {
    generation: u64,
    chunks: Arc<[ChunkRef]>,
}

/// A bounded (by bytes, least recently used first) in-process cache of index lookups.
#[derive(Debug, Clone)]
pub(crate) struct KeptLookups {
    cache: ByteCache<LookupKey, Arc<KeptLookup>>,
}

impl KeptLookups {
    /// A cache holding at most [`CAPACITY_BYTES`].
    pub(crate) fn new() -> Self {
        Self::with_capacity(CAPACITY_BYTES)
    }

    /// A cache holding at most `bytes` (none at all for 0).
    pub(crate) fn with_capacity(bytes: u64) -> Self {
        let cache = ByteCache::new(bytes, |key: &LookupKey, kept: &Arc<KeptLookup>| {
            let chunks: usize =
                kept.chunks.iter().map(|chunk| std::mem::size_of::<ChunkRef>() + chunk.user.len()).sum();
            chunks + key.bytes() + ENTRY_OVERHEAD_BYTES
        });
        Self { cache }
    }

    /// Whether lookups are kept at all.
    pub(crate) fn enabled(&self) -> bool {
        self.cache.enabled()
    }

    /// The chunks of lookup `key` if it was kept at write generation `generation`.
    pub(crate) async fn get(&self, key: &LookupKey, generation: u64) -> Option<Arc<[ChunkRef]>> {
        let kept = self.cache.get(key).await?;
        (kept.generation == generation).then(|| Arc::clone(&kept.chunks))
    }

    /// Keeps the chunks a lookup found at write generation `generation` (taken before it ran).
    pub(crate) async fn insert(&self, key: LookupKey, generation: u64, chunks: Arc<[ChunkRef]>) {
        self.cache.insert(key, Arc::new(KeptLookup { generation, chunks })).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(day: u32) -> Bucket {
        Bucket { from: 0, through: 86_400_000, table: "index_1".into(), hash_key: format!("team:d{day}") }
    }

    fn chunks(count: u64) -> Arc<[ChunkRef]> {
        (0..count)
            .map(|i| ChunkRef { user: "team".into(), fingerprint: i, from_ms: 0, through_ms: 1, checksum: 3 })
            .collect()
    }

    #[tokio::test]
    async fn a_kept_lookup_serves_only_its_own_generation_and_key() {
        let kept = KeptLookups::new();
        let job = Matcher::new(MatchOp::Equal, "job", "node").unwrap();
        let key = LookupKey::new(0, &bucket(1), "up", &[&job]);
        kept.insert(key.clone(), 5, chunks(3)).await;
        assert_eq!(kept.get(&key, 5).await.map(|c| c.len()), Some(3));
        assert!(kept.get(&key, 6).await.is_none(), "a later write makes it stale");
        let other_value = Matcher::new(MatchOp::Equal, "job", "db").unwrap();
        let regex = Matcher::new(MatchOp::RegexMatch, "job", "node").unwrap();
        for other in [
            LookupKey::new(0, &bucket(2), "up", &[&job]),
            LookupKey::new(1, &bucket(1), "up", &[&job]),
            LookupKey::new(0, &bucket(1), "down", &[&job]),
            LookupKey::new(0, &bucket(1), "up", &[&other_value]),
            LookupKey::new(0, &bucket(1), "up", &[&regex]),
            LookupKey::new(0, &bucket(1), "up", &[]),
        ] {
            assert!(kept.get(&other, 5).await.is_none(), "{other:?}");
        }
    }

    #[tokio::test]
    async fn a_zero_capacity_keeps_nothing() {
        let kept = KeptLookups::with_capacity(0);
        assert!(!kept.enabled());
        let key = LookupKey::new(0, &bucket(1), "up", &[]);
        kept.insert(key.clone(), 1, chunks(1)).await;
        assert!(kept.get(&key, 1).await.is_none());
    }
}
