//! One `QueryableSource` over the ingesters and the chunk store.
//!
//! `select` (PromQL and remote read) asks each source the time rules allow, at the same time,
//! and merges: series with equal labels become one, and where both sources hold a sample at
//! the same timestamp (chunks flushed but still retained in memory) one is kept, the
//! ingester's. A store error fails the read, as in Cortex (a selector that names no metric —
//! neither `__name__="x"` nor `__name__=~"x|y"` — gets "query must contain metric name" from the
//! store).
//!
//! The series and label APIs always ask the ingesters, whatever their time range (Cortex does
//! the same), and ask the store too only with `query_store_for_labels_enabled`; the store then
//! answers selectors that name a metric and contributes nothing (and no error) for the others,
//! because its index cannot enumerate series without a metric name. Metric metadata comes
//! from the ingesters only.

use std::sync::Arc;

use async_trait::async_trait;
use neocortex_core::{
    Labels, LazySeries, Matcher, MetricMetadata, QueryError, Queryable, QueryableSource, SelectHints, Series,
    TenantId,
};
use neocortex_ring::merge::{merge_lazy_series, merge_series, merge_strings};
use neocortex_storage::ChunkStore;

use super::routing::Routing;
use crate::config::QuerierConfig;

/// The current time in milliseconds since the epoch; replaceable in tests.
type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

fn system_now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// The chunk store as a `QueryableSource`: each tenant gets its `TenantChunkStore` view.
#[derive(Debug, Clone)]
pub struct ChunkStoreSource {
    store: Arc<ChunkStore>,
}

impl ChunkStoreSource {
    /// Reads `store`.
    pub fn new(store: Arc<ChunkStore>) -> Self {
        Self { store }
    }
}

impl QueryableSource for ChunkStoreSource {
    fn queryable(&self, tenant: &TenantId) -> Arc<dyn Queryable> {
        Arc::new(self.store.for_tenant(tenant.clone()))
    }

    /// The store keeps no metric metadata (Cortex serves it from the ingesters).
    fn metadata(
        &self,
        _tenant: &TenantId,
        _metric: Option<&str>,
        _limit: Option<usize>,
    ) -> Vec<MetricMetadata> {
        Vec::new()
    }
}

/// What the querier reads: the ingesters and, when one is configured, the chunk store.
#[derive(Clone)]
pub struct QuerierSource {
    ingesters: Arc<dyn QueryableSource>,
    store: Option<Arc<dyn QueryableSource>>,
    routing: Routing,
    clock: Clock,
}

impl std::fmt::Debug for QuerierSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuerierSource")
            .field("routing", &self.routing)
            .field("store", &self.store.is_some())
            .finish_non_exhaustive()
    }
}

impl QuerierSource {
    /// Reads `ingesters` and, when given, `store`, with `config`'s time rules. Without a store
    /// the ingesters hold all the data, so they are always asked.
    pub fn new(
        ingesters: Arc<dyn QueryableSource>,
        store: Option<Arc<ChunkStore>>,
        config: &QuerierConfig,
    ) -> Self {
        let store = store.map(|store| Arc::new(ChunkStoreSource::new(store)) as Arc<dyn QueryableSource>);
        Self::with_sources(ingesters, store, Routing::from_config(config))
    }

    /// Reads any two sources with `routing` (the store side need not be a `ChunkStore`).
    pub fn with_sources(
        ingesters: Arc<dyn QueryableSource>,
        store: Option<Arc<dyn QueryableSource>>,
        routing: Routing,
    ) -> Self {
        Self { ingesters, store, routing, clock: Arc::new(system_now_ms) }
    }

    /// Uses `clock` instead of the system time (tests).
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }
}

