//! The segment writer: appends framed records to the active segment with group commit, rolls
//! segments at a size, and syncs them to disk.
//!
//! Group commit: a push copies its framed record into the shared queue, then takes the file
//! lock. Whoever holds the file lock writes everything queued so far in one `write` and marks
//! that batch written; a push that finds its batch already written (by an earlier holder)
//! returns at once. So while one write is under way the next pushes queue up and share the
//! following write.
//!
//! Durability: a push returns once its record is in the operating system (page cache), which
//! survives a crash or SIGKILL of the process. Segments are fsynced when they are rolled and by
//! [`WalWriter::sync`] (called periodically); a power loss can lose what was written since.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::wal::metrics::WalMetrics;
use crate::wal::segment::{header, segment_path, sync_dir, HEADER_BYTES, SEGMENT_MAGIC};
use crate::wal::WalError;

/// How many recent failed batches are remembered for the pushes that wait on them.
const REMEMBERED_FAILURES: usize = 64;

#[derive(Debug, Default)]
struct Queue {
    bytes: Vec<u8>,
    records: u64,
    /// Id of the batch being filled.
    batch: u64,
}

#[derive(Debug)]
struct Active {
    file: File,
    index: u64,
    size: u64,
}

/// Appends records to the segments of one WAL directory.
#[derive(Debug)]
pub struct WalWriter {
    dir: PathBuf,
    run_id: u64,
    segment_bytes: u64,
    queue: Mutex<Queue>,
    /// The open segment; `None` once closed.
    active: Mutex<Option<Active>>,
    /// Batches below this id have been written (or failed).
    written: AtomicU64,
    failures: Mutex<VecDeque<(u64, String)>>,
    /// A spare buffer, so the queue does not allocate for every batch.
    spare: Mutex<Vec<u8>>,
    metrics: WalMetrics,
}

impl WalWriter {
    /// Starts segment `index` in `dir` for run `run_id`.
    pub(crate) fn create(
        dir: &Path,
        index: u64,
        run_id: u64,
        segment_bytes: u64,
        metrics: WalMetrics,
    ) -> Result<Self, WalError> {
        let active = open_segment(dir, index, run_id)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            run_id,
            segment_bytes,
            queue: Mutex::new(Queue::default()),
            active: Mutex::new(Some(active)),
            written: AtomicU64::new(0),
            failures: Mutex::new(VecDeque::new()),
            spare: Mutex::new(Vec::new()),
            metrics,
        })
    }

    /// Writes one framed record and returns once it is in the operating system.
    pub(crate) fn log(&self, framed: &[u8]) -> Result<(), WalError> {
        let batch = {
            let mut queue = self.queue.lock();
            queue.bytes.extend_from_slice(framed);
            queue.records += 1;
            queue.batch
        };
        let mut active = self.active.lock();
        if self.written.load(Ordering::Acquire) > batch {
            return self.outcome(batch);
        }
        let (bytes, records, id) = {
            let mut queue = self.queue.lock();
            let spare = std::mem::take(&mut *self.spare.lock());
            let bytes = std::mem::replace(&mut queue.bytes, spare);
            let records = std::mem::take(&mut queue.records);
            let id = queue.batch;
            queue.batch += 1;
            (bytes, records, id)
        };
        let result = self.write_batch(&mut active, &bytes);
        if let Err(err) = &result {
            let mut failures = self.failures.lock();
            if failures.len() == REMEMBERED_FAILURES {
                failures.pop_front();
            }
            failures.push_back((id, err.to_string()));
        } else {
            self.metrics.records_logged.inc_by(records);
            self.metrics.logged_bytes.inc_by(bytes.len() as u64);
        }
        self.written.store(id + 1, Ordering::Release);
        drop(active);
        let mut bytes = bytes;
        bytes.clear();
        *self.spare.lock() = bytes;
        result
    }

    fn outcome(&self, batch: u64) -> Result<(), WalError> {
        match self.failures.lock().iter().find(|(id, _)| *id == batch) {
            Some((_, message)) => Err(WalError::Write(message.clone())),
            None => Ok(()),
        }
    }

    fn write_batch(&self, active: &mut Option<Active>, bytes: &[u8]) -> Result<(), WalError> {
        let Some(current) = active.as_mut() else {
            return Err(WalError::Closed);
        };
        if current.size > HEADER_BYTES as u64 && current.size + bytes.len() as u64 > self.segment_bytes {
            self.roll_locked(active)?;
        }
        let Some(current) = active.as_mut() else {
            return Err(WalError::Closed);
        };
        if let Err(err) = current.file.write_all_at(bytes, current.size) {
            // Never leave a torn record in front of later ones: cut the file back.
            if current.file.set_len(current.size).is_err() {
                // Could not cut: continue in a fresh segment so later records stay readable.
                let _ = self.roll_locked(active);
            }
            return Err(WalError::io("writing a WAL segment", err));
        }
        current.size += bytes.len() as u64;
        Ok(())
    }

    /// Closes the active segment (fsynced in the background) and starts the next one. When the
    /// next one cannot be created the active segment stays in use.
    fn roll_locked(&self, active: &mut Option<Active>) -> Result<u64, WalError> {
        let current = active.as_ref().ok_or(WalError::Closed)?;
        let next = open_segment(&self.dir, current.index + 1, self.run_id)?;
        let index = next.index;
        if let Some(old) = active.replace(next) {
            let dir = self.dir.clone();
            std::thread::spawn(move || {
                if let Err(err) = old.file.sync_all().and_then(|()| sync_dir(&dir)) {
                    tracing::warn!(error = %err, segment = old.index, "fsync of a finished WAL segment failed");
                }
            });
        }
        Ok(index)
    }

    /// Starts a new segment unless the active one is still empty; returns the active segment's
    /// index. Every record logged before this call is in a segment with a lower index.
    pub(crate) fn roll(&self) -> Result<u64, WalError> {
        let mut active = self.active.lock();
        let current = active.as_ref().ok_or(WalError::Closed)?;
        if current.size == HEADER_BYTES as u64 {
            return Ok(current.index);
        }
        self.roll_locked(&mut active)
    }

    /// Flushes the active segment to disk (fdatasync), without blocking pushes meanwhile.
    pub fn sync(&self) -> Result<(), WalError> {
        let file = {
            let active = self.active.lock();
            let Some(current) = active.as_ref() else { return Ok(()) };
            current.file.try_clone().map_err(|err| WalError::io("duplicating the WAL file handle", err))?
        };
        file.sync_data().map_err(|err| WalError::io("fsync of the WAL segment", err))
    }

    /// Syncs and closes the active segment; later pushes fail with [`WalError::Closed`].
    pub(crate) fn close(&self) -> Result<(), WalError> {
        let mut active = self.active.lock();
        if let Some(current) = active.take() {
            current.file.sync_all().map_err(|err| WalError::io("fsync of the WAL segment", err))?;
        }
        Ok(())
    }

    /// The run id written into this writer's segments.
    pub(crate) fn run_id(&self) -> u64 {
        self.run_id
    }
}

fn open_segment(dir: &Path, index: u64, run_id: u64) -> Result<Active, WalError> {
    let path = segment_path(dir, index);
    let file = OpenOptions::new()
        .create_new(true)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|err| WalError::io(format!("creating WAL segment {}", path.display()), err))?;
    file.write_all_at(&header(SEGMENT_MAGIC, run_id), 0)
        .map_err(|err| WalError::io(format!("writing WAL segment {}", path.display()), err))?;
    Ok(Active { file, index, size: HEADER_BYTES as u64 })
}
