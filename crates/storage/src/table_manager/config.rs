//! The `table_manager:` section (Cortex's `table_manager_config`): retention, poll interval,
//! creation grace period and the DynamoDB provisioning of index and chunk tables.
//!
//! Cortex's autoscaling sub-sections (`write_scale`, `read_scale`, `inactive_write_scale`,
//! `inactive_read_scale`, `inactive_*_scale_lastn`) are accepted so Cortex config files parse,
//! but enabling autoscaling is refused with a clear error: it needs AWS Application Auto Scaling,
//! which Neocortex does not drive.

use std::time::Duration;

use neocortex_core::duration::{GoDuration, ModelDuration};
use neocortex_core::{ConfigOption, ConfigSection};

use crate::schema::config::SchemaConfig;
use crate::schema::day::MS_PER_DAY;

/// Cortex's autoscaling settings of one capacity (read or write) of one kind of table.
/// Only `enabled: false` is supported; the other keys are accepted and ignored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AutoScalingConfig {
    /// Whether autoscaling is on (refused when true).
    pub enabled: bool,
    /// AWS AutoScaling role ARN.
    pub role_arn: String,
    /// Minimum provisioned capacity.
    pub min_capacity: i64,
    /// Maximum provisioned capacity.
    pub max_capacity: i64,
    /// Seconds between scale-ups.
    pub out_cooldown: i64,
    /// Seconds between scale-downs.
    pub in_cooldown: i64,
    /// Target ratio of consumed to provisioned capacity, in percent.
    pub target: f64,
}

impl Default for AutoScalingConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            role_arn: String::new(),
            min_capacity: 3000,
            max_capacity: 6000,
            out_cooldown: 1800,
            in_cooldown: 1800,
            target: 80.0,
        }
    }
}

/// Capacity settings for one kind of table (index or chunks), for active and inactive tables.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProvisionConfig {
    /// Active tables use on-demand (pay-per-request) capacity.
    pub enable_ondemand_throughput_mode: bool,
    /// Write capacity units of active tables.
    pub provisioned_write_throughput: i64,
    /// Read capacity units of active tables.
    pub provisioned_read_throughput: i64,
    /// Autoscaling of the write capacity of active tables (refused when enabled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_scale: Option<AutoScalingConfig>,
    /// Autoscaling of the read capacity of active tables (refused when enabled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_scale: Option<AutoScalingConfig>,
    /// Inactive tables use on-demand capacity.
    pub enable_inactive_throughput_on_demand_mode: bool,
    /// Write capacity units of inactive tables.
    pub inactive_write_throughput: i64,
    /// Read capacity units of inactive tables.
    pub inactive_read_throughput: i64,
    /// Autoscaling of the write capacity of inactive tables (refused when enabled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inactive_write_scale: Option<AutoScalingConfig>,
    /// Autoscaling of the read capacity of inactive tables (refused when enabled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inactive_read_scale: Option<AutoScalingConfig>,
    /// Cortex's number of last inactive tables to write-autoscale (accepted, unused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inactive_write_scale_lastn: Option<i64>,
    /// Cortex's number of last inactive tables to read-autoscale (accepted, unused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inactive_read_scale_lastn: Option<i64>,
}

impl Default for ProvisionConfig {
    fn default() -> Self {
        Self {
            enable_ondemand_throughput_mode: false,
            provisioned_write_throughput: 1000,
            provisioned_read_throughput: 300,
            write_scale: None,
            read_scale: None,
            enable_inactive_throughput_on_demand_mode: false,
            inactive_write_throughput: 1,
            inactive_read_throughput: 300,
            inactive_write_scale: None,
            inactive_read_scale: None,
            inactive_write_scale_lastn: None,
            inactive_read_scale_lastn: None,
        }
    }
}

