//! The in-memory database of one tenant: series sharded by label-set hash, each shard behind its
//! own lock and each series behind its own small mutex, plus the tenant's postings index,
//! string interner and metadata.
//!
//! Lock order (never acquired the other way): shard -> index; a series mutex is a leaf; the
//! interner's lock is a leaf and its reads take no lock. Queries take the index lock, release
//! it, then visit series shard by shard.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use prometheus_client::metrics::counter::Counter;

use neocortex_core::{
    Label, Labels, LazySeries, Limits, Matcher, PushSeries, Sample, Series, SeriesSamples, TenantId,
    METRIC_NAME,
};

use crate::errors::{format_series, IngestError};
use crate::hash::{bytes_equal, hash_labels};
use crate::interner::Interner;
use crate::metadata::MetadataStore;
use crate::postings::{LabelRef, PostingsIndex, SeriesRef};
use crate::series::{Appended, ClosedChunk, SampleRejection, SeriesData};
use crate::slot_table::SlotTable;

#[path = "wal/tenant_hooks.rs"]
pub(crate) mod wal_hooks;

mod sweep;

pub(crate) use sweep::SweepOutcome;

/// log2 of the number of shards per tenant.
const SHARD_BITS: u32 = 5;
const SHARDS: usize = 1 << SHARD_BITS;
/// Most series one shard can hold (the slot must fit beside the shard in a `SeriesRef`).
const MAX_SLOTS_PER_SHARD: usize = (u32::MAX >> SHARD_BITS) as usize;

/// One series: immutable identity plus mutable samples.
#[derive(Debug)]
struct SeriesEntry {
    labels: Box<[LabelRef]>,
    data: Mutex<SeriesData>,
}

impl SeriesEntry {
    fn labels_equal(&self, labels: &Labels, interner: &Interner) -> bool {
        self.labels.len() == labels.len()
            && self.labels.iter().zip(labels.iter()).all(|(stored, incoming)| {
                bytes_equal(interner.resolve(stored.name).as_bytes(), incoming.name.as_bytes())
                    && bytes_equal(interner.resolve(stored.value).as_bytes(), incoming.value.as_bytes())
            })
    }
}

/// A shard: a hash -> slot table and the series. Slots of removed series (empty labels) are
/// reused, so a series ref stays valid while its series is in memory.
#[derive(Debug, Default)]
struct Shard {
    by_hash: SlotTable,
    series: Vec<SeriesEntry>,
    free_slots: Vec<u32>,
}

impl Shard {
    fn find(&self, hash: u64, labels: &Labels, interner: &Interner) -> Option<u32> {
        self.by_hash.find(hash, |slot| self.series[slot as usize].labels_equal(labels, interner))
    }

    /// Reads the memory a lookup of `hash` will read (table entry, series, first label) and
    /// returns a word derived from it, so the reads are not optimised away.
    fn touch(&self, hash: u64) -> u64 {
        let home = self.by_hash.home_entry(hash);
        let slot = home as u32 as usize;
        match self.series.get(slot) {
            Some(entry) if home != u64::MAX => {
                home ^ entry.labels.first().map_or(0, |label| u64::from(label.value))
            }
            _ => home,
        }
    }

    /// The slot the next `insert` uses.
    fn next_slot(&self) -> u32 {
        self.free_slots.last().copied().unwrap_or(self.series.len() as u32)
    }

    fn insert(&mut self, hash: u64, entry: SeriesEntry) -> u32 {
        if let Some(slot) = self.free_slots.pop() {
            self.series[slot as usize] = entry;
            self.by_hash.insert(hash, slot);
            return slot;
        }
        let slot = self.series.len() as u32;
        if self.series.len() == self.series.capacity() {
            // Grow by a quarter: the table is large and long-lived, doubling would waste memory.
            self.series.reserve_exact((self.series.len() / 4).max(16));
        }
        self.series.push(entry);
        self.by_hash.insert(hash, slot);
        slot
    }
}

fn shard_of(hash: u64) -> usize {
    // The low bits; the slot table works from the high 32.
    (hash as usize) & (SHARDS - 1)
}

