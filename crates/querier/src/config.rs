//! The `querier:` configuration section, with Cortex's YAML keys and flags for the options this
//! crate and the PromQL engine read.

use std::time::Duration;

use neocortex_core::duration::GoDuration;
use neocortex_core::{ConfigOption, ConfigSection};
use serde::{Deserialize, Serialize};

/// The `querier:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuerierConfig {
    /// Most queries evaluated at once; also bounds concurrent remote-read requests.
    pub max_concurrent: usize,
    /// How long one query (or one metadata / remote-read request) may run.
    pub timeout: GoDuration,
    /// Most samples one query may load; remote read refuses larger answers too.
    pub max_samples: u64,
    /// Queries that only reach further back than this skip the ingesters (0 = always ask them).
    pub query_ingesters_within: GoDuration,
    /// Only data older than this is read from the long-term store (0 = always read it).
    pub query_store_after: GoDuration,
    /// Whether the series, label names and label values APIs also read the long-term store
    /// (for selectors that name a metric); otherwise they read the ingesters only, as Cortex.
    pub query_store_for_labels_enabled: bool,
    /// How far into the future a query may reach (0 = unbounded).
    pub max_query_into_future: GoDuration,
    /// Default step of subqueries that do not name one.
    pub default_evaluation_interval: GoDuration,
    /// How far back an instant vector selector looks for a sample.
    pub lookback_delta: GoDuration,
    /// Whether PromQL's `@` modifier is allowed.
    pub at_modifier_enabled: bool,
}

impl Default for QuerierConfig {
    fn default() -> Self {
        Self {
            max_concurrent: 20,
            timeout: GoDuration(Duration::from_secs(120)),
            max_samples: 50_000_000,
            query_ingesters_within: GoDuration(Duration::ZERO),
            query_store_after: GoDuration(Duration::ZERO),
            query_store_for_labels_enabled: false,
            max_query_into_future: GoDuration(Duration::from_secs(600)),
            default_evaluation_interval: GoDuration(Duration::from_secs(60)),
            lookback_delta: GoDuration(Duration::from_secs(300)),
            at_modifier_enabled: true,
        }
    }
}

const QUERIER_OPTIONS: &[ConfigOption] = &[
    ConfigOption {
        key: "max_concurrent",
        flag: "querier.max-concurrent",
        help: "The maximum number of concurrent queries.",
    },
    ConfigOption { key: "timeout", flag: "querier.timeout", help: "The timeout for a query." },
    ConfigOption {
        key: "max_samples",
        flag: "querier.max-samples",
        help: "Maximum number of samples a single query can load into memory.",
    },
    ConfigOption {
        key: "query_ingesters_within",
        flag: "querier.query-ingesters-within",
        help: "Maximum lookback beyond which queries are not sent to ingester. 0 means all queries are sent to ingester.",
    },
    ConfigOption {
        key: "query_store_after",
        flag: "querier.query-store-after",
        help: "The time after which a metric should be queried from storage and not just ingesters. 0 means all queries are sent to store. The time range of the query sent to the store is clamped so that its end is not more recent than 'now - query-store-after'.",
    },
    ConfigOption {
        key: "query_store_for_labels_enabled",
        flag: "querier.query-store-for-labels-enabled",
        help: "Query long-term store for series, label values and label names APIs. The chunk store answers only selectors with a metric name; the rest come from ingesters.",
    },
    ConfigOption {
        key: "max_query_into_future",
        flag: "querier.max-query-into-future",
        help: "Maximum duration into the future you can query. 0 to disable.",
    },
    ConfigOption {
        key: "default_evaluation_interval",
        flag: "querier.default-evaluation-interval",
        help: "The default evaluation interval or step size for subqueries.",
    },
    ConfigOption {
        key: "lookback_delta",
        flag: "querier.lookback-delta",
        help: "Time since the last sample after which a time series is considered stale and ignored by expression evaluations.",
    },
    ConfigOption {
        key: "at_modifier_enabled",
        flag: "querier.at-modifier-enabled",
        help: "Enable the @ modifier in PromQL.",
    },
];

impl ConfigSection for QuerierConfig {
    fn options() -> &'static [ConfigOption] {
        QUERIER_OPTIONS
    }

    fn validate(&self) -> Result<(), String> {
        if self.max_concurrent == 0 {
            return Err("querier.max_concurrent: must be greater than 0".to_string());
        }
        if self.timeout.0.is_zero() {
            return Err("querier.timeout: must be greater than 0".to_string());
        }
        if self.lookback_delta.0.is_zero() {
            return Err("querier.lookback_delta: must be greater than 0".to_string());
        }
        if self.default_evaluation_interval.0.is_zero() {
            return Err("querier.default_evaluation_interval: must be greater than 0".to_string());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_cortex() {
        let config = QuerierConfig::default();
        assert_eq!(config.max_concurrent, 20);
        assert_eq!(config.timeout.0, Duration::from_secs(120));
        assert_eq!(config.lookback_delta.0, Duration::from_secs(300));
        assert_eq!(config.max_samples, 50_000_000);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn partial_config_keeps_defaults_and_rejects_unknown_keys() {
        let config: QuerierConfig =
            serde_json::from_str(r#"{"timeout": "30s", "query_ingesters_within": "13h"}"#).expect("parses");
        assert_eq!(config.timeout.0, Duration::from_secs(30));
        assert_eq!(config.query_ingesters_within.0, Duration::from_secs(13 * 3600));
        assert_eq!(config.max_concurrent, 20);
        assert!(serde_json::from_str::<QuerierConfig>(r#"{"time_out": "30s"}"#).is_err());
    }

    #[test]
    fn every_field_has_an_option() {
        let serialized = serde_json::to_value(QuerierConfig::default()).expect("serializes");
        let keys: Vec<&String> = serialized.as_object().expect("object").keys().collect();
        assert_eq!(keys.len(), QuerierConfig::options().len());
        for option in QuerierConfig::options() {
            assert!(serialized.get(option.key).is_some(), "{} is not a field", option.key);
        }
    }

    #[test]
    fn zero_timeout_is_refused() {
        let config = QuerierConfig { timeout: GoDuration(Duration::ZERO), ..QuerierConfig::default() };
        assert!(config.validate().unwrap_err().contains("querier.timeout"));
    }
}