impl ProvisionConfig {
    fn validate(&self, section: &str) -> Result<(), String> {
        let scales = [
            ("write_scale", &self.write_scale),
            ("read_scale", &self.read_scale),
            ("inactive_write_scale", &self.inactive_write_scale),
            ("inactive_read_scale", &self.inactive_read_scale),
        ];
        for (key, scale) in scales {
            if scale.as_ref().is_some_and(|scale| scale.enabled) {
                return Err(format!(
                    "table_manager.{section}.{key}.enabled: DynamoDB autoscaling is not supported; \
                     set provisioned throughput or on-demand mode instead"
                ));
            }
        }
        let capacities = [
            ("provisioned_write_throughput", self.provisioned_write_throughput),
            ("provisioned_read_throughput", self.provisioned_read_throughput),
            ("inactive_write_throughput", self.inactive_write_throughput),
            ("inactive_read_throughput", self.inactive_read_throughput),
        ];
        for (key, value) in capacities {
            if value < 0 {
                return Err(format!("table_manager.{section}.{key} must not be negative, got {value}"));
            }
        }
        Ok(())
    }
}

/// The `table_manager:` section.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TableManagerConfig {
    /// Never change the capacity, mode or tags of existing tables.
    pub throughput_updates_disabled: bool,
    /// Actually delete tables past the retention period (otherwise only log them).
    pub retention_deletes_enabled: bool,
    /// Tables whose whole time range is older than this are deleted; 0 disables retention.
    pub retention_period: ModelDuration,
    /// How often tables are reconciled.
    pub poll_interval: GoDuration,
    /// How long before its period begins a table is created.
    pub creation_grace_period: GoDuration,
    /// Capacity of index tables.
    pub index_tables_provisioning: ProvisionConfig,
    /// Capacity of chunk tables.
    pub chunk_tables_provisioning: ProvisionConfig,
}

impl Default for TableManagerConfig {
    fn default() -> Self {
        Self {
            throughput_updates_disabled: false,
            retention_deletes_enabled: false,
            retention_period: ModelDuration(Duration::ZERO),
            poll_interval: GoDuration(Duration::from_secs(120)),
            creation_grace_period: GoDuration(Duration::from_secs(600)),
            index_tables_provisioning: ProvisionConfig::default(),
            chunk_tables_provisioning: ProvisionConfig::default(),
        }
    }
}

/// Cortex's message when the retention period is not a multiple of a table period.
pub const RETENTION_NOT_MULTIPLE: &str =
    "retention period should now be a multiple of periodic table duration";

impl TableManagerConfig {
    /// The retention period in milliseconds (0 when retention is off).
    pub fn retention_ms(&self) -> i64 {
        i64::try_from(self.retention_period.0.as_millis()).unwrap_or(i64::MAX)
    }

    /// Checks the retention period against every periodic table of `schema` (index tables, and
    /// chunk tables where chunks live in tables): it must be a multiple of each table period.
    pub fn validate_for_schema(&self, schema: &SchemaConfig) -> Result<(), String> {
        let retention = self.retention_ms();
        if retention == 0 {
            return Ok(());
        }
        for period in &schema.configs {
            let mut tables = vec![("index", &period.index)];
            if period.chunks_in_tables() {
                tables.push(("chunk", &period.chunks));
            }
            for (kind, table) in tables {
                let table_period = table.period_ms();
                if table_period != 0 && retention % table_period != 0 {
                    return Err(format!(
                        "{RETENTION_NOT_MULTIPLE}: table_manager.retention_period {} is not a multiple of \
                         the {kind} table period {} of the schema period from {}",
                        self.retention_period, table.period, period.from
                    ));
                }
            }
        }
        Ok(())
    }
}

const fn option(key: &'static str, flag: &'static str, help: &'static str) -> ConfigOption {
    ConfigOption { key, flag, help }
}