fn pack(shard: usize, slot: u32) -> SeriesRef {
    (slot << SHARD_BITS) | shard as u32
}

fn unpack(series: SeriesRef) -> (usize, usize) {
    ((series as usize) & (SHARDS - 1), (series >> SHARD_BITS) as usize)
}

/// Everything a push needs besides the tenant's own state.
#[derive(Debug)]
pub(crate) struct PushContext<'a> {
    pub(crate) limits: &'a Limits,
    pub(crate) metric_names_without_limit: &'a [String],
    pub(crate) instance_series: &'a AtomicU64,
    pub(crate) max_instance_series: u64,
    /// Wall-clock time of the push (a series' last update, for idle flushing).
    pub(crate) now_ms: i64,
}

/// What a push did, summed over its series.
#[derive(Debug, Default)]
pub(crate) struct PushOutcome {
    pub(crate) ingested: u64,
    pub(crate) failed: u64,
    pub(crate) series_created: u64,
    pub(crate) chunks_created: u64,
    /// Samples dropped per discard reason.
    pub(crate) discarded: Vec<(&'static str, u64)>,
    /// The refusal of the earliest series in request order, with that series' position.
    first_error: Option<(u32, IngestError)>,
    /// Request position of the series being handled.
    position: u32,
    /// Folds the words read while warming caches (keeps those reads from being optimised out).
    warm_checksum: u64,
    min_time_ms: Option<i64>,
    max_time_ms: Option<i64>,
    /// The push's WAL record, when the WAL is on: the series created and samples stored.
    pub(crate) wal: Option<crate::wal::RecordBuilder>,
}

impl PushOutcome {
    fn refuse(&mut self, samples: u64, error: impl FnOnce() -> IngestError, reason: Option<&'static str>) {
        self.failed += samples;
        if let Some(reason) = reason {
            match self.discarded.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, count)) => *count += samples,
                None => self.discarded.push((reason, samples)),
            }
        }
        let earlier = self.first_error.as_ref().is_none_or(|(position, _)| self.position < *position);
        if earlier {
            self.first_error = Some((self.position, error()));
        }
    }

    /// The refusal of the earliest refused series in the request, if any.
    pub(crate) fn take_first_error(&mut self) -> Option<IngestError> {
        self.first_error.take().map(|(_, error)| error)
    }

    fn stored(&mut self, series_ref: SeriesRef, timestamp_ms: i64, value: f64) {
        if let Some(wal) = &mut self.wal {
            wal.sample(series_ref, timestamp_ms, value);
        }
        self.ingested += 1;
        self.min_time_ms = Some(self.min_time_ms.map_or(timestamp_ms, |t| t.min(timestamp_ms)));
        self.max_time_ms = Some(self.max_time_ms.map_or(timestamp_ms, |t| t.max(timestamp_ms)));
    }
}

/// The in-memory database of one tenant.
#[derive(Debug)]
pub(crate) struct TenantDb {
    tenant: TenantId,
    shards: Box<[RwLock<Shard>]>,
    index: RwLock<PostingsIndex>,
    interner: Interner,
    metric_name_id: u32,
    series_count: AtomicU64,
    min_time_ms: AtomicI64,
    max_time_ms: AtomicI64,
    metadata: Mutex<MetadataStore>,
    series_created: Counter,
    /// Pushes hold it shared; set (exclusively) once the database left the ingester because it
    /// had no series left, so a push that raced with that retries on a fresh database.
    retired: RwLock<bool>,
}

impl TenantDb {
    /// An empty database for `tenant`.
    pub(crate) fn new(tenant: TenantId, series_created: Counter) -> Self {
        let interner = Interner::default();
        let metric_name_id = interner.intern(METRIC_NAME);
        Self {
            tenant,
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
            index: RwLock::new(PostingsIndex::default()),
            interner,
            metric_name_id,
            series_count: AtomicU64::new(0),
            min_time_ms: AtomicI64::new(i64::MAX),
            max_time_ms: AtomicI64::new(i64::MIN),
            metadata: Mutex::new(MetadataStore::default()),
            series_created,
            retired: RwLock::new(false),
        }
    }

