//! The `distributor:` configuration section, with Cortex's YAML keys and flags for the options
//! this crate implements.

use std::time::Duration;

use neocortex_core::duration::GoDuration;
use neocortex_core::{ConfigOption, ConfigSection};
use serde::{Deserialize, Serialize};

/// Cortex's default for `-distributor.max-recv-msg-size`: 100 MiB.
pub const DEFAULT_MAX_RECV_MSG_SIZE: usize = 100 << 20;

/// The `distributor:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DistributorConfig {
    /// Largest remote-write body accepted, in bytes; applies both to the compressed body and to
    /// its decompressed length.
    pub max_recv_msg_size: usize,
    /// How long a push to the ingesters may take before it fails.
    pub remote_timeout: GoDuration,
    /// Limits that protect this distributor process, whatever the tenant.
    pub instance_limits: InstanceLimits,
}

/// The `distributor.instance_limits:` section: limits per distributor process, not per tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct InstanceLimits {
    /// Samples per second this distributor accepts (exponentially weighted moving average,
    /// updated every second); 0 means unlimited.
    pub max_ingestion_rate: f64,
    /// Push requests this distributor handles at once; 0 means unlimited.
    pub max_inflight_push_requests: usize,
}

impl Default for DistributorConfig {
    fn default() -> Self {
        Self {
            max_recv_msg_size: DEFAULT_MAX_RECV_MSG_SIZE,
            remote_timeout: GoDuration(Duration::from_secs(2)),
            instance_limits: InstanceLimits::default(),
        }
    }
}

const DISTRIBUTOR_OPTIONS: &[ConfigOption] = &[
    ConfigOption {
        key: "max_recv_msg_size",
        flag: "distributor.max-recv-msg-size",
        help: "remote_write API max receive message size (bytes).",
    },
    ConfigOption {
        key: "remote_timeout",
        flag: "distributor.remote-timeout",
        help: "Timeout for downstream ingesters.",
    },
    ConfigOption {
        key: "instance_limits.max_ingestion_rate",
        flag: "distributor.instance-limits.max-ingestion-rate",
        help: "Max ingestion rate (samples/sec) that this distributor will accept; 0 = unlimited.",
    },
    ConfigOption {
        key: "instance_limits.max_inflight_push_requests",
        flag: "distributor.instance-limits.max-inflight-push-requests",
        help: "Max inflight push requests that this distributor can handle; 0 = unlimited.",
    },
];

impl ConfigSection for DistributorConfig {
    fn options() -> &'static [ConfigOption] {
        DISTRIBUTOR_OPTIONS
    }

    fn validate(&self) -> Result<(), String> {
        if self.max_recv_msg_size == 0 {
            return Err("distributor.max_recv_msg_size: must be greater than 0".to_string());
        }
        if self.remote_timeout.0.is_zero() {
            return Err("distributor.remote_timeout: must be greater than 0".to_string());
        }
        let max_rate = self.instance_limits.max_ingestion_rate;
        if !max_rate.is_finite() || max_rate < 0.0 {
            return Err(
                "distributor.instance_limits.max_ingestion_rate: must be a non-negative number".to_string()
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_cortex() {
        let config = DistributorConfig::default();
        assert_eq!(config.max_recv_msg_size, 104_857_600);
        assert_eq!(config.remote_timeout.0, Duration::from_secs(2));
        assert_eq!(config.instance_limits, InstanceLimits::default());
        assert!(config.validate().is_ok());
    }

    #[test]
    fn partial_yaml_keeps_defaults_and_rejects_unknown_keys() {
        let config: DistributorConfig = serde_json::from_str(
            r#"{"max_recv_msg_size": 1024, "instance_limits": {"max_inflight_push_requests": 3}}"#,
        )
        .expect("parses");
        assert_eq!(config.max_recv_msg_size, 1024);
        assert_eq!(config.instance_limits.max_inflight_push_requests, 3);
        assert_eq!(config.remote_timeout.0, Duration::from_secs(2));
        assert!(serde_json::from_str::<DistributorConfig>(r#"{"max_recv_msg_sizes": 1}"#).is_err());
        assert!(serde_json::from_str::<DistributorConfig>(r#"{"instance_limits": {"x": 1}}"#).is_err());
    }

    #[test]
    fn every_option_names_a_serialized_key() {
        let value = serde_json::to_value(DistributorConfig::default()).expect("serializes");
        for option in DistributorConfig::options() {
            let found = option.key.split('.').try_fold(&value, |node, part| node.get(part));
            assert!(found.is_some(), "option {} has no key in the struct", option.key);
        }
    }

    #[test]
    fn validation_names_the_bad_option() {
        let config = DistributorConfig { max_recv_msg_size: 0, ..DistributorConfig::default() };
        assert!(config.validate().unwrap_err().contains("max_recv_msg_size"));
    }
}
