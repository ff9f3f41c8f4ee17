//! The flusher's access to one tenant: a sweep over every series (drop chunks past the retain
//! period, remove series left without chunks, report series due for a flush), taking a series'
//! unflushed chunks, and marking them stored once the sink accepted them.

use std::sync::atomic::Ordering;

use neocortex_core::Labels;

use super::{pack, unpack, Shard, TenantDb};
use crate::flush::policy::{FlushPolicy, FlushReason, SeriesView};
use crate::hash::hash_labels;
use crate::postings::{LabelRef, SeriesRef};
use crate::series::{ClosedChunk, SeriesData};

/// What one sweep of a tenant changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SweepOutcome {
    /// Stored chunks dropped from memory after the retain period.
    pub(crate) dropped_chunks: u64,
    /// Series removed from memory (no chunks left).
    pub(crate) removed_series: u64,
}

/// A series' unflushed chunks, taken for one flush.
#[derive(Debug)]
pub(crate) struct ToFlush {
    /// The series.
    pub(crate) labels: Labels,
    /// Its unflushed chunks (head closed), oldest first.
    pub(crate) chunks: Vec<ClosedChunk>,
    /// Why it is flushed.
    pub(crate) reason: FlushReason,
}

/// A stable-per-process fingerprint of a series from its interned label ids (places it in the
/// jitter range and the spread cycle).
fn fingerprint(labels: &[LabelRef]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for label in labels {
        for word in [label.name, label.value] {
            hash ^= u64::from(word);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    // Finalise so that the low bits (used modulo the age) depend on every label.
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^ (hash >> 33)
}

fn view(data: &SeriesData) -> SeriesView {
    SeriesView {
        first_unflushed_ms: data.first_unflushed_ms(),
        last_sample_ms: data.last_sample_ms(),
        last_update_ms: data.last_update_ms(),
        ends_stale: data.ends_stale(),
    }
}

impl TenantDb {
    /// One flush-loop pass over the tenant's series: drops stored chunks older than the retain
    /// period, removes series left without chunks, and calls `due` for each series to flush.
    pub(crate) fn sweep(
        &self,
        policy: &FlushPolicy,
        now_ms: i64,
        immediate: bool,
        due: &mut dyn FnMut(SeriesRef, FlushReason),
    ) -> SweepOutcome {
        let cutoff_ms = now_ms.saturating_sub(policy.retain_period_ms);
        let mut outcome = SweepOutcome::default();
        for (shard_index, shard) in self.shards.iter().enumerate() {
            let mut empty = Vec::new();
            {
                let shard = shard.read();
                for (slot, entry) in shard.series.iter().enumerate() {
                    if entry.labels.is_empty() {
                        continue;
                    }
                    let decision = {
                        let mut data = entry.data.lock();
                        outcome.dropped_chunks += data.drop_flushed(cutoff_ms) as u64;
                        if data.is_empty() {
                            empty.push(slot);
                            continue;
                        }
                        if data.last_update_ms() == 0 {
                            // Restored from the WAL: idle time counts from now.
                            data.touch(now_ms);
                        }
                        policy.decide(&view(&data), fingerprint(&entry.labels), now_ms, immediate)
                    };
                    if let Some(reason) = decision {
                        due(pack(shard_index, slot as u32), reason);
                    }
                }
            }
            if !empty.is_empty() {
                outcome.removed_series += self.remove_empty(shard_index, &empty);
            }
        }
        outcome
    }

    /// Removes the series in `slots` of one shard that are still empty: out of the hash table
    /// and the postings, slot freed for reuse.
    fn remove_empty(&self, shard_index: usize, slots: &[usize]) -> u64 {
        let mut shard = self.shards[shard_index].write();
        let mut index = self.index.write();
        let Shard { by_hash, series, free_slots } = &mut *shard;
        let mut removed = 0;
        for &slot in slots {
            let Some(entry) = series.get_mut(slot) else { continue };
            if entry.labels.is_empty() || !entry.data.get_mut().is_empty() {
                continue;
            }
            let labels = std::mem::take(&mut entry.labels);
            *entry.data.get_mut() = SeriesData::default();
            by_hash.remove(hash_labels(&self.to_labels(&labels)), slot as u32);
            index.remove(pack(shard_index, slot as u32), &labels, &self.interner);
            free_slots.push(slot as u32);
            self.series_count.fetch_sub(1, Ordering::Relaxed);
            removed += 1;
        }
        removed
    }

    /// Closes the head of `series` and takes copies of its unflushed chunks, if the series is
    /// (still) due for a flush.
    pub(crate) fn take_for_flush(
        &self,
        series: SeriesRef,
        policy: &FlushPolicy,
        now_ms: i64,
        immediate: bool,
    ) -> Option<ToFlush> {
        let (shard_index, slot) = unpack(series);
        let shard = self.shards.get(shard_index)?.read();
        let entry = shard.series.get(slot)?;
        if entry.labels.is_empty() {
            return None;
        }
        let mut data = entry.data.lock();
        let reason = policy.decide(&view(&data), fingerprint(&entry.labels), now_ms, immediate)?;
        let chunks = data.take_unflushed();
        drop(data);
        if chunks.is_empty() {
            return None;
        }
        Some(ToFlush { labels: self.to_labels(&entry.labels), chunks, reason })
    }

    /// Number of series with samples not yet in the store.
    pub(crate) fn unflushed_series(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let shard = shard.read();
                shard.series.iter().filter(|entry| entry.data.lock().first_unflushed_ms().is_some()).count()
            })
            .sum()
    }

    /// Marks the chunks of `series` up to the one starting at `through_min_ms` as stored.
    pub(crate) fn mark_flushed(&self, series: SeriesRef, through_min_ms: i64, now_ms: i64) -> usize {
        let (shard_index, slot) = unpack(series);
        let Some(shard) = self.shards.get(shard_index) else { return 0 };
        let shard = shard.read();
        shard.series.get(slot).map_or(0, |entry| entry.data.lock().mark_flushed(through_min_ms, now_ms))
    }
}