    /// Number of series held.
    pub(crate) fn series_count(&self) -> u64 {
        self.series_count.load(Ordering::Relaxed)
    }

    /// Held shared by a push; `true` when the database was retired (see `retired`).
    pub(crate) fn retired(&self) -> &RwLock<bool> {
        &self.retired
    }

    /// The tenant's metadata store.
    pub(crate) fn metadata(&self) -> &Mutex<MetadataStore> {
        &self.metadata
    }

    /// Stores the samples of a batch of series, creating series as needed.
    ///
    /// Series go in request order, a small window at a time: hash the window's labels, read
    /// each series' table entry and first label (independent loads the CPU overlaps instead of
    /// waiting for one cache miss after another), then look up and append, finding those lines
    /// and the window's request strings still in cache. Series not found are created at the
    /// end, in request order, so limits refuse the same series Cortex would.
    pub(crate) fn push_batch(
        &self,
        batch: &[PushSeries],
        context: &PushContext<'_>,
        outcome: &mut PushOutcome,
    ) {
        const WINDOW: usize = 16;
        let mut missing: Vec<(u64, u32)> = Vec::new();
        let mut hashes = [0u64; WINDOW];
        for (window_index, window) in batch.chunks(WINDOW).enumerate() {
            let first_position = window_index * WINDOW;
            for (hash, series) in hashes.iter_mut().zip(window) {
                *hash = hash_labels(&series.labels);
            }
            let hashes = &hashes[..window.len()];
            for &hash in hashes {
                let warm = self.shards[shard_of(hash)].read().touch(hash);
                outcome.warm_checksum ^= warm;
            }
            for (offset, (&hash, series)) in hashes.iter().zip(window).enumerate() {
                if series.samples.is_empty() {
                    continue;
                }
                let position = (first_position + offset) as u32;
                outcome.position = position;
                let shard = self.shards[shard_of(hash)].read();
                match shard.find(hash, &series.labels, &self.interner) {
                    Some(slot) => {
                        let series_ref = pack(shard_of(hash), slot);
                        append_samples(
                            &mut shard.series[slot as usize].data.lock(),
                            series_ref,
                            series,
                            outcome,
                            context.now_ms,
                        )
                    }
                    None => missing.push((hash, position)),
                }
            }
        }
        for (hash, position) in missing {
            outcome.position = position;
            self.create_and_append(hash, shard_of(hash), &batch[position as usize], context, outcome);
        }
    }

    /// Folds the time range of a finished push into the tenant's range.
    pub(crate) fn record_time_range(&self, outcome: &PushOutcome) {
        if let (Some(min), Some(max)) = (outcome.min_time_ms, outcome.max_time_ms) {
            self.min_time_ms.fetch_min(min, Ordering::Relaxed);
            self.max_time_ms.fetch_max(max, Ordering::Relaxed);
        }
    }

    /// Checks the series limits; `index` gives the per-metric count.
    fn check_limits(
        &self,
        labels: &Labels,
        index: &PostingsIndex,
        context: &PushContext<'_>,
    ) -> Result<(), IngestError> {
        let limits = context.limits;
        if limits.max_series_per_user > 0 && self.series_count() >= limits.max_series_per_user {
            return Err(IngestError::PerUserSeriesLimit {
                local_limit: limits.max_series_per_user,
                global_limit: limits.max_global_series_per_user,
            });
        }
        if limits.max_series_per_metric > 0 {
            if let Some(metric_name) = labels.metric_name() {
                let exempt = context.metric_names_without_limit.iter().any(|name| name == metric_name);
                let count = index.count(self.metric_name_id, metric_name) as u64;
                if !exempt && count >= limits.max_series_per_metric {
                    return Err(IngestError::PerMetricSeriesLimit {
                        local_limit: limits.max_series_per_metric,
                        global_limit: limits.max_global_series_per_metric,
                        series: format_series(labels),
                    });
                }
            }
        }
        if context.max_instance_series > 0
            && context.instance_series.load(Ordering::Relaxed) >= context.max_instance_series
        {
            return Err(IngestError::InstanceSeriesLimit);
        }
        Ok(())
    }

