//! The ingester's WAL in the process: opened (and replayed) before the ingester reports
//! Running, an fsync loop and a checkpoint loop while it runs, and a final checkpoint and close
//! once the servers have drained on shutdown.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use neocortex_ingester::wal::FSYNC_INTERVAL;
use neocortex_ingester::{Ingester, Wal, WalConfig, WalMetrics};
use prometheus_client::registry::Registry;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The open WAL and its background loops.
pub(crate) struct WalService {
    wal: Arc<Wal>,
    final_checkpoint: bool,
    stop: CancellationToken,
    loops: Vec<JoinHandle<()>>,
}

/// Opens the WAL of `ingester` as `config` says: replays it when `recover_from_wal`, logs
/// every push when `wal_enabled`. `None` when both are off.
pub(crate) async fn start(
    ingester: Arc<Ingester>,
    config: &WalConfig,
    registry: &mut Registry,
) -> anyhow::Result<Option<WalService>> {
    if !config.wal_enabled && !config.recover_from_wal {
        return Ok(None);
    }
    let metrics = WalMetrics::register(registry);
    let open_config = config.clone();
    let (wal, stats) = tokio::task::spawn_blocking(move || Wal::open(ingester, &open_config, metrics))
        .await
        .context("WAL replay task")?
        .with_context(|| format!("opening the WAL in {}", config.wal_dir))?;
    tracing::info!(
        dir = %config.wal_dir,
        checkpoint = ?stats.checkpoint,
        segments = stats.segments,
        bytes = stats.bytes,
        series = stats.series,
        samples = stats.samples + stats.checkpoint_samples,
        skipped_samples = stats.skipped_samples,
        orphan_samples = stats.orphan_samples,
        corruptions = stats.corruptions,
        seconds = stats.duration.as_secs_f64(),
        series_per_second = stats.series_per_second() as u64,
        samples_per_second = stats.samples_per_second() as u64,
        "WAL replayed"
    );
    let stop = CancellationToken::new();
    let mut loops = Vec::new();
    let checkpoints = wal.is_writing() && config.checkpoint_enabled;
    if wal.is_writing() {
        loops.push(tokio::spawn(fsync_loop(wal.clone(), stop.clone())));
    }
    if checkpoints {
        let period = config.checkpoint_duration.0.max(Duration::from_secs(1));
        loops.push(tokio::spawn(checkpoint_loop(wal.clone(), period, stop.clone())));
    }
    Ok(Some(WalService { wal, final_checkpoint: checkpoints, stop, loops }))
}

async fn fsync_loop(wal: Arc<Wal>, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(FSYNC_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let wal = wal.clone();
        match tokio::task::spawn_blocking(move || wal.sync()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(error = %err, "WAL fsync failed"),
            Err(err) => tracing::warn!(error = %err, "WAL fsync task failed"),
        }
    }
}

async fn checkpoint_loop(wal: Arc<Wal>, period: Duration, stop: CancellationToken) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        checkpoint(wal.clone()).await;
    }
}

async fn checkpoint(wal: Arc<Wal>) {
    match tokio::task::spawn_blocking(move || wal.checkpoint()).await {
        Ok(Ok(stats)) => tracing::info!(
            index = stats.index,
            series = stats.series,
            bytes = stats.bytes,
            deleted_segments = stats.deleted_segments,
            seconds = stats.duration.as_secs_f64(),
            "WAL checkpoint written"
        ),
        Ok(Err(err)) => tracing::error!(error = %err, "WAL checkpoint failed"),
        Err(err) => tracing::error!(error = %err, "WAL checkpoint task failed"),
    }
}

impl WalService {
    /// Stops the loops, writes a final checkpoint (when checkpoints are on) and closes the WAL.
    /// Call it after the servers stopped taking pushes.
    pub(crate) async fn stop(self) {
        self.stop.cancel();
        for task in self.loops {
            let _ = task.await;
        }
        if self.final_checkpoint {
            checkpoint(self.wal.clone()).await;
        }
        let wal = self.wal;
        match tokio::task::spawn_blocking(move || wal.close()).await {
            Ok(Ok(())) => tracing::info!("WAL closed"),
            Ok(Err(err)) => tracing::error!(error = %err, "closing the WAL failed"),
            Err(err) => tracing::error!(error = %err, "closing the WAL failed"),
        }
    }
}
