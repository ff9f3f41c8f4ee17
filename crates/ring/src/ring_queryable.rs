//! Reads through the ring: asks every readable ingester and merges their answers, so a series
//! stored on several replicas is returned once.

use std::sync::Arc;

use async_trait::async_trait;
use neocortex_core::{
    Labels, LazySeries, Matcher, MetricMetadata, QueryError, Queryable, QueryableSource, SelectHints, Series,
    TenantId,
};

use crate::merge::{merge_lazy_series, merge_series, merge_strings};
use crate::ring::Ring;

/// A `QueryableSource` over every ingester of the ring.
#[derive(Debug, Clone)]
pub struct RingQueryableSource {
    ring: Arc<Ring>,
}

impl RingQueryableSource {
    /// Reads from the ingesters of `ring`.
    pub fn new(ring: Arc<Ring>) -> Self {
        Self { ring }
    }
}

impl QueryableSource for RingQueryableSource {
    fn queryable(&self, tenant: &TenantId) -> Arc<dyn Queryable> {
        let queryables: Vec<Arc<dyn Queryable>> =
            self.ring.readable_instances().iter().map(|i| i.client.queryable(tenant)).collect();
        if queryables.len() == 1 {
            return queryables.into_iter().next().expect("one element");
        }
        Arc::new(MergeQueryable { queryables })
    }

    fn metadata(&self, tenant: &TenantId, metric: Option<&str>, limit: Option<usize>) -> Vec<MetricMetadata> {
        let mut all: Vec<MetricMetadata> = self
            .ring
            .readable_instances()
            .iter()
            .flat_map(|i| i.client.metadata(tenant, metric, limit))
            .collect();
        all.sort_by(|a, b| a.metric_family_name.cmp(&b.metric_family_name));
        all.dedup();
        all
    }
}

/// Merges the answers of several queryables.
struct MergeQueryable {
    queryables: Vec<Arc<dyn Queryable>>,
}

#[async_trait]
impl Queryable for MergeQueryable {
    async fn select(&self, hints: SelectHints, matchers: &[Matcher]) -> Result<Vec<Series>, QueryError> {
        let results =
            futures::future::try_join_all(self.queryables.iter().map(|q| q.select(hints, matchers))).await?;
        Ok(merge_series(results))
    }

    async fn select_lazy(
        &self,
        hints: SelectHints,
        matchers: &[Matcher],
    ) -> Result<Vec<LazySeries>, QueryError> {
        let results =
            futures::future::try_join_all(self.queryables.iter().map(|q| q.select_lazy(hints, matchers)))
                .await?;
        Ok(merge_lazy_series(results))
    }

    async fn label_names(&self, hints: SelectHints, matchers: &[Matcher]) -> Result<Vec<String>, QueryError> {
        let results =
            futures::future::try_join_all(self.queryables.iter().map(|q| q.label_names(hints, matchers)))
                .await?;
        Ok(merge_strings(results))
    }

    async fn label_values(
        &self,
        hints: SelectHints,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, QueryError> {
        let results = futures::future::try_join_all(
            self.queryables.iter().map(|q| q.label_values(hints, name, matchers)),
        )
        .await?;
        Ok(merge_strings(results))
    }

    async fn series(&self, hints: SelectHints, matchers: &[Matcher]) -> Result<Vec<Labels>, QueryError> {
        let results =
            futures::future::try_join_all(self.queryables.iter().map(|q| q.series(hints, matchers))).await?;
        let mut all: Vec<Labels> = results.into_iter().flatten().collect();
        all.sort();
        all.dedup();
        Ok(all)
    }
}
