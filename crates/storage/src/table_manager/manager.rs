//! One table-manager sync against the backends' table clients, and the loop that repeats it
//! every `poll_interval`.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use neocortex_core::ConfigSection;

use crate::error::StorageError;
use crate::object::ObjectClient;
use crate::schema::config::SchemaConfig;
use crate::table_client::{TableClient, TableDesc};
use crate::table_manager::config::TableManagerConfig;
use crate::table_manager::metrics::TableManagerMetrics;
use crate::table_manager::plan::{
    backends_in, chunk_retention_cutoff, expected_tables, managed_prefixes, needs_update, plan_sync,
    PlanClock, TableBackend,
};

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Tables created.
    pub created: Vec<String>,
    /// Tables whose capacity, mode or tags were changed.
    pub updated: Vec<String>,
    /// Tables deleted by retention.
    pub deleted: Vec<String>,
    /// Tables past the retention left in place because `retention_deletes_enabled` is false.
    pub would_delete: Vec<String>,
    /// Chunk objects deleted by retention (from stores that expire chunks themselves, such as
    /// the filesystem; see [`ObjectClient::delete_chunks_before`]).
    pub deleted_chunks: usize,
    /// What failed (the sync goes on past a failed table).
    pub failures: Vec<String>,
}

/// Reconciles the tables of every backend the schema uses with what the schema and the
/// `table_manager:` config want.
pub struct TableManager {
    config: TableManagerConfig,
    schema: SchemaConfig,
    max_chunk_age: Duration,
    clients: BTreeMap<TableBackend, Arc<dyn TableClient>>,
    /// Object stores whose chunks retention deletes (distinct clients).
    chunk_stores: Vec<Arc<dyn ObjectClient>>,
    /// The chunk cutoff of the last complete chunk deletion: the walk over a store runs again
    /// only once the cutoff moves (once per index table period).
    chunk_cutoff_done: Mutex<Option<i64>>,
    metrics: TableManagerMetrics,
}

impl std::fmt::Debug for TableManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableManager").field("backends", &self.clients.keys().collect::<Vec<_>>()).finish()
    }
}

fn unix_ms(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
}

impl TableManager {
    /// A manager for `schema`. `max_chunk_age` (the ingester's) is how long after its end a
    /// table still gets writes and so stays active. `clients` must hold a table client for
    /// every backend the schema keeps tables in (see [`TableManager::backends_needed`]).
    pub fn new(
        config: TableManagerConfig,
        schema: SchemaConfig,
        max_chunk_age: Duration,
        clients: BTreeMap<TableBackend, Arc<dyn TableClient>>,
        metrics: TableManagerMetrics,
    ) -> Result<Self, StorageError> {
        config.validate().map_err(StorageError::Config)?;
        config.validate_for_schema(&schema).map_err(StorageError::Config)?;
        if let Some(missing) = backends_in(&schema).into_iter().find(|backend| !clients.contains_key(backend))
        {
            return Err(StorageError::Config(format!(
                "the schema keeps tables in {} but the table manager has no {} table client",
                missing.name(),
                missing.name()
            )));
        }
        Ok(Self {
            config,
            schema,
            max_chunk_age,
            clients,
            chunk_stores: Vec::new(),
            chunk_cutoff_done: Mutex::new(None),
            metrics,
        })
    }

    /// Also expires chunk objects in `stores` with retention deletes on (Cortex's table manager
    /// does this for its filesystem object store); stores that leave expiry to a bucket
    /// lifecycle rule ignore it. The same client given twice is walked once.
    pub fn with_chunk_stores(mut self, stores: Vec<Arc<dyn ObjectClient>>) -> Self {
        for store in stores {
            if !self.chunk_stores.iter().any(|known| Arc::ptr_eq(known, &store)) {
                self.chunk_stores.push(store);
            }
        }
        self
    }

    /// The backends whose table clients [`TableManager::new`] needs for `schema`.
    pub fn backends_needed(schema: &SchemaConfig) -> Vec<TableBackend> {
        backends_in(schema).into_iter().collect()
    }

