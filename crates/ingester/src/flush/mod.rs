//! Flushing: samples leave ingester memory for the chunk store, as Cortex's chunks-storage
//! ingester does it.
//!
//! Every `flush_period` a sweep looks at each series: chunks stored longer ago than
//! `retain_period` are dropped, series left without chunks are removed from memory, and a
//! series is queued with a [`FlushReason`] when its unflushed samples are older than
//! `max_chunk_age` (minus jitter; or span its point of the cycle with `spread_flushes`), when
//! it has been idle for `max_chunk_idle`, when it ends in a staleness marker and has been idle
//! for `max_stale_chunk_idle`, or at once on [`Flusher::flush_all`] (`/flush`, shutdown).
//!
//! Series hash onto `concurrent_flushes` queues, each drained by one task that takes a batch,
//! closes each series' head chunk, and hands the unflushed chunks of each tenant's series to
//! the [`ChunkSink`] in one call under `flush_op_timeout`. Only when the sink answers `Ok` are
//! the chunks marked stored; they stay in memory (and queryable) for `retain_period`. A failed
//! flush leaves everything in place for the next sweep.

mod metrics;
pub(crate) mod policy;
mod queue;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use neocortex_chunk::XorIter;
use parking_lot::Mutex;
use prometheus_client::registry::Registry;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::flush_sink::{ChunkSink, FlushSeries};
use crate::ingester::Ingester;
use crate::tenant::TenantDb;

use metrics::FlushMetrics;
use policy::FlushPolicy;
pub use policy::FlushReason;
use queue::{FlushOp, FlushQueue};

/// Most series one queue task takes per round (the sink gets one call per tenant of a round).
const MAX_SERIES_PER_ROUND: usize = 1024;