const TABLE_MANAGER_OPTIONS: &[ConfigOption] = &[
    option(
        "throughput_updates_disabled",
        "table-manager.throughput-updates-disabled",
        "If true, disable all changes to DB capacity.",
    ),
    option(
        "retention_deletes_enabled",
        "table-manager.retention-deletes-enabled",
        "If true, enables retention deletes of DB tables.",
    ),
    option(
        "retention_period",
        "table-manager.retention-period",
        "Tables whose data is older than this are deleted. Must be 0 (disabled) or a multiple of 24h and of every periodic table period. Destructive!",
    ),
    option("poll_interval", "table-manager.poll-interval", "How frequently to reconcile tables with the backend."),
    option(
        "creation_grace_period",
        "table-manager.periodic-table.grace-period",
        "How long before its period begins a periodic table is created.",
    ),
    option(
        "index_tables_provisioning.enable_ondemand_throughput_mode",
        "table-manager.index-table.enable-ondemand-throughput-mode",
        "Active index tables use on-demand capacity. Supported by DynamoDB.",
    ),
    option(
        "index_tables_provisioning.provisioned_write_throughput",
        "table-manager.index-table.write-throughput",
        "Write capacity units of active index tables. Supported by DynamoDB.",
    ),
    option(
        "index_tables_provisioning.provisioned_read_throughput",
        "table-manager.index-table.read-throughput",
        "Read capacity units of active index tables. Supported by DynamoDB.",
    ),
    option(
        "index_tables_provisioning.enable_inactive_throughput_on_demand_mode",
        "table-manager.index-table.inactive-enable-ondemand-throughput-mode",
        "Inactive index tables use on-demand capacity. Supported by DynamoDB.",
    ),
    option(
        "index_tables_provisioning.inactive_write_throughput",
        "table-manager.index-table.inactive-write-throughput",
        "Write capacity units of inactive index tables. Supported by DynamoDB.",
    ),
    option(
        "index_tables_provisioning.inactive_read_throughput",
        "table-manager.index-table.inactive-read-throughput",
        "Read capacity units of inactive index tables. Supported by DynamoDB.",
    ),
    option(
        "chunk_tables_provisioning.enable_ondemand_throughput_mode",
        "table-manager.chunk-table.enable-ondemand-throughput-mode",
        "Active chunk tables use on-demand capacity. Supported by DynamoDB.",
    ),
    option(
        "chunk_tables_provisioning.provisioned_write_throughput",
        "table-manager.chunk-table.write-throughput",
        "Write capacity units of active chunk tables. Supported by DynamoDB.",
    ),
    option(
        "chunk_tables_provisioning.provisioned_read_throughput",
        "table-manager.chunk-table.read-throughput",
        "Read capacity units of active chunk tables. Supported by DynamoDB.",
    ),
    option(
        "chunk_tables_provisioning.enable_inactive_throughput_on_demand_mode",
        "table-manager.chunk-table.inactive-enable-ondemand-throughput-mode",
        "Inactive chunk tables use on-demand capacity. Supported by DynamoDB.",
    ),
    option(
        "chunk_tables_provisioning.inactive_write_throughput",
        "table-manager.chunk-table.inactive-write-throughput",
        "Write capacity units of inactive chunk tables. Supported by DynamoDB.",
    ),
    option(
        "chunk_tables_provisioning.inactive_read_throughput",
        "table-manager.chunk-table.inactive-read-throughput",
        "Read capacity units of inactive chunk tables. Supported by DynamoDB.",
    ),
];