impl QueryableSource for QuerierSource {
    fn queryable(&self, tenant: &TenantId) -> Arc<dyn Queryable> {
        let ingesters = self.ingesters.queryable(tenant);
        match &self.store {
            None => ingesters,
            Some(store) => Arc::new(MergedQueryable {
                ingesters,
                store: store.queryable(tenant),
                routing: self.routing,
                clock: self.clock.clone(),
            }),
        }
    }

    fn metadata(&self, tenant: &TenantId, metric: Option<&str>, limit: Option<usize>) -> Vec<MetricMetadata> {
        self.ingesters.metadata(tenant, metric, limit)
    }
}

/// One tenant's view of both sources.
struct MergedQueryable {
    ingesters: Arc<dyn Queryable>,
    store: Arc<dyn Queryable>,
    routing: Routing,
    clock: Clock,
}

impl MergedQueryable {
    /// The store's range for a series or label request, when the store is asked at all.
    fn metadata_store_range(&self, hints: SelectHints) -> Option<SelectHints> {
        if !self.routing.query_store_for_labels {
            return None;
        }
        self.routing.store_range(hints, (self.clock)())
    }
}

/// Runs `ingesters` and, when `store` is given, `store`, at the same time; the first error wins.
async fn both<T, I, S>(ingesters: Option<I>, store: Option<S>) -> Result<Vec<T>, QueryError>
where
    I: std::future::Future<Output = Result<T, QueryError>>,
    S: std::future::Future<Output = Result<T, QueryError>>,
{
    let ingesters = async move {
        match ingesters {
            Some(call) => call.await.map(Some),
            None => Ok(None),
        }
    };
    let store = async move {
        match store {
            Some(call) => call.await.map(Some),
            None => Ok(None),
        }
    };
    let (from_ingesters, from_store) = futures::future::try_join(ingesters, store).await?;
    // The ingesters' answer comes first, so it wins on equal timestamps.
    Ok(from_ingesters.into_iter().chain(from_store).collect())
}

#[async_trait]
impl Queryable for MergedQueryable {
    async fn select(&self, hints: SelectHints, matchers: &[Matcher]) -> Result<Vec<Series>, QueryError> {
        let now_ms = (self.clock)();
        let ingesters =
            self.routing.ask_ingesters(hints, now_ms).then(|| self.ingesters.select(hints, matchers));
        let store = self.routing.store_range(hints, now_ms).map(|range| self.store.select(range, matchers));
        Ok(merge_series(both(ingesters, store).await?))
    }

    async fn select_lazy(
        &self,
        hints: SelectHints,
        matchers: &[Matcher],
    ) -> Result<Vec<LazySeries>, QueryError> {
        let now_ms = (self.clock)();
        let ingesters =
            self.routing.ask_ingesters(hints, now_ms).then(|| self.ingesters.select_lazy(hints, matchers));
        let store =
            self.routing.store_range(hints, now_ms).map(|range| self.store.select_lazy(range, matchers));
        Ok(merge_lazy_series(both(ingesters, store).await?))
    }

    async fn label_names(&self, hints: SelectHints, matchers: &[Matcher]) -> Result<Vec<String>, QueryError> {
        let store = self.metadata_store_range(hints).map(|range| self.store.label_names(range, matchers));
        Ok(merge_strings(both(Some(self.ingesters.label_names(hints, matchers)), store).await?))
    }

    async fn label_values(
        &self,
        hints: SelectHints,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, QueryError> {
        let store =
            self.metadata_store_range(hints).map(|range| self.store.label_values(range, name, matchers));
        Ok(merge_strings(both(Some(self.ingesters.label_values(hints, name, matchers)), store).await?))
    }

    async fn series(&self, hints: SelectHints, matchers: &[Matcher]) -> Result<Vec<Labels>, QueryError> {
        let store = self.metadata_store_range(hints).map(|range| self.store.series(range, matchers));
        let mut all: Vec<Labels> =
            both(Some(self.ingesters.series(hints, matchers)), store).await?.into_iter().flatten().collect();
        all.sort();
        all.dedup();
        Ok(all)
    }
}
