//! The ingester's write-ahead log and checkpoints (Cortex's `ingester.walconfig`).
//!
//! Files in `wal_dir`: segments `00000001`, `00000002`, … and checkpoints `checkpoint.NNNNNNNN`.
//! Every file starts with a 16-byte header (magic + the id of the process run that wrote it),
//! then framed records (length, CRC-32C, payload).
//!
//! - A **push record** per push holds the series the push created (ref + labels) and every
//!   sample memory accepted (ref, timestamp, value; delta/varint coded). A push is
//!   acknowledged only once its record is written ([`writer`]).
//! - A **checkpoint** `checkpoint.N` is a snapshot of every in-memory series (ref, labels,
//!   closed chunks, head chunk) taken after starting segment `N`, so it holds everything in
//!   segments below `N`; those segments and older checkpoints are then deleted. It is written
//!   to a temporary file, fsynced, and renamed into place.
//! - **Replay** loads the newest checkpoint, then the segments from `N` on. Samples the
//!   checkpoint already holds are skipped. Series refs are those of the run that wrote the
//!   record; a new run (another header run id) first logs every series it holds, so its
//!   records never refer to series logged by an earlier run. Concurrent pushes to one series
//!   may reach the log in the opposite order to memory; replay holds back samples whose series
//!   record comes later and puts late older samples in place. A torn or corrupt record ends
//!   its segment: the segment is truncated there and the corruption counted.

mod checkpoint;
pub(crate) mod encoding;
mod metrics;
mod replay;
mod segment;
// `series_hooks.rs`, `tenant_hooks.rs` and `ingester_hooks.rs` in this directory are child
// modules of `series`, `tenant` and `ingester` (declared there with `#[path]`), so the WAL can
// reach those types' private fields without widening them.
pub(crate) mod writer;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::config::WalConfig;
use crate::ingester::Ingester;

pub use checkpoint::CheckpointStats;
pub use encoding::{DecodeError, RecordBuilder};
pub use metrics::WalMetrics;
pub use replay::ReplayStats;
pub use writer::WalWriter;

/// Segments are rolled once they would grow beyond this size.
pub const DEFAULT_SEGMENT_BYTES: u64 = 128 << 20;

/// How often the binary fsyncs the active segment: what a power loss (not a process crash)
/// can lose at most.
pub const FSYNC_INTERVAL: Duration = Duration::from_secs(1);

/// A WAL failure.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// An earlier write of the batch this push was in failed.
    #[error("writing the WAL: {0}")]
    Write(String),
    /// The WAL was closed (shutting down).
    #[error("the WAL is closed")]
    Closed,
}

impl WalError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        WalError::Io { context: context.into(), source }
    }
}

/// An open WAL attached to an ingester: replayed on open, written by every push, checkpointed
/// by [`Wal::checkpoint`].
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    ingester: Arc<Ingester>,
    writer: Option<Arc<WalWriter>>,
    metrics: WalMetrics,
    checkpoint_lock: Mutex<()>,
}

impl Wal {
    /// Opens the WAL in `config.wal_dir` for `ingester`: replays it when `recover_from_wal`,
    /// then (when `wal_enabled`) starts a new segment and attaches it to the ingester, so every
    /// later push is logged. Blocking; call it before the ingester takes traffic.
    pub fn open(
        ingester: Arc<Ingester>,
        config: &WalConfig,
        metrics: WalMetrics,
    ) -> Result<(Arc<Wal>, ReplayStats), WalError> {
        Self::open_with(ingester, config, metrics, DEFAULT_SEGMENT_BYTES)
    }

    /// [`Wal::open`] with another segment size (tests roll segments quickly with a small one).
    pub fn open_with(
        ingester: Arc<Ingester>,
        config: &WalConfig,
        metrics: WalMetrics,
        segment_bytes: u64,
    ) -> Result<(Arc<Wal>, ReplayStats), WalError> {
        let dir = PathBuf::from(&config.wal_dir);
        fs::create_dir_all(&dir)
            .map_err(|err| WalError::io(format!("creating WAL directory {}", dir.display()), err))?;
        let listing = segment::list(&dir)
            .map_err(|err| WalError::io(format!("listing WAL directory {}", dir.display()), err))?;
        for temporary in &listing.temporary {
            let _ = fs::remove_file(temporary);
        }
        let stats = if config.recover_from_wal {
            replay::replay(&dir, &listing, &ingester, &metrics)?
        } else {
            ReplayStats::default()
        };
        let writer = if config.wal_enabled {
            let next = next_segment(&listing);
            let writer =
                Arc::new(WalWriter::create(&dir, next, new_run_id(), segment_bytes, metrics.clone())?);
            checkpoint::log_all_series(&ingester, &writer)?;
            ingester.attach_wal(writer.clone());
            Some(writer)
        } else {
            None
        };
        let wal = Arc::new(Wal { dir, ingester, writer, metrics, checkpoint_lock: Mutex::new(()) });
        Ok((wal, stats))
    }

    /// Whether pushes are being logged.
    pub fn is_writing(&self) -> bool {
        self.writer.is_some()
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes a checkpoint of every in-memory series, then deletes the segments and older
    /// checkpoints it replaces. Blocking; one checkpoint at a time.
    pub fn checkpoint(&self) -> Result<CheckpointStats, WalError> {
        let _one_at_a_time = self.checkpoint_lock.lock();
        let writer = self.writer.as_ref().ok_or(WalError::Closed)?;
        self.metrics.checkpoint_creations.inc();
        match checkpoint::write(&self.dir, &self.ingester, writer, &self.metrics) {
            Ok(stats) => {
                self.metrics.checkpoint_duration.observe(stats.duration.as_secs_f64());
                Ok(stats)
            }
            Err(err) => {
                self.metrics.checkpoint_creations_failed.inc();
                Err(err)
            }
        }
    }

    /// Flushes the active segment to disk (see [`FSYNC_INTERVAL`]).
    pub fn sync(&self) -> Result<(), WalError> {
        self.writer.as_ref().map_or(Ok(()), |writer| writer.sync())
    }

    /// Syncs and closes the active segment; pushes after this fail.
    pub fn close(&self) -> Result<(), WalError> {
        let _no_checkpoint_running = self.checkpoint_lock.lock();
        self.writer.as_ref().map_or(Ok(()), |writer| writer.close())
    }
}

/// The index for a new run's first segment: after every existing segment and checkpoint.
fn next_segment(listing: &segment::Listing) -> u64 {
    let after_segments = listing.segments.last().map_or(1, |last| last + 1);
    let checkpoint = listing.checkpoints.last().copied().unwrap_or(0);
    after_segments.max(checkpoint)
}

/// A run id unlikely to repeat: the clock in nanoseconds mixed with the process id.
fn new_run_id() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 40) ^ 0x9e37_79b9_7f4a_7c15
}

#[cfg(test)]
mod tests;
