//! The WAL's access to one tenant's database (a child module of `tenant`, so its fields stay
//! private): creating series and appending samples on replay without limits, and reading
//! consistent per-shard snapshots for checkpoints.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use neocortex_core::Labels;

use super::{pack, shard_of, unpack, SeriesEntry, TenantDb, SHARDS};
use crate::hash::hash_labels;
use crate::postings::{LabelRef, SeriesRef};
use crate::series::{Appended, SampleRejection, SeriesData};

/// Number of shards a tenant's series are spread over (checkpoints go shard by shard).
pub(crate) const TENANT_SHARDS: usize = SHARDS;

/// What replaying one sample did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replayed {
    /// Stored; `new_chunk` when it opened a head chunk.
    Stored { new_chunk: bool },
    /// Already held (the checkpoint and the WAL overlap), or older than everything held: skipped.
    Skipped,
}

impl TenantDb {
    /// Finds or creates the series `labels`, ignoring limits (it was accepted before the
    /// restart). A new series gets `data` (from a checkpoint) or starts empty. Returns its
    /// ref and whether it was created.
    pub(crate) fn restore_series(
        &self,
        labels: &Labels,
        data: Option<SeriesData>,
        instance_series: &AtomicU64,
    ) -> (SeriesRef, bool) {
        let hash = hash_labels(labels);
        let shard_index = shard_of(hash);
        if let Some(slot) = self.shards[shard_index].read().find(hash, labels, &self.interner) {
            return (pack(shard_index, slot), false);
        }
        let label_refs: Box<[LabelRef]> = labels
            .iter()
            .map(|label| LabelRef {
                name: self.interner.intern(&label.name),
                value: self.interner.intern(&label.value),
            })
            .collect();
        let mut shard = self.shards[shard_index].write();
        if let Some(slot) = shard.find(hash, labels, &self.interner) {
            return (pack(shard_index, slot), false);
        }
        // The slot `insert` takes: a freed one (flushed series removed) or the next new one.
        let series_ref = pack(shard_index, shard.next_slot());
        self.index.write().add(series_ref, &label_refs, &self.interner);
        self.series_count.fetch_add(1, Ordering::Relaxed);
        instance_series.fetch_add(1, Ordering::Relaxed);
        let data = data.unwrap_or_default();
        if let Some((min, max)) = data.sample_time_range() {
            self.min_time_ms.fetch_min(min, Ordering::Relaxed);
            self.max_time_ms.fetch_max(max, Ordering::Relaxed);
        }
        shard.insert(hash, SeriesEntry { labels: label_refs, data: Mutex::new(data) });
        self.series_created.inc();
        (series_ref, true)
    }

    /// Appends a replayed sample to the series `series_ref`; `None` when there is no such series.
    pub(crate) fn replay_sample(
        &self,
        series_ref: SeriesRef,
        timestamp_ms: i64,
        value: f64,
    ) -> Option<Replayed> {
        let (shard_index, slot) = unpack(series_ref);
        let shard = self.shards.get(shard_index)?.read();
        let entry = shard.series.get(slot)?;
        let mut data = entry.data.lock();
        let outcome = data.append(timestamp_ms, value);
        Some(match outcome {
            Ok(Appended::Stored { new_chunk }) => {
                self.min_time_ms.fetch_min(timestamp_ms, Ordering::Relaxed);
                self.max_time_ms.fetch_max(timestamp_ms, Ordering::Relaxed);
                Replayed::Stored { new_chunk }
            }
            Err(SampleRejection::OutOfOrder { .. }) => {
                let chunks_before = data.chunk_count();
                if data.insert_replayed(timestamp_ms, value) {
                    Replayed::Stored { new_chunk: data.chunk_count() > chunks_before }
                } else {
                    Replayed::Skipped
                }
            }
            Ok(Appended::Duplicate) | Err(SampleRejection::NewValueForTimestamp { .. }) => Replayed::Skipped,
        })
    }

    /// Visits every series of shard `shard_index` under the shard's read lock (a consistent view
    /// of the shard), with its ref, labels and samples.
    pub(crate) fn visit_shard(
        &self,
        shard_index: usize,
        mut visit: impl FnMut(SeriesRef, &Labels, &SeriesData),
    ) {
        let Some(shard) = self.shards.get(shard_index) else { return };
        let shard = shard.read();
        // Empty labels mark the free slot of a removed series.
        for (slot, entry) in shard.series.iter().enumerate().filter(|(_, entry)| !entry.labels.is_empty()) {
            let labels = self.to_labels(&entry.labels);
            visit(pack(shard_index, slot as u32), &labels, &entry.data.lock());
        }
    }
}