    fn refuse_series(outcome: &mut PushOutcome, series: &PushSeries, error: IngestError) {
        let reason = error.discard_reason();
        outcome.refuse(series.samples.len() as u64, || error, reason);
    }

    fn create_and_append(
        &self,
        hash: u64,
        shard_index: usize,
        series: &PushSeries,
        context: &PushContext<'_>,
        outcome: &mut PushOutcome,
    ) {
        // Check limits before interning so refused series leave no strings behind.
        if let Err(error) = self.check_limits(&series.labels, &self.index.read(), context) {
            Self::refuse_series(outcome, series, error);
            return;
        }
        let labels: Box<[LabelRef]> = series
            .labels
            .iter()
            .map(|label| LabelRef {
                name: self.interner.intern(&label.name),
                value: self.interner.intern(&label.value),
            })
            .collect();
        let mut shard = self.shards[shard_index].write();
        if let Some(slot) = shard.find(hash, &series.labels, &self.interner) {
            // Another push created it meanwhile.
            let series_ref = pack(shard_index, slot);
            append_samples(
                shard.series[slot as usize].data.get_mut(),
                series_ref,
                series,
                outcome,
                context.now_ms,
            );
            return;
        }
        if shard.free_slots.is_empty() && shard.series.len() >= MAX_SLOTS_PER_SHARD {
            Self::refuse_series(outcome, series, IngestError::InstanceSeriesLimit);
            return;
        }
        {
            let mut index = self.index.write();
            if let Err(error) = self.check_limits(&series.labels, &index, context) {
                drop(index);
                drop(shard);
                Self::refuse_series(outcome, series, error);
                return;
            }
            let series_ref = pack(shard_index, shard.next_slot());
            index.add(series_ref, &labels, &self.interner);
            self.series_count.fetch_add(1, Ordering::Relaxed);
            context.instance_series.fetch_add(1, Ordering::Relaxed);
        }
        let slot = shard.insert(hash, SeriesEntry { labels, data: Mutex::new(SeriesData::default()) });
        let series_ref = pack(shard_index, slot);
        if let Some(wal) = &mut outcome.wal {
            wal.series(series_ref, &series.labels);
        }
        outcome.series_created += 1;
        self.series_created.inc();
        append_samples(
            shard.series[slot as usize].data.get_mut(),
            series_ref,
            series,
            outcome,
            context.now_ms,
        );
    }

    /// The series matching `matchers` (all series when empty), sorted by ref.
    fn select_refs(&self, matchers: &[Matcher]) -> Vec<SeriesRef> {
        self.index.read().select(matchers, &self.interner)
    }

    /// Runs `visit` on one series' labels and samples.
    fn with_series<R>(
        &self,
        series: SeriesRef,
        visit: impl FnOnce(&[LabelRef], &SeriesData) -> R,
    ) -> Option<R> {
        let (shard_index, slot) = unpack(series);
        let shard = self.shards.get(shard_index)?.read();
        let entry = shard.series.get(slot)?;
        let data = entry.data.lock();
        Some(visit(&entry.labels, &data))
    }

    fn to_labels(&self, labels: &[LabelRef]) -> Labels {
        Labels::from_sorted(
            labels
                .iter()
                .map(|label| {
                    Label::new(self.interner.resolve(label.name), self.interner.resolve(label.value))
                })
                .collect(),
        )
    }

    /// Whether the tenant's samples span any of `[start_ms, end_ms]`.
    fn overlaps(&self, start_ms: i64, end_ms: i64) -> bool {
        self.min_time_ms.load(Ordering::Relaxed) <= end_ms
            && self.max_time_ms.load(Ordering::Relaxed) >= start_ms
    }

