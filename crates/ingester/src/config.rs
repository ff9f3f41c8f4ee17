//! The `ingester:` configuration section (the options implemented so far).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use neocortex_core::duration::GoDuration;
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

/// The write-ahead log and its checkpoints (Cortex's `ingester.walconfig`).
///
/// Unlike Cortex 1.10 (WAL off by default) the WAL is on by default: the single-process default
/// must not lose acknowledged samples on a crash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WalConfig {
    /// Write every accepted sample to the WAL before acknowledging the push.
    pub wal_enabled: bool,
    /// Replay the WAL (checkpoint + segments) on start.
    pub recover_from_wal: bool,
    /// Directory of the WAL segments and checkpoints.
    pub wal_dir: String,
    /// Write checkpoints so the WAL can be truncated.
    pub checkpoint_enabled: bool,
    /// Interval between checkpoints.
    pub checkpoint_duration: GoDuration,
    /// Flush all chunks to the store on shutdown even though the WAL is enabled.
    pub flush_on_shutdown_with_wal_enabled: bool,
}

impl Default for WalConfig {
    fn default() -> Self {
        Self {
            wal_enabled: true,
            recover_from_wal: true,
            wal_dir: "./data/wal".to_string(),
            checkpoint_enabled: true,
            checkpoint_duration: GoDuration(Duration::from_secs(30 * 60)),
            flush_on_shutdown_with_wal_enabled: false,
        }
    }
}

/// The `ingester:` section, with Cortex's key names and defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngesterConfig {
    /// Process-wide limits.
    pub instance_limits: InstanceLimits,
    /// Comma-separated metric names exempt from the per-metric series limit.
    pub ignore_series_limit_for_metric_names: String,
    /// The WAL and checkpoints.
    pub walconfig: WalConfig,
    /// How often the flush loop looks for chunks to flush.
    pub flush_period: GoDuration,
    /// How long flushed chunks stay in memory (and queryable) after they were flushed.
    pub retain_period: GoDuration,
    /// Timeout of one flush to the store.
    pub flush_op_timeout: GoDuration,
    /// A series with no sample for this long has its chunks flushed.
    pub max_chunk_idle: GoDuration,
    /// A series whose last sample is a staleness marker is flushed after this long idle.
    pub max_stale_chunk_idle: GoDuration,
    /// Chunks whose first sample is older than this are flushed.
    pub max_chunk_age: GoDuration,
    /// Random jitter subtracted from `max_chunk_age` per series, to spread flushes.
    pub chunk_age_jitter: GoDuration,
    /// How many flush queues (and flushing tasks) run at once.
    pub concurrent_flushes: usize,
    /// Spread flushes of chunks that reach `max_chunk_age` over the flush period.
    pub spread_flushes: bool,
}

impl Default for IngesterConfig {
    fn default() -> Self {
        Self {
            instance_limits: InstanceLimits::default(),
            ignore_series_limit_for_metric_names: String::new(),
            walconfig: WalConfig::default(),
            flush_period: GoDuration(Duration::from_secs(60)),
            retain_period: GoDuration(Duration::from_secs(5 * 60)),
            flush_op_timeout: GoDuration(Duration::from_secs(60)),
            max_chunk_idle: GoDuration(Duration::from_secs(5 * 60)),
            max_stale_chunk_idle: GoDuration(Duration::from_secs(2 * 60)),
            max_chunk_age: GoDuration(Duration::from_secs(12 * 3600)),
            chunk_age_jitter: GoDuration(Duration::ZERO),
            concurrent_flushes: 50,
            spread_flushes: true,
        }
    }
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
    ConfigOption {
        key: "walconfig.wal_enabled",
        flag: "ingester.wal-enabled",
        help: "Write samples to the WAL before acknowledging a push (on by default, unlike Cortex 1.10).",
    },
    ConfigOption {
        key: "walconfig.recover_from_wal",
        flag: "ingester.recover-from-wal",
        help: "Recover in-memory series from the WAL (checkpoint and segments) on start.",
    },
    ConfigOption { key: "walconfig.wal_dir", flag: "ingester.wal-dir", help: "Directory to store the WAL and checkpoints in." },
    ConfigOption {
        key: "walconfig.checkpoint_enabled",
        flag: "ingester.checkpoint-enabled",
        help: "Write checkpoints of the in-memory series so the WAL can be truncated.",
    },
    ConfigOption {
        key: "walconfig.checkpoint_duration",
        flag: "ingester.checkpoint-duration",
        help: "Interval at which checkpoints are written.",
    },
    ConfigOption {
        key: "walconfig.flush_on_shutdown_with_wal_enabled",
        flag: "ingester.flush-on-shutdown-with-wal-enabled",
        help: "Flush all chunks to the store on shutdown even when the WAL is enabled.",
    },
    ConfigOption { key: "flush_period", flag: "ingester.flush-period", help: "Period with which to attempt to flush chunks." },
    ConfigOption {
        key: "retain_period",
        flag: "ingester.retain-period",
        help: "Period chunks will remain in memory after flushing.",
    },
    ConfigOption { key: "flush_op_timeout", flag: "ingester.flush-op-timeout", help: "Timeout for individual flush operations." },
    ConfigOption {
        key: "max_chunk_idle",
        flag: "ingester.max-chunk-idle",
        help: "Maximum chunk idle time before flushing.",
    },
    ConfigOption {
        key: "max_stale_chunk_idle",
        flag: "ingester.max-stale-chunk-idle",
        help: "Maximum chunk idle time for chunks terminating in stale markers before flushing. 0 disables it and a stale series is not flushed until the max-chunk-idle timeout is reached.",
    },
    ConfigOption { key: "max_chunk_age", flag: "ingester.max-chunk-age", help: "Maximum chunk age before flushing." },
    ConfigOption {
        key: "chunk_age_jitter",
        flag: "ingester.chunk-age-jitter",
        help: "Range of time to subtract from -ingester.max-chunk-age to spread out flushes.",
    },
    ConfigOption { key: "concurrent_flushes", flag: "ingester.concurrent-flushes", help: "Number of concurrent flush queues (and tasks) flushing to the store." },
    ConfigOption {
        key: "spread_flushes",
        flag: "ingester.spread-flushes",
        help: "If true, spread series flushes across the whole period of -ingester.max-chunk-age.",
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
