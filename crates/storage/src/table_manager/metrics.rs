//! The table manager's metrics, with Cortex's names so the Cortex mixin's dashboards and
//! alerts (e.g. on `cortex_table_manager_sync_success_timestamp_seconds`) keep working.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of `cortex_table_manager_sync_duration_seconds`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct SyncLabels {
    /// Always `TableManager.SyncTables`, as in Cortex.
    pub operation: String,
    /// `success` or `error`.
    pub status_code: String,
}

/// Labels of `cortex_table_capacity_units`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct CapacityLabels {
    /// `read` or `write`.
    pub op: String,
    /// The table.
    pub table: String,
}

/// The `operation` label value of a sync, Cortex's.
pub const SYNC_OPERATION: &str = "TableManager.SyncTables";

/// Handles to the table manager metrics (cheap to clone; clones share values).
#[derive(Debug, Clone)]
pub struct TableManagerMetrics {
    /// Time spent syncing tables, by outcome.
    pub sync_duration: Family<SyncLabels, Histogram>,
    /// Provisioned capacity of each table, as last described by the backend.
    pub table_capacity: Family<CapacityLabels, Gauge<f64, AtomicU64>>,
    /// Tables that failed to be created in the last sync.
    pub create_failures: Gauge,
    /// Tables that failed to be deleted in the last sync.
    pub delete_failures: Gauge,
    /// Unix time of the last successful sync.
    pub sync_success_timestamp: Gauge<f64, AtomicU64>,
    /// Chunk objects deleted by retention (filesystem chunk store).
    pub chunks_deleted: Counter,
}

impl Default for TableManagerMetrics {
    fn default() -> Self {
        Self {
            // Prometheus's default buckets, as Cortex uses.
            sync_duration: Family::new_with_constructor(|| {
                Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
            }),
            table_capacity: Family::default(),
            create_failures: Gauge::default(),
            delete_failures: Gauge::default(),
            sync_success_timestamp: Gauge::default(),
            chunks_deleted: Counter::default(),
        }
    }
}

impl TableManagerMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "cortex_table_manager_sync_duration_seconds",
            "Time spent synching tables",
            metrics.sync_duration.clone(),
        );
        registry.register(
            "cortex_table_capacity_units",
            "Per-table capacity, measured in DynamoDB capacity units",
            metrics.table_capacity.clone(),
        );
        registry.register(
            "cortex_table_manager_create_failures",
            "Number of table creation failures during the last table-manager reconciliation",
            metrics.create_failures.clone(),
        );
        registry.register(
            "cortex_table_manager_delete_failures",
            "Number of table deletion failures during the last table-manager reconciliation",
            metrics.delete_failures.clone(),
        );
        registry.register(
            "cortex_table_manager_sync_success_timestamp_seconds",
            "Timestamp of the last successful table manager sync",
            metrics.sync_success_timestamp.clone(),
        );
        registry.register(
            "neocortex_table_manager_chunks_deleted",
            "Chunk objects deleted by the table manager's retention (stores without lifecycle rules)",
            metrics.chunks_deleted.clone(),
        );
        metrics
    }

    /// Records one sync's duration and outcome.
    pub(crate) fn observe_sync(&self, seconds: f64, success: bool, now_seconds: f64) {
        let status_code = if success { "success" } else { "error" };
        self.sync_duration
            .get_or_create(&SyncLabels {
                operation: SYNC_OPERATION.to_string(),
                status_code: status_code.to_string(),
            })
            .observe(seconds);
        if success {
            self.sync_success_timestamp.set(now_seconds);
        }
    }

    /// Records a table's provisioned capacity.
    pub(crate) fn set_capacity(&self, table: &str, read: i64, write: i64) {
        for (op, value) in [("read", read), ("write", write)] {
            self.table_capacity
                .get_or_create(&CapacityLabels { op: op.to_string(), table: table.to_string() })
                .set(value as f64);
        }
    }

    /// Forgets the capacity series of a deleted table.
    pub(crate) fn forget_table(&self, table: &str) {
        for op in ["read", "write"] {
            self.table_capacity.remove(&CapacityLabels { op: op.to_string(), table: table.to_string() });
        }
    }
}
