//! Which series of a flush share their timestamps: every series scraped from one target carries
//! the same scrape times, so the write path stores such a column once, as a timestamps object
//! (see `object_format`), and each series' object names it.
//!
//! A column is shared when it costs enough to be worth a reference
//! ([`object_format::worth_sharing`]: jittered scrape times, not exact intervals) and either
//! two or more series of the batch carry exactly the same timestamps, or this process wrote the
//! same timestamps object recently (the flush queues hand the series of one target over in
//! several batches). Equality within a
//! batch is exact; across batches it is the timestamps object's fingerprint, span, length and
//! checksum (an FNV-1a 64 and a CRC-32C of the encoded column, both equal).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::object_format::{self, BodyEncoding, TimestampsRef};
use crate::store::byte_cache::ByteCache;

/// Timestamps objects remembered at most: a few per scrape target and flush period.
const MEMO_CAPACITY: usize = 100_000;
/// How long a written timestamps object is named by later batches without being written again.
/// Far below any retention, so an object is never named after an expiry could have removed it.
const MEMO_TTL: Duration = Duration::from_secs(3_600);

/// Bytes of decoded timestamps kept by [`DecodedTimestamps`] (2,900 columns of 12 h at 15 s).
const DECODED_CAPACITY_BYTES: u64 = 64 << 20;

/// Timestamps objects read recently, decoded, per tenant: a bounded (by bytes, least recently
/// used first) in-process cache in front of the object store and its caches.
#[derive(Debug, Clone)]
pub(crate) struct DecodedTimestamps {
    cache: ByteCache<(String, TimestampsRef), Arc<[i64]>>,
}

impl DecodedTimestamps {
    pub(crate) fn new() -> Self {
        let cache =
            ByteCache::new(DECODED_CAPACITY_BYTES, |_: &(String, TimestampsRef), timestamps: &Arc<[i64]>| {
                timestamps.len().saturating_mul(8).saturating_add(64)
            });
        Self { cache }
    }

    /// The decoded timestamps of `reference` in `user`'s store, if read recently.
    pub(crate) async fn get(&self, user: &str, reference: TimestampsRef) -> Option<Arc<[i64]>> {
        self.cache.get(&(user.to_string(), reference)).await
    }

    /// Keeps decoded timestamps for later reads.
    pub(crate) async fn insert(&self, user: &str, reference: TimestampsRef, timestamps: Arc<[i64]>) {
        self.cache.insert((user.to_string(), reference), timestamps).await;
    }
}

/// Where one series' timestamps go.
#[derive(Debug, Clone)]
pub(crate) enum Placement {
    /// Into its own object.
    Inline,
    /// Into the timestamps object named.
    Shared(TimestampsRef),
}

/// A timestamps object this batch must write.
#[derive(Debug)]
pub(crate) struct NewTimestampsObject {
    pub(crate) reference: TimestampsRef,
    /// How many timestamps it holds.
    pub(crate) len: usize,
    pub(crate) data: Vec<u8>,
}

/// What identifies a timestamps column before it is encoded: tenant, fingerprint, first and
/// last timestamp, count.
type ColumnKey = (String, u64, i64, i64, usize);

/// The timestamps objects this process wrote recently, per tenant: the checksum each was
/// written with.
#[derive(Debug, Default)]
pub(crate) struct TimestampsMemo {
    written: Mutex<HashMap<ColumnKey, (u32, Instant)>>,
}

fn column_key(user: &str, fingerprint: u64, times: &[i64]) -> ColumnKey {
    let (first, last) =
        (times.first().copied().unwrap_or_default(), times.last().copied().unwrap_or_default());
    (user.to_string(), fingerprint, first, last, times.len())
}

impl TimestampsMemo {
    /// The checksum of a recently written timestamps object with this column's identity.
    fn checksum_of(&self, key: &ColumnKey) -> Option<u32> {
        let written = self.written.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        written.get(key).filter(|(_, at)| at.elapsed() < MEMO_TTL).map(|(checksum, _)| *checksum)
    }

    /// Records timestamps objects that are now stored.
    pub(crate) fn remember(&self, user: &str, written: impl IntoIterator<Item = (TimestampsRef, usize)>) {
        let mut memo = self.written.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        for (reference, len) in written {
            if memo.len() >= MEMO_CAPACITY {
                memo.retain(|_, (_, at)| now.duration_since(*at) < MEMO_TTL);
                if memo.len() >= MEMO_CAPACITY {
                    memo.clear();
                }
            }
            let key = (user.to_string(), reference.fingerprint, reference.from_ms, reference.through_ms, len);
            memo.insert(key, (reference.checksum, now));
        }
    }
}

