//! Writing checkpoints (a snapshot of every in-memory series, atomically put in place) and
//! deleting what they replace; also logging every series at the start of a run.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ingester::Ingester;
use crate::tenant::wal_hooks::TENANT_SHARDS;
use crate::wal::encoding::{frame, put_bytes, put_labels, put_varint, RecordBuilder, TYPE_CHECKPOINT};
use crate::wal::metrics::WalMetrics;
use crate::wal::segment::{
    self, checkpoint_path, checkpoint_temp_path, header, segment_path, CHECKPOINT_MAGIC,
};
use crate::wal::writer::WalWriter;
use crate::wal::WalError;

/// Series per checkpoint record (keeps records far below the reader's size limit).
const SERIES_PER_RECORD: usize = 4096;

/// What one checkpoint wrote and deleted.
#[derive(Debug, Clone, Default)]
pub struct CheckpointStats {
    /// The checkpoint's index: it replaces the segments below it.
    pub index: u64,
    /// Series written.
    pub series: u64,
    /// Size of the checkpoint file.
    pub bytes: u64,
    /// Segments deleted.
    pub deleted_segments: u64,
    /// Older checkpoints deleted.
    pub deleted_checkpoints: u64,
    /// Time taken.
    pub duration: Duration,
}

fn checkpoint_record(tenant: &str, series: usize, body: &[u8], out: &mut Vec<u8>) {
    let mut payload = Vec::with_capacity(16 + tenant.len() + body.len());
    payload.push(TYPE_CHECKPOINT);
    put_bytes(&mut payload, tenant.as_bytes());
    put_varint(&mut payload, series as u64);
    payload.extend_from_slice(body);
    frame(out, &payload);
}

/// Writes `checkpoint.N` (N: the segment started now) and deletes what it replaces.
pub(crate) fn write(
    dir: &Path,
    ingester: &Ingester,
    writer: &WalWriter,
    metrics: &WalMetrics,
) -> Result<CheckpointStats, WalError> {
    let start = Instant::now();
    let index = writer.roll()?;
    let temp = checkpoint_temp_path(dir, index);
    let result = write_file(&temp, ingester, writer.run_id());
    let (series, bytes) = match result {
        Ok(written) => written,
        Err(err) => {
            let _ = fs::remove_file(&temp);
            return Err(err);
        }
    };
    let target = checkpoint_path(dir, index);
    fs::rename(&temp, &target).map_err(|err| WalError::io("renaming the checkpoint into place", err))?;
    segment::sync_dir(dir).map_err(|err| WalError::io("fsync of the WAL directory", err))?;

    let mut stats = CheckpointStats { index, series, bytes, ..CheckpointStats::default() };
    let listing = segment::list(dir).map_err(|err| WalError::io("listing the WAL directory", err))?;
    for old in listing.segments.iter().filter(|&&old| old < index) {
        match fs::remove_file(segment_path(dir, *old)) {
            Ok(()) => stats.deleted_segments += 1,
            Err(err) => tracing::warn!(segment = old, error = %err, "could not delete an old WAL segment"),
        }
    }
    for old in listing.checkpoints.iter().filter(|&&old| old < index) {
        metrics.checkpoint_deletions.inc();
        match fs::remove_file(checkpoint_path(dir, *old)) {
            Ok(()) => stats.deleted_checkpoints += 1,
            Err(err) => {
                metrics.checkpoint_deletions_failed.inc();
                tracing::warn!(checkpoint = old, error = %err, "could not delete an old checkpoint");
            }
        }
    }
    stats.duration = start.elapsed();
    Ok(stats)
}

fn write_file(path: &Path, ingester: &Ingester, run_id: u64) -> Result<(u64, u64), WalError> {
    let file = File::create(path).map_err(|err| WalError::io("creating the checkpoint", err))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let io = |err| WalError::io("writing the checkpoint", err);
    out.write_all(&header(CHECKPOINT_MAGIC, run_id)).map_err(io)?;
    let mut series_total = 0u64;
    let mut bytes_total = segment::HEADER_BYTES as u64;
    let mut records = Vec::new();
    let mut body = Vec::new();
    for db in ingester.tenant_dbs() {
        let tenant = db.tenant().as_str();
        for shard in 0..TENANT_SHARDS {
            let mut in_body = 0usize;
            // Encode under the shard's lock, write after releasing it.
            db.visit_shard(shard, |series_ref, labels, data| {
                put_varint(&mut body, u64::from(series_ref));
                put_labels(&mut body, labels);
                data.encode_checkpoint(&mut body);
                in_body += 1;
                if in_body == SERIES_PER_RECORD {
                    checkpoint_record(tenant, in_body, &body, &mut records);
                    series_total += in_body as u64;
                    in_body = 0;
                    body.clear();
                }
            });
            if in_body > 0 {
                checkpoint_record(tenant, in_body, &body, &mut records);
                series_total += in_body as u64;
                body.clear();
            }
            out.write_all(&records).map_err(io)?;
            bytes_total += records.len() as u64;
            records.clear();
        }
    }
    let file = out.into_inner().map_err(|err| WalError::io("writing the checkpoint", err.into_error()))?;
    file.sync_all().map_err(|err| WalError::io("fsync of the checkpoint", err))?;
    Ok((series_total, bytes_total))
}

/// Logs every series the ingester holds (ref + labels) at the start of a run, so this run's
/// sample records never refer to a series created by an earlier run.
pub(crate) fn log_all_series(ingester: &Arc<Ingester>, writer: &WalWriter) -> Result<(), WalError> {
    for db in ingester.tenant_dbs() {
        let tenant = db.tenant().as_str();
        for shard in 0..TENANT_SHARDS {
            let mut builder = RecordBuilder::default();
            db.visit_shard(shard, |series_ref, labels, _| builder.series(series_ref, labels));
            if !builder.is_empty() {
                writer.log(&builder.finish(tenant))?;
            }
        }
    }
    Ok(())
}
