//! Per-tenant limits: `Limits` holds the defaults (the `limits:` YAML section), `Overrides` answers
//! "what is this limit for this tenant" using the runtime-config overrides when a tenant has them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::config::{ConfigOption, ConfigSection};
use crate::duration::ModelDuration;

/// The `limits:` section, with Cortex's key names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Per-tenant ingestion rate in samples per second.
    pub ingestion_rate: f64,
    /// How the rate is shared between distributors: `local` or `global`.
    pub ingestion_rate_strategy: String,
    /// Per-tenant burst size in samples.
    pub ingestion_burst_size: u64,
    /// Whether HA pair deduplication is on for the tenant.
    pub accept_ha_samples: bool,
    /// Label naming the HA cluster.
    pub ha_cluster_label: String,
    /// Label naming the replica within a cluster.
    pub ha_replica_label: String,
    /// Maximum number of HA clusters per tenant (0 = unlimited).
    pub ha_max_clusters: u64,
    /// Labels removed from every series before storing.
    pub drop_labels: Vec<String>,
    /// Longest label name accepted.
    pub max_label_name_length: usize,
    /// Longest label value accepted.
    pub max_label_value_length: usize,
    /// Most labels per series.
    pub max_label_names_per_series: usize,
    /// Longest metadata field (help, unit, metric name) accepted.
    pub max_metadata_length: usize,
    /// Whether samples older than `reject_old_samples_max_age` are refused.
    pub reject_old_samples: bool,
    /// Age beyond which samples are refused when `reject_old_samples` is on.
    pub reject_old_samples_max_age: ModelDuration,
    /// How far in the future a sample may be.
    pub creation_grace_period: ModelDuration,
    /// Whether metadata must name a metric.
    pub enforce_metadata_metric_name: bool,
    /// Whether every series must have a metric name.
    pub enforce_metric_name: bool,
    /// Most active series per tenant in one ingester.
    pub max_series_per_user: u64,
    /// Most active series per metric name per tenant in one ingester.
    pub max_series_per_metric: u64,
    /// Most active series per tenant across the cluster (0 = off).
    pub max_global_series_per_user: u64,
    /// Most active series per metric across the cluster (0 = off).
    pub max_global_series_per_metric: u64,
    /// Most metadata entries per tenant in one ingester.
    pub max_metadata_per_user: u64,
    /// Most metadata entries per metric in one ingester.
    pub max_metadata_per_metric: u64,
    /// Most series one query may touch.
    pub max_series_per_query: u64,
    /// Most samples one query may load.
    pub max_samples_per_query: u64,
    /// Most chunks one query may fetch.
    pub max_chunks_per_query: u64,
    /// How far back a query may look (0 = unlimited).
    pub max_query_lookback: ModelDuration,
    /// Longest time range of one query (0 = unlimited).
    pub max_query_length: ModelDuration,
    /// Most split queries the frontend runs at once per tenant.
    pub max_query_parallelism: u64,
    /// Cardinality limit for the index query cache.
    pub cardinality_limit: u64,
    /// Results newer than this are not cached.
    pub max_cache_freshness: ModelDuration,
    /// Most queriers that may serve one tenant (0 = all).
    pub max_queriers_per_tenant: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            ingestion_rate: 25_000.0,
            ingestion_rate_strategy: "local".to_string(),
            ingestion_burst_size: 50_000,
            accept_ha_samples: false,
            ha_cluster_label: "cluster".to_string(),
            ha_replica_label: "__replica__".to_string(),
            ha_max_clusters: 0,
            drop_labels: Vec::new(),
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            max_label_names_per_series: 30,
            max_metadata_length: 1024,
            reject_old_samples: false,
            reject_old_samples_max_age: ModelDuration(Duration::from_secs(14 * 24 * 3600)),
            creation_grace_period: ModelDuration(Duration::from_secs(600)),
            enforce_metadata_metric_name: true,
            enforce_metric_name: true,
            max_series_per_user: 5_000_000,
            max_series_per_metric: 50_000,
            max_global_series_per_user: 0,
            max_global_series_per_metric: 0,
            max_metadata_per_user: 8000,
            max_metadata_per_metric: 10,
            max_series_per_query: 100_000,
            max_samples_per_query: 1_000_000,
            max_chunks_per_query: 2_000_000,
            max_query_lookback: ModelDuration(Duration::ZERO),
            max_query_length: ModelDuration(Duration::ZERO),
            max_query_parallelism: 14,
            cardinality_limit: 100_000,
            max_cache_freshness: ModelDuration(Duration::from_secs(60)),
            max_queriers_per_tenant: 0,
        }
    }
}

