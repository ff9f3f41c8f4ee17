//! Replay on start: the newest checkpoint, then the segments after it, into the ingester.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use neocortex_core::TenantId;

use crate::ingester::Ingester;
use crate::series::SeriesData;
use crate::tenant::wal_hooks::Replayed;
use crate::tenant::TenantDb;
use crate::wal::encoding::{decode_push, DecodeError, Reader, RefSample, TYPE_CHECKPOINT, TYPE_PUSH};
use crate::wal::metrics::WalMetrics;
use crate::wal::segment::{
    self, checkpoint_path, segment_path, FileRecords, Stop, CHECKPOINT_MAGIC, SEGMENT_MAGIC,
};
use crate::wal::WalError;

/// Largest series ref a record may carry (the ref map is a dense vector).
const MAX_REF: u32 = 1 << 28;
const NO_REF: u32 = u32::MAX;
/// Most samples per tenant held back because their series record is still to come (a push that
/// appended to a series created by a concurrent push can reach the WAL before that push).
const MAX_PENDING: usize = 1 << 20;

/// What a replay restored.
#[derive(Debug, Clone, Default)]
pub struct ReplayStats {
    /// Index of the checkpoint loaded, if any.
    pub checkpoint: Option<u64>,
    /// Segments replayed.
    pub segments: u64,
    /// Bytes read (checkpoint and segments).
    pub bytes: u64,
    /// Series created in memory.
    pub series: u64,
    /// Samples stored (checkpoint chunks not counted).
    pub samples: u64,
    /// Samples from the checkpoint, counted from its chunks.
    pub checkpoint_samples: u64,
    /// Samples skipped: already held (checkpoint and WAL overlap) or out of order.
    pub skipped_samples: u64,
    /// Samples whose series record was missing (lost with a corrupt record).
    pub orphan_samples: u64,
    /// Torn or corrupt records found (each ended its file).
    pub corruptions: u64,
    /// Time taken.
    pub duration: Duration,
}

impl ReplayStats {
    /// Series restored per second.
    pub fn series_per_second(&self) -> f64 {
        self.series as f64 / self.duration.as_secs_f64().max(1e-9)
    }

    /// Samples restored (WAL samples plus checkpoint samples) per second.
    pub fn samples_per_second(&self) -> f64 {
        (self.samples + self.checkpoint_samples) as f64 / self.duration.as_secs_f64().max(1e-9)
    }
}

/// One tenant during replay: its database and the writer's refs mapped to memory refs.
struct TenantState {
    db: Arc<TenantDb>,
    refs: Vec<u32>,
    /// Samples whose series record has not been read yet.
    pending: Vec<RefSample>,
}

impl TenantState {
    fn map(&mut self, from: u32, to: u32) -> Result<(), &'static str> {
        if from >= MAX_REF {
            return Err("series ref out of range");
        }
        let from = from as usize;
        if self.refs.len() <= from {
            self.refs.resize((from + 1).next_power_of_two(), NO_REF);
        }
        self.refs[from] = to;
        Ok(())
    }

    fn lookup(&self, from: u32) -> Option<u32> {
        self.refs.get(from as usize).copied().filter(|&to| to != NO_REF)
    }
}

/// Outcomes of replayed samples.
#[derive(Default)]
struct Counts {
    stored: u64,
    skipped: u64,
    orphans: u64,
    chunks: u64,
}

impl Counts {
    fn add(&mut self, replayed: Option<Replayed>) {
        match replayed {
            Some(Replayed::Stored { new_chunk }) => {
                self.stored += 1;
                self.chunks += u64::from(new_chunk);
            }
            Some(Replayed::Skipped) => self.skipped += 1,
            None => self.orphans += 1,
        }
    }
}

struct Replayer<'a> {
    ingester: &'a Ingester,
    run_id: Option<u64>,
    tenants: HashMap<String, TenantState>,
    samples: Vec<RefSample>,
    stats: ReplayStats,
    chunks: u64,
}

fn reason(err: DecodeError) -> &'static str {
    match err {
        DecodeError::Truncated => "record truncated",
        DecodeError::Invalid(reason) => reason,
    }
}

