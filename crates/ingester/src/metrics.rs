//! The ingester's own metrics, with Cortex's names so the Cortex mixin's dashboards work.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The `user` label of per-tenant ingester metrics.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct UserLabels {
    /// The tenant.
    pub user: String,
}

/// Handles to the ingester metrics (cheap to clone; clones share values).
#[derive(Debug, Clone, Default)]
pub(crate) struct IngesterMetrics {
    pub(crate) memory_series: Gauge,
    pub(crate) memory_users: Gauge,
    pub(crate) memory_chunks: Gauge,
    pub(crate) ingested_samples: Counter,
    pub(crate) ingested_samples_failures: Counter,
    pub(crate) series_created: Family<UserLabels, Counter>,
    pub(crate) series_removed: Family<UserLabels, Counter>,
}

impl IngesterMetrics {
    /// Creates the metrics and registers them (counters get `_total` appended on exposition).
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "cortex_ingester_memory_series",
            "The current number of series in memory.",
            metrics.memory_series.clone(),
        );
        registry.register(
            "cortex_ingester_memory_users",
            "The current number of users in memory.",
            metrics.memory_users.clone(),
        );
        registry.register(
            "cortex_ingester_memory_chunks",
            "The total number of chunks in memory.",
            metrics.memory_chunks.clone(),
        );
        registry.register(
            "cortex_ingester_ingested_samples",
            "The total number of samples ingested.",
            metrics.ingested_samples.clone(),
        );
        registry.register(
            "cortex_ingester_ingested_samples_failures",
            "The total number of samples that errored on ingestion.",
            metrics.ingested_samples_failures.clone(),
        );
        registry.register(
            "cortex_ingester_memory_series_created",
            "The total number of series that were created per user.",
            metrics.series_created.clone(),
        );
        registry.register(
            "cortex_ingester_memory_series_removed",
            "The total number of series that were removed per user.",
            metrics.series_removed.clone(),
        );
        metrics
    }

    /// The series-created counter of one tenant.
    pub(crate) fn series_created_for(&self, tenant: &str) -> Counter {
        self.series_created.get_or_create(&UserLabels { user: tenant.to_string() }).clone()
    }

    /// Makes the series-removed counter of a tenant visible (at zero) as Cortex does.
    pub(crate) fn touch_series_removed(&self, tenant: &str) {
        let _ = self.series_removed.get_or_create(&UserLabels { user: tenant.to_string() });
    }
}