const LIMITS_OPTIONS: &[ConfigOption] = &[
    ConfigOption { key: "ingestion_rate", flag: "distributor.ingestion-rate-limit", help: "Per-tenant ingestion rate limit in samples per second." },
    ConfigOption { key: "ingestion_rate_strategy", flag: "distributor.ingestion-rate-limit-strategy", help: "Whether the ingestion rate limit applies per distributor (local) or is shared across the cluster (global)." },
    ConfigOption { key: "ingestion_burst_size", flag: "distributor.ingestion-burst-size", help: "Per-tenant allowed ingestion burst size in samples." },
    ConfigOption { key: "accept_ha_samples", flag: "distributor.ha-tracker.enable-for-all-users", help: "Deduplicate samples from HA Prometheus pairs for every tenant." },
    ConfigOption { key: "ha_cluster_label", flag: "distributor.ha-tracker.cluster", help: "Label naming the HA cluster of a sample." },
    ConfigOption { key: "ha_replica_label", flag: "distributor.ha-tracker.replica", help: "Label naming the replica of a sample within its HA cluster." },
    ConfigOption { key: "ha_max_clusters", flag: "distributor.ha-tracker.max-clusters", help: "Most HA clusters tracked per tenant; 0 disables the limit." },
    ConfigOption { key: "drop_labels", flag: "distributor.drop-label", help: "Label names removed from every incoming series." },
    ConfigOption { key: "max_label_name_length", flag: "validation.max-length-label-name", help: "Longest label name accepted." },
    ConfigOption { key: "max_label_value_length", flag: "validation.max-length-label-value", help: "Longest label value accepted." },
    ConfigOption { key: "max_label_names_per_series", flag: "validation.max-label-names-per-series", help: "Most label names per series." },
    ConfigOption { key: "max_metadata_length", flag: "validation.max-metadata-length", help: "Longest metadata field accepted." },
    ConfigOption { key: "reject_old_samples", flag: "validation.reject-old-samples", help: "Refuse samples older than reject_old_samples_max_age." },
    ConfigOption { key: "reject_old_samples_max_age", flag: "validation.reject-old-samples.max-age", help: "Age beyond which samples are refused." },
    ConfigOption { key: "creation_grace_period", flag: "validation.create-grace-period", help: "How far into the future a sample timestamp may be." },
    ConfigOption { key: "enforce_metadata_metric_name", flag: "validation.enforce-metadata-metric-name", help: "Refuse metadata without a metric name." },
    ConfigOption { key: "enforce_metric_name", flag: "validation.enforce-metric-name", help: "Refuse series without a metric name." },
    ConfigOption { key: "max_series_per_user", flag: "ingester.max-series-per-user", help: "Most active series per tenant per ingester; 0 disables." },
    ConfigOption { key: "max_series_per_metric", flag: "ingester.max-series-per-metric", help: "Most active series per metric name per tenant per ingester; 0 disables." },
    ConfigOption { key: "max_global_series_per_user", flag: "ingester.max-global-series-per-user", help: "Most active series per tenant across the cluster; 0 disables." },
    ConfigOption { key: "max_global_series_per_metric", flag: "ingester.max-global-series-per-metric", help: "Most active series per metric across the cluster; 0 disables." },
    ConfigOption { key: "max_metadata_per_user", flag: "ingester.max-metadata-per-user", help: "Most metadata entries per tenant per ingester; 0 disables." },
    ConfigOption { key: "max_metadata_per_metric", flag: "ingester.max-metadata-per-metric", help: "Most metadata entries per metric per ingester; 0 disables." },
    ConfigOption { key: "max_series_per_query", flag: "ingester.max-series-per-query", help: "Most series one query may return." },
    ConfigOption { key: "max_samples_per_query", flag: "ingester.max-samples-per-query", help: "Most samples one query may load." },
    ConfigOption { key: "max_chunks_per_query", flag: "store.query-chunk-limit", help: "Most chunks one query may fetch." },
    ConfigOption { key: "max_query_lookback", flag: "querier.max-query-lookback", help: "How far back a query may look; 0 disables." },
    ConfigOption { key: "max_query_length", flag: "store.max-query-length", help: "Longest time range of one query; 0 disables." },
    ConfigOption { key: "max_query_parallelism", flag: "querier.max-query-parallelism", help: "Most split queries run at once per tenant." },
    ConfigOption { key: "cardinality_limit", flag: "store.cardinality-limit", help: "Cardinality limit for index queries." },
    ConfigOption { key: "max_cache_freshness", flag: "frontend.max-cache-freshness", help: "Results newer than this are not cached." },
    ConfigOption { key: "max_queriers_per_tenant", flag: "frontend.max-queriers-per-tenant", help: "Most queriers that may serve one tenant; 0 means all." },
];

