//! The WAL's access to the ingester (a child module of `ingester`, so its fields stay
//! private): tenants for replay and checkpoints, the series gauges, and attaching the writer.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use neocortex_core::TenantId;

use super::Ingester;
use crate::tenant::TenantDb;
use crate::wal::writer::WalWriter;

impl Ingester {
    /// The database of `tenant`, created if missing without the tenant limit (replay).
    pub(crate) fn replay_tenant(&self, tenant: &TenantId) -> Arc<TenantDb> {
        if let Some(db) = self.tenants.get(tenant) {
            return db;
        }
        let mut by_id = self.tenants.by_id.write();
        let db = by_id
            .entry(tenant.clone())
            .or_insert_with(|| {
                self.metrics.touch_series_removed(tenant.as_str());
                Arc::new(TenantDb::new(tenant.clone(), self.metrics.series_created_for(tenant.as_str())))
            })
            .clone();
        self.metrics.memory_users.set(by_id.len() as i64);
        db
    }

    /// Every tenant database, sorted by tenant.
    pub(crate) fn tenant_dbs(&self) -> Vec<Arc<TenantDb>> {
        let mut dbs: Vec<Arc<TenantDb>> = self.tenants.by_id.read().values().cloned().collect();
        dbs.sort_by(|a, b| a.tenant().as_str().cmp(b.tenant().as_str()));
        dbs
    }

    /// The process-wide series count the limits use.
    pub(crate) fn instance_series_counter(&self) -> &AtomicU64 {
        &self.instance_series
    }

    /// Adds replayed series and chunks to the memory gauges.
    pub(crate) fn count_replayed(&self, series: u64, chunks: u64) {
        self.metrics.memory_series.inc_by(series as i64);
        self.metrics.memory_chunks.inc_by(chunks as i64);
    }

    /// From now on every push is written to `writer` before it is acknowledged.
    pub(crate) fn attach_wal(&self, writer: Arc<WalWriter>) -> bool {
        self.wal.set(writer).is_ok()
    }
}
