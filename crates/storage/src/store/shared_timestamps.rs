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
    cache: moka::future::Cache<(String, TimestampsRef), Arc<[i64]>>,
}

impl DecodedTimestamps {
    pub(crate) fn new() -> Self {
        let cache = moka::future::Cache::builder()
            .max_capacity(DECODED_CAPACITY_BYTES)
            .weigher(|_: &(String, TimestampsRef), timestamps: &Arc<[i64]>| {
                u32::try_from(timestamps.len().saturating_mul(8).saturating_add(64)).unwrap_or(u32::MAX)
            })
            .build();
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
#[derive(Debug)]
pub(crate) enum Placement {
    /// Into its own object: the encoded column.
    Inline(Vec<u8>),
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

/// The timestamps objects this process wrote recently, per tenant.
#[derive(Debug, Default)]
pub(crate) struct TimestampsMemo {
    written: Mutex<HashMap<(String, TimestampsRef, usize), Instant>>,
}

impl TimestampsMemo {
    fn knows(&self, user: &str, reference: &TimestampsRef, len: usize) -> bool {
        let written = self.written.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        written.get(&(user.to_string(), *reference, len)).is_some_and(|at| at.elapsed() < MEMO_TTL)
    }

    /// Records timestamps objects that are now stored.
    pub(crate) fn remember(&self, user: &str, written: impl IntoIterator<Item = (TimestampsRef, usize)>) {
        let mut memo = self.written.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        for (reference, len) in written {
            if memo.len() >= MEMO_CAPACITY {
                memo.retain(|_, at| now.duration_since(*at) < MEMO_TTL);
                if memo.len() >= MEMO_CAPACITY {
                    memo.clear();
                }
            }
            memo.insert((user.to_string(), reference, len), now);
        }
    }
}

/// Decides where the timestamps of each series (`times[i]`, each non-empty) go, and which new
/// timestamps objects the batch writes (each once).
pub(crate) fn plan(
    memo: &TimestampsMemo,
    user: &str,
    times: &[Vec<i64>],
    encoding: BodyEncoding,
) -> (Vec<Placement>, Vec<NewTimestampsObject>) {
    let mut groups: HashMap<&[i64], Vec<usize>> = HashMap::new();
    let mut order = Vec::new();
    for (index, series_times) in times.iter().enumerate() {
        let members = groups.entry(series_times.as_slice()).or_default();
        if members.is_empty() {
            order.push(series_times.as_slice());
        }
        members.push(index);
    }
    let mut placements: Vec<Option<Placement>> = (0..times.len()).map(|_| None).collect();
    let mut new_objects = Vec::new();
    for shared_times in order {
        let members = &groups[shared_times];
        let column = object_format::timestamp_column(shared_times);
        let reference = if object_format::worth_sharing(&column) {
            let (data, reference) = object_format::encode_timestamps_object(shared_times, &column, encoding);
            if memo.knows(user, &reference, shared_times.len()) {
                Some(reference)
            } else if members.len() >= 2 {
                new_objects.push(NewTimestampsObject { reference, len: shared_times.len(), data });
                Some(reference)
            } else {
                None
            }
        } else {
            None
        };
        for &member in members {
            placements[member] = Some(match reference {
                Some(reference) => Placement::Shared(reference),
                None => Placement::Inline(column.clone()),
            });
        }
    }
    let placements = placements.into_iter().map(|p| p.unwrap_or(Placement::Inline(Vec::new()))).collect();
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
            Placement::Inline(_) => None,
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
            assert!(placements.iter().all(|p| matches!(p, Placement::Inline(column) if !column.is_empty())));
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