impl ConfigSection for Limits {
    fn options() -> &'static [ConfigOption] {
        LIMITS_OPTIONS
    }

    fn validate(&self) -> Result<(), String> {
        if self.ingestion_rate_strategy != "local" && self.ingestion_rate_strategy != "global" {
            return Err(format!(
                "limits.ingestion_rate_strategy: unknown strategy {:?}, expected local or global",
                self.ingestion_rate_strategy
            ));
        }
        if self.ingestion_rate < 0.0 {
            return Err("limits.ingestion_rate: must not be negative".to_string());
        }
        Ok(())
    }
}

/// Limits per tenant id, shared immutably between readers.
pub type TenantLimits = Arc<HashMap<String, Arc<Limits>>>;

/// Per-tenant limits: the defaults plus the runtime-config overrides, swapped atomically when the
/// runtime config file is reloaded.
#[derive(Debug, Clone)]
pub struct Overrides {
    defaults: Arc<Limits>,
    per_tenant: Arc<RwLock<TenantLimits>>,
}

impl Overrides {
    /// Overrides with only the defaults.
    pub fn new(defaults: Limits) -> Self {
        Self { defaults: Arc::new(defaults), per_tenant: Arc::new(RwLock::new(Arc::new(HashMap::new()))) }
    }

    /// The limits in force for `tenant`.
    pub fn for_tenant(&self, tenant: &str) -> Arc<Limits> {
        self.per_tenant.read().get(tenant).cloned().unwrap_or_else(|| self.defaults.clone())
    }

    /// The default limits.
    pub fn defaults(&self) -> &Limits {
        &self.defaults
    }

    /// Replaces every tenant override at once (runtime-config reload).
    pub fn replace(&self, per_tenant: HashMap<String, Limits>) {
        let per_tenant = per_tenant.into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
        *self.per_tenant.write() = Arc::new(per_tenant);
    }

    /// The tenants that have overrides now, with their limits.
    pub fn snapshot(&self) -> TenantLimits {
        self.per_tenant.read().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_fall_back_to_defaults() {
        let overrides = Overrides::new(Limits::default());
        let custom = Limits { ingestion_rate: 10.0, ..Limits::default() };
        overrides.replace(HashMap::from([("a".to_string(), custom)]));
        assert_eq!(overrides.for_tenant("a").ingestion_rate, 10.0);
        assert_eq!(overrides.for_tenant("b").ingestion_rate, 25_000.0);
    }

    #[test]
    fn partial_yaml_keeps_defaults_and_rejects_unknown_keys() {
        let limits: Limits =
            serde_json::from_str(r#"{"ingestion_rate": 5, "reject_old_samples_max_age": "1d"}"#).unwrap();
        assert_eq!(limits.ingestion_rate, 5.0);
        assert_eq!(limits.reject_old_samples_max_age.0, Duration::from_secs(86_400));
        assert_eq!(limits.max_series_per_metric, 50_000);
        assert!(serde_json::from_str::<Limits>(r#"{"ingestion_rat": 5}"#).is_err());
    }
}
