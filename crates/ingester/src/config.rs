//! The `ingester:` configuration section (the options implemented so far).

use serde::{Deserialize, Serialize};

use neocortex_core::{ConfigOption, ConfigSection};

/// Limits of one ingester process, across all tenants (Cortex's `instance_limits`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstanceLimits {
    /// Most series held across all tenants; 0 = unlimited.
    pub max_series: u64,
    /// Most tenants held; 0 = unlimited.
    pub max_tenants: u64,
    /// Most push requests handled at once; 0 = unlimited.
    pub max_inflight_push_requests: u64,
}

/// The `ingester:` section, with Cortex's key names and defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngesterConfig {
    /// Process-wide limits.
    pub instance_limits: InstanceLimits,
    /// Comma-separated metric names exempt from the per-metric series limit.
    pub ignore_series_limit_for_metric_names: String,
}

impl IngesterConfig {
    /// The metric names exempt from the per-metric series limit, parsed.
    pub fn metric_names_without_series_limit(&self) -> Vec<String> {
        self.ignore_series_limit_for_metric_names
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_string)
            .collect()
    }
}

const INGESTER_OPTIONS: &[ConfigOption] = &[
    ConfigOption {
        key: "instance_limits.max_series",
        flag: "ingester.instance-limits.max-series",
        help:
            "Max series this ingester holds across all tenants; additional series are refused. 0 = unlimited.",
    },
    ConfigOption {
        key: "instance_limits.max_tenants",
        flag: "ingester.instance-limits.max-tenants",
        help: "Max tenants this ingester holds; pushes from additional tenants are refused. 0 = unlimited.",
    },
    ConfigOption {
        key: "instance_limits.max_inflight_push_requests",
        flag: "ingester.instance-limits.max-inflight-push-requests",
        help:
            "Max push requests this ingester handles at once; additional requests are refused. 0 = unlimited.",
    },
    ConfigOption {
        key: "ignore_series_limit_for_metric_names",
        flag: "ingester.ignore-series-limit-for-metric-names",
        help: "Comma-separated metric names for which the per-metric series limit is ignored.",
    },
];

impl ConfigSection for IngesterConfig {
    fn options() -> &'static [ConfigOption] {
        INGESTER_OPTIONS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_yaml_keeps_defaults_and_rejects_unknown_keys() {
        let config: IngesterConfig = serde_json::from_str(
            r#"{"instance_limits": {"max_series": 10}, "ignore_series_limit_for_metric_names": "a, b,,"}"#,
        )
        .expect("valid config");
        assert_eq!(config.instance_limits.max_series, 10);
        assert_eq!(config.instance_limits.max_tenants, 0);
        assert_eq!(config.metric_names_without_series_limit(), vec!["a".to_string(), "b".to_string()]);
        assert!(serde_json::from_str::<IngesterConfig>(r#"{"max_seriess": 1}"#).is_err());
        assert!(serde_json::from_str::<IngesterConfig>(r#"{"instance_limits": {"max_serie": 1}}"#).is_err());
    }

    #[test]
    fn options_table_names_every_key() {
        let keys: Vec<&str> = IngesterConfig::options().iter().map(|o| o.key).collect();
        let json = serde_json::to_value(IngesterConfig::default()).expect("serializable");
        for key in keys {
            let mut value = &json;
            for part in key.split('.') {
                value = value.get(part).unwrap_or_else(|| panic!("option {key} missing in struct"));
            }
        }
    }
}