impl Replayer<'_> {
    /// Starts the ref maps afresh when the file was written by another run.
    fn enter_run(&mut self, run_id: Option<u64>) {
        if run_id != self.run_id {
            self.run_id = run_id;
            self.drop_pending();
            for state in self.tenants.values_mut() {
                state.refs.clear();
            }
        }
    }

    /// Counts the samples still waiting for their series record as orphans.
    fn drop_pending(&mut self) {
        for state in self.tenants.values_mut() {
            self.stats.orphan_samples += state.pending.len() as u64;
            state.pending.clear();
        }
    }

    fn tenant(&mut self, name: &str) -> Result<&mut TenantState, &'static str> {
        if !self.tenants.contains_key(name) {
            let tenant = TenantId::new(name).map_err(|_| "invalid tenant id")?;
            let db = self.ingester.replay_tenant(&tenant);
            self.tenants.insert(name.to_string(), TenantState { db, refs: Vec::new(), pending: Vec::new() });
        }
        self.tenants.get_mut(name).ok_or("tenant vanished")
    }

    fn checkpoint_record(&mut self, payload: &[u8]) -> Result<(), &'static str> {
        let mut reader = Reader::new(payload);
        if reader.byte().map_err(reason)? != TYPE_CHECKPOINT {
            return Err("unknown checkpoint record type");
        }
        let tenant = reader.string().map_err(reason)?;
        let count = reader.count().map_err(reason)?;
        let ingester = self.ingester;
        let instance_series = ingester.instance_series_counter();
        let state = self.tenant(tenant)?;
        let mut created = 0u64;
        let mut samples = 0u64;
        let mut chunks = 0u64;
        for _ in 0..count {
            let series_ref = reader.u32().map_err(reason)?;
            let labels = reader.labels().map_err(reason)?;
            let data = SeriesData::decode_checkpoint(&mut reader).map_err(reason)?;
            let series_chunks = data.chunk_count() as u64;
            let series_samples = data.sample_count() as u64;
            let (memory_ref, new) = state.db.restore_series(&labels, Some(data), instance_series);
            state.map(series_ref, memory_ref)?;
            if new {
                created += 1;
                chunks += series_chunks;
                samples += series_samples;
            }
        }
        if !reader.is_empty() {
            return Err("trailing bytes after checkpoint record");
        }
        self.stats.series += created;
        self.stats.checkpoint_samples += samples;
        self.chunks += chunks;
        Ok(())
    }

    fn push_record(&mut self, payload: &[u8]) -> Result<(), &'static str> {
        let mut reader = Reader::new(payload);
        if reader.byte().map_err(reason)? != TYPE_PUSH {
            return Err("unknown WAL record type");
        }
        let tenant = reader.string().map_err(reason)?;
        let ingester = self.ingester;
        let instance_series = ingester.instance_series_counter();
        let mut samples = std::mem::take(&mut self.samples);
        samples.clear();
        let state = self.tenant(tenant)?;
        let mut created = 0u64;
        let mut mapped = false;
        let mut mapping_error = None;
        decode_push(
            &mut reader,
            |series_ref, labels| {
                let (memory_ref, new) = state.db.restore_series(&labels, None, instance_series);
                created += u64::from(new);
                mapped = true;
                if let Err(err) = state.map(series_ref, memory_ref) {
                    mapping_error = Some(err);
                }
            },
            &mut samples,
        )
        .map_err(reason)?;
        if let Some(err) = mapping_error {
            return Err(err);
        }
        let mut counts = Counts::default();
        for sample in &samples {
            match state.lookup(sample.series_ref) {
                Some(memory_ref) => {
                    counts.add(state.db.replay_sample(memory_ref, sample.timestamp_ms, sample.value))
                }
                None if state.pending.len() < MAX_PENDING => state.pending.push(*sample),
                None => counts.orphans += 1,
            }
        }
        if mapped && !state.pending.is_empty() {
            // Series records just read may be the ones held-back samples were waiting for.
            for sample in std::mem::take(&mut state.pending) {
                match state.lookup(sample.series_ref) {
                    Some(memory_ref) => {
                        counts.add(state.db.replay_sample(memory_ref, sample.timestamp_ms, sample.value))
                    }
                    None => state.pending.push(sample),
                }
            }
        }
        let Counts { stored, skipped, orphans, chunks } = counts;
        self.samples = samples;
        self.stats.series += created;
        self.stats.samples += stored;
        self.stats.skipped_samples += skipped;
        self.stats.orphan_samples += orphans;
        self.chunks += chunks;
        Ok(())
    }
}