/// Decides where the timestamps of each series (`times[i]`, each non-empty) go, and which new
/// timestamps objects the batch writes (each once). A timestamps object is encoded only for a
/// column that will be shared, never for a series that keeps its column.
pub(crate) fn plan(
    memo: &TimestampsMemo,
    user: &str,
    times: &[Vec<i64>],
    encoding: BodyEncoding,
) -> (Vec<Placement>, Vec<NewTimestampsObject>) {
    // Each series' group, and per group its timestamps and size, in order of first appearance.
    let mut group_of_times: HashMap<&[i64], usize> = HashMap::new();
    let mut groups: Vec<(&[i64], usize)> = Vec::new();
    let group_of_series: Vec<usize> = times
        .iter()
        .map(|series_times| {
            let group = *group_of_times.entry(series_times.as_slice()).or_insert_with(|| {
                groups.push((series_times.as_slice(), 0));
                groups.len() - 1
            });
            groups[group].1 += 1;
            group
        })
        .collect();
    let mut new_objects = Vec::new();
    let group_placements: Vec<Placement> = groups
        .into_iter()
        .map(|(shared_times, members)| {
            let column = object_format::timestamp_column(shared_times);
            if !object_format::worth_sharing(&column) {
                return Placement::Inline;
            }
            let known = memo.checksum_of(&column_key(
                user,
                object_format::timestamps_fingerprint(shared_times),
                shared_times,
            ));
            if known.is_none() && members < 2 {
                return Placement::Inline;
            }
            let (data, reference) = object_format::encode_timestamps_object(shared_times, &column, encoding);
            if known == Some(reference.checksum) {
                Placement::Shared(reference)
            } else if members >= 2 {
                new_objects.push(NewTimestampsObject { reference, len: shared_times.len(), data });
                Placement::Shared(reference)
            } else {
                Placement::Inline
            }
        })
        .collect();
    let placements = group_of_series.iter().map(|&group| group_placements[group].clone()).collect();
    (placements, new_objects)
}

#[cfg(test)]
mod tests {
    use super::*;
    use neocortex_testkit::chunks::noise;

    fn jittered(offset: i64, len: i64) -> Vec<i64> {
        (0..len)
            .map(|i| 1_577_944_800_000 + i * 15_000 + (noise(offset as u64, i as u64) % 4) as i64)
            .collect()
    }

    fn shared(placement: &Placement) -> Option<TimestampsRef> {
        match placement {
            Placement::Shared(reference) => Some(*reference),
            Placement::Inline => None,
        }
    }

    #[test]
    fn equal_jittered_columns_share_one_object() {
        let memo = TimestampsMemo::default();
        let times = vec![jittered(0, 500), jittered(1, 500), jittered(0, 500), jittered(0, 499)];
        let (placements, objects) = plan(&memo, "a", &times, BodyEncoding::Zstd);
        assert_eq!(objects.len(), 1);
        let reference = objects[0].reference;
        assert_eq!(shared(&placements[0]), Some(reference));
        assert_eq!(shared(&placements[2]), Some(reference));
        // A column nobody else in the batch has stays inline, as does a shorter one.
        assert!(shared(&placements[1]).is_none());
        assert!(shared(&placements[3]).is_none());
        assert_eq!(object_format::decode_timestamps_object(&objects[0].data).unwrap(), times[0]);
        assert_eq!(reference.from_ms, times[0][0]);
        assert_eq!(reference.through_ms, times[0][499]);
        assert_eq!(reference.checksum, object_format::checksum(&objects[0].data));
    }

    #[test]
    fn regular_columns_stay_inline() {
        let memo = TimestampsMemo::default();
        for len in [2_880, 11_520, 100_000] {
            let regular: Vec<i64> = (0..len).map(|i| 1_000 + i * 15_000).collect();
            let (placements, objects) = plan(&memo, "a", &[regular.clone(), regular], BodyEncoding::Zstd);
            assert!(objects.is_empty(), "{len}");
            assert!(placements.iter().all(|p| matches!(p, Placement::Inline)));
        }
    }

    #[test]
    fn later_batches_name_what_the_memo_knows_per_tenant() {
        let memo = TimestampsMemo::default();
        let times = vec![jittered(0, 300), jittered(0, 300)];
        let (_, objects) = plan(&memo, "a", &times, BodyEncoding::Zstd);
        let reference = objects[0].reference;
        // Not written yet: a lone series in the next batch stays inline.
        let (placements, _) = plan(&memo, "a", &times[..1], BodyEncoding::Zstd);
        assert!(shared(&placements[0]).is_none());
        memo.remember("a", [(reference, 300)]);
        let (placements, objects) = plan(&memo, "a", &times[..1], BodyEncoding::Zstd);
        assert!(objects.is_empty());
        assert_eq!(shared(&placements[0]), Some(reference));
        // Another tenant never names tenant a's object.
        let (placements, _) = plan(&memo, "b", &times[..1], BodyEncoding::Zstd);
        assert!(shared(&placements[0]).is_none());
    }
}