impl ConfigSection for TableManagerConfig {
    fn options() -> &'static [ConfigOption] {
        TABLE_MANAGER_OPTIONS
    }

    fn validate(&self) -> Result<(), String> {
        if self.poll_interval.0.is_zero() {
            return Err("table_manager.poll_interval must be greater than 0".to_string());
        }
        let retention = self.retention_ms();
        if retention % MS_PER_DAY != 0 {
            return Err(format!(
                "table_manager.retention_period must be either 0 (disabled) or a multiple of 24h, got {}",
                self.retention_period
            ));
        }
        self.index_tables_provisioning.validate("index_tables_provisioning")?;
        self.chunk_tables_provisioning.validate("chunk_tables_provisioning")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> TableManagerConfig {
        serde_norway::from_str(yaml).unwrap()
    }

    #[test]
    fn defaults_are_cortex_defaults() {
        let config = TableManagerConfig::default();
        assert_eq!(config.poll_interval.0, Duration::from_secs(120));
        assert_eq!(config.creation_grace_period.0, Duration::from_secs(600));
        assert_eq!(config.index_tables_provisioning.provisioned_write_throughput, 1000);
        assert_eq!(config.index_tables_provisioning.provisioned_read_throughput, 300);
        assert_eq!(config.chunk_tables_provisioning.inactive_write_throughput, 1);
        assert_eq!(config.chunk_tables_provisioning.inactive_read_throughput, 300);
        assert!(config.validate().is_ok());
        // Autoscaling sections stay out of the printed config unless given.
        let printed = serde_norway::to_string(&config).unwrap();
        assert!(!printed.contains("write_scale"), "{printed}");
    }

    #[test]
    fn cortex_yaml_with_disabled_autoscaling_parses() {
        let config = parse(
            "retention_deletes_enabled: true\nretention_period: 4w\n\
             index_tables_provisioning:\n  provisioned_write_throughput: 10\n  \
             write_scale: {enabled: false, role_arn: '', min_capacity: 3000, max_capacity: 6000, out_cooldown: 1800, in_cooldown: 1800, target: 80}\n  \
             inactive_write_scale_lastn: 4\n",
        );
        assert_eq!(config.retention_ms(), 28 * MS_PER_DAY);
        assert_eq!(config.index_tables_provisioning.provisioned_write_throughput, 10);
        assert!(config.validate().is_ok());
        assert!(serde_norway::from_str::<TableManagerConfig>("retention: 1d").is_err());
    }

    #[test]
    fn autoscaling_is_refused() {
        let config = parse("chunk_tables_provisioning:\n  inactive_read_scale: {enabled: true}\n");
        let err = config.validate().unwrap_err();
        assert!(
            err.contains("chunk_tables_provisioning.inactive_read_scale.enabled")
                && err.contains("not supported"),
            "{err}"
        );
    }

    #[test]
    fn retention_must_be_whole_days_and_capacities_non_negative() {
        let err = parse("retention_period: 36h").validate().unwrap_err();
        assert!(err.contains("multiple of 24h"), "{err}");
        let err =
            parse("index_tables_provisioning: {provisioned_read_throughput: -1}").validate().unwrap_err();
        assert!(err.contains("provisioned_read_throughput"), "{err}");
        let err = parse("poll_interval: 0s").validate().unwrap_err();
        assert!(err.contains("poll_interval"), "{err}");
    }

    #[test]
    fn retention_must_be_a_multiple_of_every_table_period() {
        let schema = SchemaConfig::from_yaml(
            "configs:\n\
             - {from: 2020-01-01, store: redb, schema: v9, index: {prefix: i_, period: 168h}}\n\
             - {from: 2020-03-01, store: aws-dynamo, schema: v11, index: {prefix: j_, period: 24h}, chunks: {prefix: c_, period: 72h}}\n",
        )
        .unwrap();
        assert!(parse("retention_period: 0s").validate_for_schema(&schema).is_ok());
        // 504h = 3 weeks: a multiple of 168h, 24h and 72h.
        assert!(parse("retention_period: 504h").validate_for_schema(&schema).is_ok());
        let err = parse("retention_period: 336h").validate_for_schema(&schema).unwrap_err();
        assert!(err.starts_with(RETENTION_NOT_MULTIPLE), "{err}");
        assert!(err.contains("chunk table period 3d") && err.contains("2020-03-01"), "{err}");
        let err = parse("retention_period: 72h").validate_for_schema(&schema).unwrap_err();
        assert!(err.contains("index table period 1w") && err.contains("2020-01-01"), "{err}");
    }
}