    /// One sync as of `now_ms`: creates missing tables, updates settings that differ, deletes
    /// (or, with retention deletes disabled, reports) tables past the retention. Failures of
    /// single tables are collected in the report; the rest of the sync goes on.
    pub async fn sync_tables_at(&self, now_ms: i64) -> SyncReport {
        let clock = PlanClock::new(&self.config, self.max_chunk_age, now_ms);
        let expected = expected_tables(&self.schema, &self.config, clock);
        let managed = managed_prefixes(&self.schema);
        let mut report = SyncReport::default();
        let (mut create_failures, mut delete_failures) = (0, 0);
        for backend in backends_in(&self.schema) {
            let Some(client) = self.clients.get(&backend) else { continue };
            let existing = match client.list_tables().await {
                Ok(existing) => existing,
                Err(error) => {
                    report.failures.push(format!("listing {} tables: {error}", backend.name()));
                    continue;
                }
            };
            let plan = plan_sync(backend, &expected, &existing, &managed, clock);
            for desc in plan.create {
                let name = desc.name.clone();
                match client.create_table(desc).await {
                    Ok(()) => {
                        tracing::info!(table = %name, backend = backend.name(), "created table");
                        report.created.push(name);
                    }
                    Err(error) => {
                        create_failures += 1;
                        report.failures.push(format!("creating table {name}: {error}"));
                    }
                }
            }
            for desc in plan.check {
                self.check_table(client.as_ref(), desc, &mut report).await;
            }
            for name in plan.delete {
                if !self.config.retention_deletes_enabled {
                    tracing::info!(
                        table = %name,
                        "table is past the retention period; it would be deleted if retention deletes were enabled"
                    );
                    report.would_delete.push(name);
                    continue;
                }
                match client.delete_table(&name).await {
                    Ok(()) => {
                        tracing::info!(table = %name, backend = backend.name(), "deleted table past the retention period");
                        self.metrics.forget_table(&name);
                        report.deleted.push(name);
                    }
                    Err(error) => {
                        delete_failures += 1;
                        report.failures.push(format!("deleting table {name}: {error}"));
                    }
                }
            }
        }
        if self.config.retention_deletes_enabled {
            if let Some(cutoff) = chunk_retention_cutoff(&self.schema, clock) {
                self.delete_chunks_before(cutoff, &mut report).await;
            }
        }
        self.metrics.create_failures.set(create_failures);
        self.metrics.delete_failures.set(delete_failures);
        report
    }

    /// Deletes the chunk objects ending before `cutoff` from every chunk store, unless a
    /// previous sync already did so for this cutoff.
    async fn delete_chunks_before(&self, cutoff: i64, report: &mut SyncReport) {
        if self.chunk_stores.is_empty() || self.chunk_cutoff_done.lock().is_some_and(|done| done >= cutoff) {
            return;
        }
        let mut complete = true;
        for store in &self.chunk_stores {
            match store.delete_chunks_before(cutoff).await {
                Ok(Some(deleted)) => {
                    if deleted > 0 {
                        tracing::info!(
                            deleted,
                            cutoff_ms = cutoff,
                            "deleted chunks past the retention period"
                        );
                    }
                    report.deleted_chunks += deleted;
                    self.metrics.chunks_deleted.inc_by(deleted as u64);
                }
                Ok(None) => {}
                Err(error) => {
                    complete = false;
                    report.failures.push(format!("deleting chunks before {cutoff} ms: {error}"));
                }
            }
        }
        if complete {
            *self.chunk_cutoff_done.lock() = Some(cutoff);
        }
    }

    /// Describes an existing expected table, records its capacity and updates it if needed.
    async fn check_table(&self, client: &dyn TableClient, expected: TableDesc, report: &mut SyncReport) {
        if !client.has_table_settings() {
            return;
        }
        let (current, active) = match client.describe_table(&expected.name).await {
            Ok(described) => described,
            Err(error) => {
                report.failures.push(format!("describing table {}: {error}", expected.name));
                return;
            }
        };
        self.metrics.set_capacity(&expected.name, current.provisioned_read, current.provisioned_write);
        if self.config.throughput_updates_disabled || !needs_update(&current, &expected) {
            return;
        }
        if !active {
            tracing::info!(table = %expected.name, "skipping update on table, not yet ACTIVE");
            return;
        }
        let name = expected.name.clone();
        match client.update_table(current, expected).await {
            Ok(()) => {
                tracing::info!(table = %name, "updated table capacity and tags");
                report.updated.push(name);
            }
            Err(error) => report.failures.push(format!("updating table {name}: {error}")),
        }
    }

    /// One sync now, recorded in `cortex_table_manager_sync_duration_seconds` and, when it
    /// succeeds, `cortex_table_manager_sync_success_timestamp_seconds`.
    pub async fn sync_tables(&self) -> SyncReport {
        let started = Instant::now();
        let report = self.sync_tables_at(unix_ms(SystemTime::now())).await;
        let success = report.failures.is_empty();
        if !success {
            tracing::warn!(failures = ?report.failures, "error syncing tables");
        }
        let now_seconds = unix_ms(SystemTime::now()) as f64 / 1000.0;
        self.metrics.observe_sync(started.elapsed().as_secs_f64(), success, now_seconds);
        report
    }

    /// Syncs at once and then every `poll_interval` until `shutdown` completes.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        let mut ticker = tokio::time::interval(self.config.poll_interval.0);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = ticker.tick() => {
                    self.sync_tables().await;
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "manager_tests.rs"]
mod tests;