/// Replays `dir` into `ingester`; truncates segments at their first bad record.
pub(crate) fn replay(
    dir: &Path,
    listing: &segment::Listing,
    ingester: &Arc<Ingester>,
    metrics: &WalMetrics,
) -> Result<ReplayStats, WalError> {
    let start = Instant::now();
    let mut replayer = Replayer {
        ingester,
        run_id: None,
        tenants: HashMap::new(),
        samples: Vec::new(),
        stats: ReplayStats::default(),
        chunks: 0,
    };
    let checkpoint = listing.checkpoints.last().copied();
    if let Some(index) = checkpoint {
        let path = checkpoint_path(dir, index);
        let read_error = |err| WalError::io(format!("reading checkpoint {}", path.display()), err);
        let mut file = FileRecords::open(&path, CHECKPOINT_MAGIC).map_err(read_error)?;
        replayer.stats.checkpoint = Some(index);
        replayer.stats.bytes += file.len();
        replayer.enter_run(file.run_id);
        let stop = file.for_each(|payload| replayer.checkpoint_record(payload)).map_err(read_error)?;
        if let Stop::Corrupt { offset, reason } = stop {
            // Checkpoints are fsynced before they are renamed into place: this is damage, not a
            // crash. Keep what was read; the series after it are lost.
            replayer.stats.corruptions += 1;
            metrics.corruptions.inc();
            tracing::error!(checkpoint = %path.display(), offset, reason, "corrupt checkpoint: series after this point are lost");
        }
    }
    let first = checkpoint.unwrap_or(0);
    for &index in &listing.segments {
        let path = segment_path(dir, index);
        if index < first {
            // Left behind by a crash after the checkpoint was written.
            let _ = fs::remove_file(&path);
            continue;
        }
        let read_error = |err| WalError::io(format!("reading WAL segment {}", path.display()), err);
        let mut file = FileRecords::open(&path, SEGMENT_MAGIC).map_err(read_error)?;
        replayer.stats.segments += 1;
        replayer.stats.bytes += file.len();
        replayer.enter_run(file.run_id);
        let stop = file.for_each(|payload| replayer.push_record(payload)).map_err(read_error)?;
        if let Stop::Corrupt { offset, reason } = stop {
            replayer.stats.corruptions += 1;
            metrics.corruptions.inc();
            tracing::warn!(
                segment = %path.display(), offset, reason, size = file.len(),
                "torn or corrupt WAL record: truncating the segment there"
            );
            truncate(&path, offset);
        }
    }
    replayer.drop_pending();
    for &index in listing.checkpoints.iter().filter(|&&index| Some(index) < checkpoint) {
        let _ = fs::remove_file(checkpoint_path(dir, index));
    }
    ingester.count_replayed(replayer.stats.series, replayer.chunks);
    let mut stats = replayer.stats;
    stats.duration = start.elapsed();
    metrics.replay_duration.set(stats.duration.as_secs_f64());
    Ok(stats)
}

/// Cuts a segment at a bad record; a segment whose header is bad is removed.
fn truncate(path: &Path, offset: u64) {
    let result = if offset == 0 {
        fs::remove_file(path)
    } else {
        OpenOptions::new().write(true).open(path).and_then(|file| {
            file.set_len(offset)?;
            file.sync_all()
        })
    };
    if let Err(err) = result {
        tracing::warn!(segment = %path.display(), error = %err, "could not truncate a corrupt WAL segment");
    }
}
