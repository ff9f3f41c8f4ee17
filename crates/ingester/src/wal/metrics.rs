//! WAL and checkpoint metrics, with Cortex's names.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// Handles to the WAL metrics (cheap to clone; clones share values).
#[derive(Debug, Clone)]
pub struct WalMetrics {
    pub(crate) records_logged: Counter,
    pub(crate) logged_bytes: Counter,
    pub(crate) corruptions: Counter,
    pub(crate) replay_duration: Gauge<f64, AtomicU64>,
    pub(crate) checkpoint_creations: Counter,
    pub(crate) checkpoint_creations_failed: Counter,
    pub(crate) checkpoint_deletions: Counter,
    pub(crate) checkpoint_deletions_failed: Counter,
    pub(crate) checkpoint_duration: Histogram,
}

impl Default for WalMetrics {
    fn default() -> Self {
        Self {
            records_logged: Counter::default(),
            logged_bytes: Counter::default(),
            corruptions: Counter::default(),
            replay_duration: Gauge::default(),
            checkpoint_creations: Counter::default(),
            checkpoint_creations_failed: Counter::default(),
            checkpoint_deletions: Counter::default(),
            checkpoint_deletions_failed: Counter::default(),
            checkpoint_duration: Histogram::new([0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0]),
        }
    }
}

impl WalMetrics {
    /// Creates the metrics and registers them (counters get `_total` appended on exposition).
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "cortex_ingester_wal_records_logged",
            "Total number of WAL records logged",
            metrics.records_logged.clone(),
        );
        registry.register(
            "cortex_ingester_wal_logged_bytes",
            "Total number of bytes written to disk for WAL records",
            metrics.logged_bytes.clone(),
        );
        registry.register(
            "cortex_ingester_wal_corruptions",
            "Total number of WAL corruptions encountered (torn or corrupt records truncated on replay)",
            metrics.corruptions.clone(),
        );
        registry.register(
            "cortex_ingester_wal_replay_duration_seconds",
            "Time taken to replay the checkpoint and the WAL",
            metrics.replay_duration.clone(),
        );
        registry.register(
            "cortex_ingester_checkpoint_creations",
            "Total number of checkpoint creations attempted",
            metrics.checkpoint_creations.clone(),
        );
        registry.register(
            "cortex_ingester_checkpoint_creations_failed",
            "Total number of checkpoint creations that failed",
            metrics.checkpoint_creations_failed.clone(),
        );
        registry.register(
            "cortex_ingester_checkpoint_deletions",
            "Total number of checkpoint deletions attempted",
            metrics.checkpoint_deletions.clone(),
        );
        registry.register(
            "cortex_ingester_checkpoint_deletions_failed",
            "Total number of checkpoint deletions that failed",
            metrics.checkpoint_deletions_failed.clone(),
        );
        registry.register(
            "cortex_ingester_checkpoint_duration_seconds",
            "Time taken to create a checkpoint",
            metrics.checkpoint_duration.clone(),
        );
        metrics
    }
}