    /// Matching series with their samples in the range, sorted by labels; empty ones left out.
    pub(crate) fn select(&self, start_ms: i64, end_ms: i64, matchers: &[Matcher]) -> Vec<Series> {
        let mut out = Vec::new();
        for series_ref in self.select_refs(matchers) {
            let found = self.with_series(series_ref, |labels, data| {
                let mut samples = Vec::new();
                data.samples_in_range(start_ms, end_ms, &mut samples);
                (!samples.is_empty()).then(|| (labels.to_vec(), samples))
            });
            if let Some(Some((labels, samples))) = found {
                out.push(Series { labels: self.to_labels(&labels), samples });
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// As `select`, with each series' chunks copied still encoded, to be decoded by the reader.
    pub(crate) fn select_lazy(&self, start_ms: i64, end_ms: i64, matchers: &[Matcher]) -> Vec<LazySeries> {
        let mut out = Vec::new();
        for series_ref in self.select_refs(matchers) {
            let found = self.with_series(series_ref, |labels, data| {
                data.encoded_range(start_ms, end_ms).map(|range| (labels.to_vec(), range))
            });
            if let Some(Some((labels, range))) = found {
                out.push(LazySeries {
                    labels: self.to_labels(&labels),
                    samples: SeriesSamples::Lazy(Arc::new(range)),
                });
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// Label refs of matching series with samples in the range.
    fn matching_label_refs(&self, start_ms: i64, end_ms: i64, matchers: &[Matcher]) -> Vec<Box<[LabelRef]>> {
        self.select_refs(matchers)
            .into_iter()
            .filter_map(|series_ref| {
                self.with_series(series_ref, |labels, data| {
                    data.has_samples_in_range(start_ms, end_ms).then(|| labels.into())
                })
                .flatten()
            })
            .collect()
    }

    /// Label sets of matching series with samples in the range, sorted.
    pub(crate) fn series(&self, start_ms: i64, end_ms: i64, matchers: &[Matcher]) -> Vec<Labels> {
        let mut out: Vec<Labels> = self
            .matching_label_refs(start_ms, end_ms, matchers)
            .iter()
            .map(|labels| self.to_labels(labels))
            .collect();
        out.sort();
        out
    }

    /// Sorted label names of matching series with samples in the range.
    pub(crate) fn label_names(&self, start_ms: i64, end_ms: i64, matchers: &[Matcher]) -> Vec<String> {
        let mut names: Vec<String> = if matchers.is_empty() {
            if !self.overlaps(start_ms, end_ms) {
                return Vec::new();
            }
            let index = self.index.read();
            index.names().map(|name| self.interner.resolve(name).to_string()).collect()
        } else {
            let mut ids: Vec<u32> = self
                .matching_label_refs(start_ms, end_ms, matchers)
                .iter()
                .flat_map(|labels| labels.iter().map(|label| label.name))
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids.into_iter().map(|name| self.interner.resolve(name).to_string()).collect()
        };
        names.sort();
        names.dedup();
        names
    }

    /// Sorted values of label `name` over matching series with samples in the range.
    pub(crate) fn label_values(
        &self,
        start_ms: i64,
        end_ms: i64,
        name: &str,
        matchers: &[Matcher],
    ) -> Vec<String> {
        let Some(name_id) = self.interner.lookup(name) else {
            return Vec::new();
        };
        if matchers.is_empty() {
            if !self.overlaps(start_ms, end_ms) {
                return Vec::new();
            }
            return self.index.read().values(name_id).map(|value| value.to_string()).collect();
        }
        let mut ids: Vec<u32> = self
            .matching_label_refs(start_ms, end_ms, matchers)
            .iter()
            .filter_map(|labels| labels.iter().find(|label| label.name == name_id).map(|label| label.value))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let mut values: Vec<String> =
            ids.into_iter().map(|value| self.interner.resolve(value).to_string()).collect();
        values.sort();
        values
    }

    /// Visits every series that has closed chunks (the seam the flusher will use).
    pub(crate) fn for_each_closed_chunks(&self, mut visit: impl FnMut(&Labels, &[ClosedChunk])) {
        for shard in self.shards.iter() {
            let shard = shard.read();
            for entry in &shard.series {
                let data = entry.data.lock();
                if !data.closed_chunks().is_empty() {
                    visit(&self.to_labels(&entry.labels), data.closed_chunks());
                }
            }
        }
    }

    /// Heap bytes held by the tenant's series, index and strings (an estimate from capacities;
    /// allocator overhead not included).
    pub(crate) fn heap_bytes(&self) -> usize {
        let shards: usize = self
            .shards
            .iter()
            .map(|shard| {
                let shard = shard.read();
                let table =
                    shard.series.capacity() * std::mem::size_of::<SeriesEntry>() + shard.by_hash.heap_bytes();
                let per_series: usize = shard
                    .series
                    .iter()
                    .map(|entry| {
                        entry.labels.len() * std::mem::size_of::<LabelRef>() + entry.data.lock().heap_bytes()
                    })
                    .sum();
                table + per_series
            })
            .sum();
        shards + self.index.read().heap_bytes() + self.interner.heap_bytes()
    }

    /// Number of chunks held (closed and open).
    pub(crate) fn chunk_count(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.read().series.iter().map(|e| e.data.lock().chunk_count()).sum::<usize>())
            .sum()
    }

    /// The tenant id.
    pub(crate) fn tenant(&self) -> &TenantId {
        &self.tenant
    }
}

/// Appends a series' samples, recording refusals with Cortex's reasons.
fn append_samples(
    data: &mut SeriesData,
    series_ref: SeriesRef,
    series: &PushSeries,
    outcome: &mut PushOutcome,
    now_ms: i64,
) {
    for &Sample { timestamp_ms, value } in &series.samples {
        match data.append(timestamp_ms, value) {
            Ok(Appended::Stored { new_chunk }) => {
                data.touch(now_ms);
                outcome.stored(series_ref, timestamp_ms, value);
                outcome.chunks_created += u64::from(new_chunk);
            }
            Ok(Appended::Duplicate) => {}
            Err(SampleRejection::OutOfOrder { last_timestamp_ms }) => {
                let error = || IngestError::SampleOutOfOrder {
                    last_timestamp_ms,
                    timestamp_ms,
                    series: format_series(&series.labels),
                };
                outcome.refuse(1, error, Some(crate::errors::REASON_SAMPLE_OUT_OF_ORDER));
            }
            Err(SampleRejection::NewValueForTimestamp { last_value }) => {
                let error = || IngestError::NewValueForTimestamp {
                    last_value,
                    value,
                    series: format_series(&series.labels),
                };
                outcome.refuse(1, error, Some(crate::errors::REASON_NEW_VALUE_FOR_TIMESTAMP));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(interner: &Interner, labels: &Labels) -> SeriesEntry {
        let refs = labels
            .iter()
            .map(|l| LabelRef { name: interner.intern(&l.name), value: interner.intern(&l.value) })
            .collect();
        SeriesEntry { labels: refs, data: Mutex::new(SeriesData::default()) }
    }

    #[test]
    fn colliding_hashes_keep_series_apart() {
        let interner = Interner::default();
        let mut shard = Shard::default();
        let a = Labels::from_pairs([("__name__", "a")]);
        let b = Labels::from_pairs([("__name__", "b")]);
        let c = Labels::from_pairs([("__name__", "c")]);
        let forced_hash = 42;
        let slot_a = shard.insert(forced_hash, entry(&interner, &a));
        let slot_b = shard.insert(forced_hash, entry(&interner, &b));
        assert_ne!(slot_a, slot_b);
        assert_eq!(shard.find(forced_hash, &a, &interner), Some(slot_a));
        assert_eq!(shard.find(forced_hash, &b, &interner), Some(slot_b));
        assert_eq!(shard.find(forced_hash, &c, &interner), None);
    }

    #[test]
    fn refs_pack_shard_and_slot() {
        assert_eq!(unpack(pack(7, 12345)), (7, 12345));
        assert_eq!(unpack(pack(SHARDS - 1, MAX_SLOTS_PER_SHARD as u32)), (SHARDS - 1, MAX_SLOTS_PER_SHARD));
    }
}
