//! The ingester: the write target of the distributor (`Pusher`) and a read source for the
//! querier (`QueryableSource`), holding every tenant's recent series in memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use parking_lot::RwLock;
use prometheus_client::registry::Registry;

use neocortex_core::metrics::{count_discarded, DiscardedSamples};
use neocortex_core::{
    ErrorCode, Labels, LazySeries, Matcher, MetricMetadata, Overrides, PushError, PushRequest, Pusher,
    QueryError, Queryable, QueryableSource, SelectHints, Series, TenantId,
};

use crate::clock::{Clock, SystemClock};
use crate::config::IngesterConfig;
use crate::errors::IngestError;
use crate::metrics::IngesterMetrics;
use crate::series::ClosedChunk;
use crate::tenant::{PushContext, PushOutcome, SweepOutcome, TenantDb};

#[path = "wal/ingester_hooks.rs"]
mod wal_hooks;

/// The tenants held by one ingester, shared with the queryables it hands out.
#[derive(Debug, Default)]
struct Tenants {
    by_id: RwLock<HashMap<TenantId, Arc<TenantDb>>>,
}

impl Tenants {
    fn get(&self, tenant: &TenantId) -> Option<Arc<TenantDb>> {
        self.by_id.read().get(tenant).cloned()
    }
}

/// Per-tenant in-memory series store. Cheap to share: wrap in `Arc` (as `new` does).
#[derive(Debug)]
pub struct Ingester {
    config: IngesterConfig,
    metric_names_without_limit: Vec<String>,
    overrides: Overrides,
    discarded: DiscardedSamples,
    metrics: IngesterMetrics,
    tenants: Arc<Tenants>,
    instance_series: AtomicU64,
    inflight_pushes: AtomicU64,
    /// The WAL every push is written to before it is acknowledged (see `crate::wal`).
    wal: OnceLock<Arc<crate::wal::WalWriter>>,
    clock: Arc<dyn Clock>,
}

/// Decrements the in-flight push count when a push ends, however it ends.
struct InflightGuard<'a>(&'a AtomicU64);

impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Ingester {
    /// Builds an ingester, registering its metrics in `registry`. `discarded` is the shared
    /// `cortex_discarded_samples_total` family (registered by the caller).
    pub fn new(
        config: IngesterConfig,
        overrides: Overrides,
        discarded: DiscardedSamples,
        registry: &mut Registry,
    ) -> Arc<Self> {
        Self::new_with_clock(config, overrides, discarded, registry, Arc::new(SystemClock))
    }

    /// Like [`Ingester::new`] with `clock` as the wall clock (tests move time by hand).
    pub fn new_with_clock(
        config: IngesterConfig,
        overrides: Overrides,
        discarded: DiscardedSamples,
        registry: &mut Registry,
        clock: Arc<dyn Clock>,
    ) -> Arc<Self> {
        let metrics = IngesterMetrics::register(registry);
        Arc::new(Self {
            metric_names_without_limit: config.metric_names_without_series_limit(),
            config,
            overrides,
            discarded,
            metrics,
            tenants: Arc::new(Tenants::default()),
            instance_series: AtomicU64::new(0),
            inflight_pushes: AtomicU64::new(0),
            wal: OnceLock::new(),
            clock,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &IngesterConfig {
        &self.config
    }

    /// The wall clock, in milliseconds since the epoch.
    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Number of series (all tenants) with samples not yet flushed to the store.
    pub fn unflushed_series(&self) -> usize {
        self.tenant_dbs().iter().map(|db| db.unflushed_series()).sum()
    }

    /// Removes `db` from the ingester if it holds no series (its strings, postings and
    /// metadata go with it); waits for pushes into it to finish. Returns whether it was removed.
    pub(crate) fn remove_if_empty(&self, db: &Arc<TenantDb>) -> bool {
        if db.series_count() > 0 {
            return false;
        }
        let mut by_id = self.tenants.by_id.write();
        let mut retired = db.retired().write();
        let current = by_id.get(db.tenant()).is_some_and(|current| Arc::ptr_eq(current, db));
        if *retired || !current || db.series_count() > 0 {
            return false;
        }
        *retired = true;
        by_id.remove(db.tenant());
        self.metrics.memory_users.set(by_id.len() as i64);
        tracing::debug!(tenant = %db.tenant(), "removed empty in-memory tenant database");
        true
    }

    /// Accounts for chunks dropped and series removed by a flush sweep of `db`.
    pub(crate) fn record_sweep(&self, db: &TenantDb, outcome: SweepOutcome) {
        if outcome.dropped_chunks > 0 {
            self.metrics.memory_chunks.dec_by(outcome.dropped_chunks as i64);
        }
        if outcome.removed_series > 0 {
            self.instance_series.fetch_sub(outcome.removed_series, Ordering::Relaxed);
            self.metrics.memory_series.dec_by(outcome.removed_series as i64);
            self.metrics
                .series_removed
                .get_or_create(&crate::metrics::UserLabels { user: db.tenant().as_str().to_string() })
                .inc_by(outcome.removed_series);
        }
    }

    /// Number of series held for `tenant`.
    pub fn series_count(&self, tenant: &TenantId) -> u64 {
        self.tenants.get(tenant).map_or(0, |db| db.series_count())
    }

    /// Number of series held across tenants.
    pub fn total_series(&self) -> u64 {
        self.instance_series.load(Ordering::Relaxed)
    }

    /// Number of chunks (closed and open) held for `tenant`.
    pub fn chunk_count(&self, tenant: &TenantId) -> usize {
        self.tenants.get(tenant).map_or(0, |db| db.chunk_count())
    }

    /// Heap bytes held for `tenant` (series, chunks, postings, strings), estimated from
    /// capacities without allocator overhead.
    pub fn heap_bytes(&self, tenant: &TenantId) -> usize {
        self.tenants.get(tenant).map_or(0, |db| db.heap_bytes())
    }

    /// Visits each series of `tenant` that has closed chunks, with those chunks, oldest first.
    /// This is the seam for flushing to the chunk store.
    pub fn for_each_closed_chunks(&self, tenant: &TenantId, visit: impl FnMut(&Labels, &[ClosedChunk])) {
        if let Some(db) = self.tenants.get(tenant) {
            db.for_each_closed_chunks(visit);
        }
    }

    fn tenant_db(&self, tenant: &TenantId) -> Result<Arc<TenantDb>, IngestError> {
        if let Some(db) = self.tenants.get(tenant) {
            return Ok(db);
        }
        let mut by_id = self.tenants.by_id.write();
        if let Some(db) = by_id.get(tenant) {
            return Ok(db.clone());
        }
        let max_tenants = self.config.instance_limits.max_tenants;
        if max_tenants > 0 && by_id.len() as u64 >= max_tenants {
            return Err(IngestError::InstanceTenantLimit);
        }
        let db = Arc::new(TenantDb::new(tenant.clone(), self.metrics.series_created_for(tenant.as_str())));
        self.metrics.touch_series_removed(tenant.as_str());
        by_id.insert(tenant.clone(), db.clone());
        self.metrics.memory_users.set(by_id.len() as i64);
        tracing::debug!(tenant = %tenant, "created in-memory tenant database");
        Ok(db)
    }

    fn enter_push(&self) -> Result<InflightGuard<'_>, IngestError> {
        let running = self.inflight_pushes.fetch_add(1, Ordering::Relaxed) + 1;
        let guard = InflightGuard(&self.inflight_pushes);
        let max = self.config.instance_limits.max_inflight_push_requests;
        if max > 0 && running > max {
            return Err(IngestError::TooManyInflightPushRequests);
        }
        Ok(guard)
    }

    /// Stores `request` for `tenant` synchronously; `push` is the async face of this.
    pub fn push_sync(&self, tenant: &TenantId, request: &PushRequest) -> Result<(), PushError> {
        let _inflight = self.enter_push().map_err(|err| err.into_push_error(tenant))?;
        let db = self.tenant_db(tenant).map_err(|err| err.into_push_error(tenant))?;
        let retired = db.retired().read();
        if *retired {
            // The database was emptied and removed meanwhile: the retry creates a fresh one.
            drop(retired);
            drop(_inflight);
            return self.push_sync(tenant, request);
        }
        let limits = self.overrides.for_tenant(tenant.as_str());
        let context = PushContext {
            limits: &limits,
            metric_names_without_limit: &self.metric_names_without_limit,
            instance_series: &self.instance_series,
            max_instance_series: self.config.instance_limits.max_series,
            now_ms: self.clock.now_ms(),
        };
        let mut outcome = PushOutcome::default();
        let wal = self.wal.get();
        if wal.is_some() {
            outcome.wal = Some(crate::wal::RecordBuilder::default());
        }
        db.push_batch(&request.series, &context, &mut outcome);
        db.record_time_range(&outcome);
        if !request.metadata.is_empty() {
            let mut store = db.metadata().lock();
            for entry in &request.metadata {
                if let Err(err) =
                    store.add(entry.clone(), limits.max_metadata_per_user, limits.max_metadata_per_metric)
                {
                    tracing::debug!(tenant = %tenant, metric = %entry.metric_family_name, error = %err, "metadata dropped");
                }
            }
        }
        self.record(&db, &outcome);
        if let (Some(wal), Some(record)) = (wal, &outcome.wal) {
            // Acknowledge only what the WAL holds.
            if !record.is_empty() {
                wal.log(&record.finish(tenant.as_str())).map_err(|err| {
                    PushError::new(ErrorCode::Internal, format!("user={tenant}: writing to the WAL: {err}"))
                })?;
            }
        }
        match outcome.take_first_error() {
            Some(error) => Err(error.into_push_error(tenant)),
            None => Ok(()),
        }
    }

    fn record(&self, db: &TenantDb, outcome: &PushOutcome) {
        self.metrics.ingested_samples.inc_by(outcome.ingested);
        if outcome.failed > 0 {
            self.metrics.ingested_samples_failures.inc_by(outcome.failed);
        }
        if outcome.series_created > 0 {
            self.metrics.memory_series.inc_by(outcome.series_created as i64);
        }
        if outcome.chunks_created > 0 {
            self.metrics.memory_chunks.inc_by(outcome.chunks_created as i64);
        }
        for (reason, count) in &outcome.discarded {
            count_discarded(&self.discarded, reason, db.tenant().as_str(), *count);
        }
    }
}

#[async_trait]
impl Pusher for Ingester {
    async fn push(&self, tenant: &TenantId, request: PushRequest) -> Result<(), PushError> {
        self.push_sync(tenant, &request)
    }
}

impl QueryableSource for Ingester {
    fn queryable(&self, tenant: &TenantId) -> Arc<dyn Queryable> {
        Arc::new(TenantQueryable { tenants: self.tenants.clone(), tenant: tenant.clone() })
    }

    fn metadata(&self, tenant: &TenantId, metric: Option<&str>, limit: Option<usize>) -> Vec<MetricMetadata> {
        self.tenants.get(tenant).map(|db| db.metadata().lock().list(metric, limit)).unwrap_or_default()
    }
}

/// Read access to one tenant's in-memory series; it resolves the tenant on each call, so it
/// also sees a tenant created after it was handed out.
#[derive(Debug)]
struct TenantQueryable {
    tenants: Arc<Tenants>,
    tenant: TenantId,
}

#[async_trait]
impl Queryable for TenantQueryable {
    async fn select(&self, hints: SelectHints, matchers: &[Matcher]) -> Result<Vec<Series>, QueryError> {
        Ok(self
            .tenants
            .get(&self.tenant)
            .map(|db| db.select(hints.start_ms, hints.end_ms, matchers))
            .unwrap_or_default())
    }

    async fn select_lazy(
        &self,
        hints: SelectHints,
        matchers: &[Matcher],
    ) -> Result<Vec<LazySeries>, QueryError> {
        Ok(self
            .tenants
            .get(&self.tenant)
            .map(|db| db.select_lazy(hints.start_ms, hints.end_ms, matchers))
            .unwrap_or_default())
    }

    async fn label_names(&self, hints: SelectHints, matchers: &[Matcher]) -> Result<Vec<String>, QueryError> {
        Ok(self
            .tenants
            .get(&self.tenant)
            .map(|db| db.label_names(hints.start_ms, hints.end_ms, matchers))
            .unwrap_or_default())
    }

    async fn label_values(
        &self,
        hints: SelectHints,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, QueryError> {
        Ok(self
            .tenants
            .get(&self.tenant)
            .map(|db| db.label_values(hints.start_ms, hints.end_ms, name, matchers))
            .unwrap_or_default())
    }

    async fn series(&self, hints: SelectHints, matchers: &[Matcher]) -> Result<Vec<Labels>, QueryError> {
        Ok(self
            .tenants
            .get(&self.tenant)
            .map(|db| db.series(hints.start_ms, hints.end_ms, matchers))
            .unwrap_or_default())
    }
}