/// The flush loop and queues of one ingester.
pub struct Flusher {
    ingester: Arc<Ingester>,
    sink: Arc<dyn ChunkSink>,
    policy: FlushPolicy,
    flush_period: Duration,
    op_timeout: Duration,
    queues: Vec<FlushQueue>,
    metrics: FlushMetrics,
    /// Series queued or being flushed.
    pending: AtomicUsize,
    /// Series whose flush failed or timed out, since start (what `/flush?wait=true` reports).
    failed_series: AtomicU64,
    idle: Notify,
    stopping: AtomicBool,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Flusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flusher")
            .field("queues", &self.queues.len())
            .field("pending", &self.pending.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Flusher {
    /// A flusher of `ingester` into `sink`, registering its metrics; call [`Flusher::start`]
    /// to run it.
    pub fn new(ingester: Arc<Ingester>, sink: Arc<dyn ChunkSink>, registry: &mut Registry) -> Arc<Self> {
        let config = ingester.config();
        let queues = (0..config.concurrent_flushes.max(1)).map(|_| FlushQueue::default()).collect();
        Arc::new(Self {
            policy: FlushPolicy::from_config(config),
            flush_period: config.flush_period.0.max(Duration::from_millis(10)),
            op_timeout: config.flush_op_timeout.0,
            queues,
            metrics: FlushMetrics::register(registry),
            pending: AtomicUsize::new(0),
            failed_series: AtomicU64::new(0),
            idle: Notify::new(),
            stopping: AtomicBool::new(false),
            tasks: Mutex::new(Vec::new()),
            ingester,
            sink,
        })
    }

    /// Starts the periodic sweep and one task per queue (on the current tokio runtime).
    pub fn start(self: &Arc<Self>) {
        let mut tasks = self.tasks.lock();
        for index in 0..self.queues.len() {
            let flusher = Arc::clone(self);
            tasks.push(tokio::spawn(async move { flusher.drain_queue(index).await }));
        }
        let flusher = Arc::clone(self);
        tasks.push(tokio::spawn(async move {
            let period = flusher.flush_period;
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !flusher.stopping.load(Ordering::Relaxed) {
                ticks.tick().await;
                flusher.sweep(false);
            }
        }));
    }

    /// One pass over every series of every tenant (what the loop does each `flush_period`);
    /// `immediate` queues every series with unflushed samples. Returns how many series were
    /// queued.
    pub fn sweep(&self, immediate: bool) -> usize {
        let now_ms = self.ingester.now_ms();
        let mut queued = 0;
        for tenant in self.ingester.tenant_dbs() {
            let outcome = tenant.sweep(&self.policy, now_ms, immediate, &mut |series, reason| {
                let op = FlushOp { tenant: Arc::clone(&tenant), series, immediate, reason };
                if self.enqueue(op) {
                    queued += 1;
                }
            });
            self.ingester.record_sweep(&tenant, outcome);
            if outcome.removed_series > 0 {
                self.ingester.remove_if_empty(&tenant);
            }
        }
        queued
    }

    /// Queues every series with unflushed samples for an immediate flush (Cortex's `/flush`);
    /// returns without waiting for the flushes.
    pub fn flush_all(&self) -> usize {
        self.sweep(true)
    }

    /// How many series failed to flush (error or timeout) since start; a caller waiting for
    /// its flushes compares it before and after to learn whether they all landed.
    pub fn failed_series_total(&self) -> u64 {
        self.failed_series.load(Ordering::SeqCst)
    }

    /// Waits until no series is queued or being flushed.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.pending.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Flushes everything now and waits up to `timeout`, retrying failed flushes; returns
    /// whether every series was flushed.
    pub async fn flush_all_and_wait(&self, timeout: Duration) -> bool {
        let everything_flushed = async {
            loop {
                self.flush_all();
                self.wait_idle().await;
                if self.ingester.unflushed_series() == 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        };
        tokio::time::timeout(timeout, everything_flushed).await.is_ok()
    }

    /// Stops the sweep loop and the queue tasks (queued series stay in memory).
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        for queue in &self.queues {
            queue.wake();
        }
        for task in self.tasks.lock().drain(..) {
            task.abort();
        }
    }

    fn enqueue(&self, op: FlushOp) -> bool {
        let index = queue_index(&op, self.queues.len());
        let reason = op.reason;
        self.pending.fetch_add(1, Ordering::SeqCst);
        if !self.queues[index].enqueue(op) {
            self.finish(1);
            return false;
        }
        self.metrics.queue_length.inc();
        FlushMetrics::by_reason(&self.metrics.enqueued_series, reason.as_str()).inc();
        true
    }

    fn finish(&self, count: usize) {
        if count > 0 && self.pending.fetch_sub(count, Ordering::SeqCst) == count {
            self.idle.notify_waiters();
        }
    }

    async fn drain_queue(&self, index: usize) {
        let queue = &self.queues[index];
        while !self.stopping.load(Ordering::Relaxed) {
            let ops = queue.take(MAX_SERIES_PER_ROUND);
            if ops.is_empty() {
                queue.wait().await;
                continue;
            }
            let count = ops.len();
            self.metrics.queue_length.dec_by(count as i64);
            self.flush_ops(ops).await;
            self.finish(count);
        }
    }

    /// Flushes a round of queued series: one sink call per tenant.
    async fn flush_ops(&self, ops: Vec<FlushOp>) {
        let mut by_tenant: Vec<(Arc<TenantDb>, Vec<FlushOp>)> = Vec::new();
        for op in ops {
            match by_tenant.iter_mut().find(|(tenant, _)| Arc::ptr_eq(tenant, &op.tenant)) {
                Some((_, list)) => list.push(op),
                None => by_tenant.push((Arc::clone(&op.tenant), vec![op])),
            }
        }
        for (tenant, ops) in by_tenant {
            self.flush_tenant(&tenant, ops).await;
        }
    }

    async fn flush_tenant(&self, tenant: &Arc<TenantDb>, ops: Vec<FlushOp>) {
        let now_ms = self.ingester.now_ms();
        let mut batch = Vec::with_capacity(ops.len());
        let mut flushed = Vec::with_capacity(ops.len());
        for op in &ops {
            let Some(taken) = tenant.take_for_flush(op.series, &self.policy, now_ms, op.immediate) else {
                continue;
            };
            let through_min_ms = taken.chunks.last().map_or(i64::MIN, |chunk| chunk.min_time_ms);
            flushed.push((op.series, through_min_ms, taken.reason));
            batch.push(FlushSeries { labels: taken.labels, chunks: taken.chunks });
        }
        if batch.is_empty() {
            return;
        }
        let stats: Vec<(usize, i64, usize)> = batch
            .iter()
            .flat_map(|series| series.chunks.iter())
            .map(|chunk| (chunk.data.len(), chunk.min_time_ms, XorIter::new(&chunk.data).num_samples()))
            .collect();
        let user = tenant.tenant().clone();
        let series_count = batch.len() as i64;
        self.metrics.series_in_progress.inc_by(series_count);
        let result = tokio::time::timeout(self.op_timeout, self.sink.store(&user, batch)).await;
        self.metrics.series_in_progress.dec_by(series_count);
        match result {
            Ok(Ok(())) => {
                let stored_at_ms = self.ingester.now_ms();
                for (series, through_min_ms, reason) in flushed {
                    tenant.mark_flushed(series, through_min_ms, stored_at_ms);
                    FlushMetrics::by_reason(&self.metrics.flushed_series, reason.as_str()).inc();
                }
                let labels = crate::metrics::UserLabels { user: user.as_str().to_string() };
                self.metrics.chunks_stored.get_or_create(&labels).inc_by(stats.len() as u64);
                let bytes: usize = stats.iter().map(|(bytes, _, _)| bytes).sum();
                self.metrics.chunk_stored_bytes.get_or_create(&labels).inc_by(bytes as u64);
                for (bytes, min_time_ms, samples) in stats {
                    self.metrics.chunk_size_bytes.observe(bytes as f64);
                    self.metrics.chunk_length.observe(samples as f64);
                    self.metrics
                        .chunk_age_seconds
                        .observe((stored_at_ms - min_time_ms).max(0) as f64 / 1000.0);
                }
            }
            Ok(Err(err)) => {
                self.metrics.failed_flushes.inc();
                self.failed_series.fetch_add(series_count as u64, Ordering::SeqCst);
                tracing::warn!(tenant = %user, series = series_count, error = %err, "flush failed; retrying on the next sweep");
            }
            Err(_) => {
                self.metrics.failed_flushes.inc();
                self.failed_series.fetch_add(series_count as u64, Ordering::SeqCst);
                tracing::warn!(tenant = %user, series = series_count, timeout = ?self.op_timeout, "flush timed out; retrying on the next sweep");
            }
        }
    }
}

/// The queue of a series: its ref mixed with its tenant, modulo the queue count.
fn queue_index(op: &FlushOp, queues: usize) -> usize {
    let tenant = op
        .tenant
        .tenant()
        .as_str()
        .bytes()
        .fold(0u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3));
    let mixed = (u64::from(op.series) ^ tenant).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    ((mixed >> 32) % queues as u64) as usize
}
