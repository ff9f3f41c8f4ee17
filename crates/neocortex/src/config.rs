//! The whole configuration: Cortex's YAML sections composed from each component's own config
//! struct, loaded as defaults, then the `-config.file` YAML, then command-line flags.

use std::path::PathBuf;
use std::time::Duration;

use neocortex_core::duration::GoDuration;
use neocortex_core::{ConfigOption, ConfigSection, Limits};
use neocortex_distributor::DistributorConfig;
use neocortex_ingester::IngesterConfig;
use neocortex_querier::QuerierConfig;
use neocortex_storage::cache::ChunkStoreConfig;
use neocortex_storage::table_manager::TableManagerConfig;
use neocortex_storage::{PeriodConfig, PeriodicTableConfig, SchemaConfig, SchemaVersion, StorageConfig};
use serde::{Deserialize, Serialize};

/// The root of the YAML file, with Cortex's key names.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Comma-separated modules to run (`all` by default).
    pub target: String,
    /// Whether requests must carry a tenant (`X-Scope-OrgID`); when off every request is tenant `fake`.
    pub auth_enabled: bool,
    /// Beyond Cortex: take the tenant from the HTTP basic-auth user name when no
    /// `X-Scope-OrgID` is sent (a stock Prometheus can send basic auth but no custom headers).
    pub tenant_from_basic_auth: bool,
    /// Prefix of the legacy Cortex API paths.
    pub http_prefix: String,
    /// HTTP API layout.
    pub api: ApiConfig,
    /// HTTP and gRPC servers.
    pub server: ServerConfig,
    /// The distributor.
    pub distributor: DistributorConfig,
    /// The ingester.
    pub ingester: IngesterConfig,
    /// The querier.
    pub querier: QuerierConfig,
    /// Default per-tenant limits.
    pub limits: Limits,
    /// The runtime configuration file with per-tenant overrides.
    pub runtime_config: RuntimeConfigConfig,
    /// The chunk store's periods (`-schema-config-file` replaces it with a file's `configs:`).
    pub schema: SchemaConfig,
    /// The chunk store's backends.
    pub storage: StorageConfig,
    /// The chunk store's chunk cache, write-dedupe cache and index-cache age rule (Cortex's
    /// `chunk_store_config`); the index-query cache is in `storage:`.
    pub chunk_store: ChunkStoreConfig,
    /// The table manager.
    pub table_manager: TableManagerConfig,
}

/// The schema used when none is configured: one period from 2020-01-01, the embedded redb index
/// (Cortex's `boltdb` name) and chunks on the local filesystem, schema v11, weekly index tables
/// `index_<week>` as Cortex's single-process example has them.
pub fn default_schema() -> SchemaConfig {
    let week = neocortex_core::duration::ModelDuration(Duration::from_secs(168 * 3600));
    SchemaConfig {
        configs: vec![PeriodConfig {
            // 2020-01-01T00:00:00Z.
            from: neocortex_storage::schema::day::DayTime { start_ms: 1_577_836_800_000 },
            store: "boltdb".to_string(),
            object_store: "filesystem".to_string(),
            schema: SchemaVersion::V11,
            index: PeriodicTableConfig {
                prefix: "index_".to_string(),
                period: week,
                tags: Default::default(),
            },
            chunks: PeriodicTableConfig {
                prefix: "chunks_".to_string(),
                period: week,
                tags: Default::default(),
            },
            row_shards: 0,
        }],
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            target: "all".to_string(),
            auth_enabled: true,
            tenant_from_basic_auth: false,
            http_prefix: "/api/prom".to_string(),
            api: ApiConfig::default(),
            server: ServerConfig::default(),
            distributor: DistributorConfig::default(),
            ingester: IngesterConfig::default(),
            querier: QuerierConfig::default(),
            limits: Limits::default(),
            runtime_config: RuntimeConfigConfig::default(),
            schema: default_schema(),
            storage: StorageConfig::default(),
            chunk_store: ChunkStoreConfig::default(),
            table_manager: TableManagerConfig::default(),
        }
    }
}

/// The options of the root that belong to no section.
const ROOT_OPTIONS: &[ConfigOption] = &[
    ConfigOption {
        key: "target",
        flag: "target",
        help: "Comma-separated list of modules to run: all, distributor, ingester, querier, store, table-manager, ring, overrides, runtime-config, api, server.",
    },
    ConfigOption {
        key: "auth_enabled",
        flag: "auth.enabled",
        help: "Require a tenant on every request; when false every request uses tenant \"fake\".",
    },
    ConfigOption {
        key: "tenant_from_basic_auth",
        flag: "auth.tenant-from-basic-auth",
        help: "Take the tenant from the basic-auth user name when X-Scope-OrgID is absent (not in Cortex).",
    },
    ConfigOption { key: "http_prefix", flag: "http.prefix", help: "Prefix of the legacy HTTP API paths." },
];

/// The `api:` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Where the Prometheus-compatible query API is mounted.
    pub prometheus_http_prefix: String,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self { prometheus_http_prefix: "/prometheus".to_string() }
    }
}

impl ConfigSection for ApiConfig {
    fn options() -> &'static [ConfigOption] {
        &[ConfigOption {
            key: "prometheus_http_prefix",
            flag: "http.prometheus-http-prefix",
            help: "HTTP path prefix of the Prometheus query API.",
        }]
    }

    fn validate(&self) -> Result<(), String> {
        if !self.prometheus_http_prefix.is_empty() && !self.prometheus_http_prefix.starts_with('/') {
            return Err("api.prometheus_http_prefix: must start with /".to_string());
        }
        Ok(())
    }
}

/// The `server:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// HTTP listen address (empty: all interfaces).
    pub http_listen_address: String,
    /// HTTP listen port; 0 picks a free one.
    pub http_listen_port: u16,
    /// gRPC listen address (empty: all interfaces).
    pub grpc_listen_address: String,
    /// gRPC listen port; 0 picks a free one.
    pub grpc_listen_port: u16,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub graceful_shutdown_timeout: GoDuration,
    /// Log level: debug, info, warn, error.
    pub log_level: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            http_listen_address: String::new(),
            http_listen_port: 9009,
            grpc_listen_address: String::new(),
            grpc_listen_port: 9095,
            graceful_shutdown_timeout: GoDuration(Duration::from_secs(30)),
            log_level: "info".to_string(),
        }
    }
}

impl ConfigSection for ServerConfig {
    fn options() -> &'static [ConfigOption] {
        &[
            ConfigOption {
                key: "http_listen_address",
                flag: "server.http-listen-address",
                help: "HTTP server listen address.",
            },
            ConfigOption {
                key: "http_listen_port",
                flag: "server.http-listen-port",
                help: "HTTP server listen port (0 picks a free port).",
            },
            ConfigOption {
                key: "grpc_listen_address",
                flag: "server.grpc-listen-address",
                help: "gRPC server listen address.",
            },
            ConfigOption {
                key: "grpc_listen_port",
                flag: "server.grpc-listen-port",
                help: "gRPC server listen port (0 picks a free port).",
            },
            ConfigOption {
                key: "graceful_shutdown_timeout",
                flag: "server.graceful-shutdown-timeout",
                help: "Time to wait for in-flight requests after a shutdown signal.",
            },
            ConfigOption {
                key: "log_level",
                flag: "log.level",
                help: "Only log messages at or above this level: debug, info, warn, error.",
            },
        ]
    }

    fn validate(&self) -> Result<(), String> {
        match self.log_level.as_str() {
            "debug" | "info" | "warn" | "error" => Ok(()),
            other => Err(format!("server.log_level: unknown level {other:?}")),
        }
    }
}

/// The `runtime_config:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfigConfig {
    /// How often the file is re-read.
    pub period: GoDuration,
    /// The file with per-tenant overrides; empty for none.
    pub file: String,
}

impl Default for RuntimeConfigConfig {
    fn default() -> Self {
        Self { period: GoDuration(Duration::from_secs(10)), file: String::new() }
    }
}

impl ConfigSection for RuntimeConfigConfig {
    fn options() -> &'static [ConfigOption] {
        &[
            ConfigOption {
                key: "period",
                flag: "runtime-config.reload-period",
                help: "How often to check the runtime config file.",
            },
            ConfigOption {
                key: "file",
                flag: "runtime-config.file",
                help: "File with the runtime configuration (per-tenant limit overrides).",
            },
        ]
    }
}

/// One YAML section and its options, for flags and the reference doc.
#[derive(Debug, Clone, Copy)]
pub struct SectionOptions {
    /// The YAML key of the section; empty for options at the root.
    pub section: &'static str,
    /// Its options.
    pub options: &'static [ConfigOption],
}

/// Every option of every section, in the order of the reference. A section name may be a
/// dotted path (`storage.aws`) for a subsection with its own table. `schema` has no options:
/// its `configs` list is set in the YAML or loaded with `-schema-config-file`.
pub fn all_sections() -> Vec<SectionOptions> {
    vec![
        SectionOptions { section: "", options: ROOT_OPTIONS },
        SectionOptions { section: "api", options: ApiConfig::options() },
        SectionOptions { section: "server", options: ServerConfig::options() },
        SectionOptions { section: "distributor", options: DistributorConfig::options() },
        SectionOptions { section: "ingester", options: IngesterConfig::options() },
        SectionOptions { section: "querier", options: QuerierConfig::options() },
        SectionOptions { section: "limits", options: Limits::options() },
        SectionOptions { section: "runtime_config", options: RuntimeConfigConfig::options() },
        SectionOptions { section: "storage", options: StorageConfig::options() },
        SectionOptions { section: "chunk_store", options: ChunkStoreConfig::options() },
        SectionOptions { section: "table_manager", options: TableManagerConfig::options() },
    ]
}

impl Config {
    /// Checks every section's values; the message names the bad option.
    pub fn validate(&self) -> Result<(), String> {
        self.api.validate()?;
        self.server.validate()?;
        self.distributor.validate()?;
        self.ingester.validate()?;
        self.querier.validate()?;
        self.limits.validate()?;
        self.runtime_config.validate()?;
        self.schema.validate().map_err(|err| format!("schema: {err}"))?;
        if self.schema.configs.is_empty() {
            return Err("schema: no periods configured (schema.configs or -schema-config-file)".to_string());
        }
        // Covers every backend subsection (aws, bigtable, gcs, azure, cassandra) too.
        self.storage.validate()?;
        self.chunk_store.validate()?;
        self.table_manager.validate()?;
        self.table_manager.validate_for_schema(&self.schema)?;
        crate::modules::parse_targets(&self.target)?;
        Ok(())
    }

    /// A copy fit to print (`-print.config`, `GET /config`): every section's secrets masked
    /// (see [`ConfigSection::redacted`]); the process runs with `self`.
    pub fn redacted(&self) -> Config {
        Config {
            api: self.api.redacted(),
            server: self.server.redacted(),
            distributor: self.distributor.redacted(),
            ingester: self.ingester.redacted(),
            querier: self.querier.redacted(),
            limits: self.limits.redacted(),
            runtime_config: self.runtime_config.redacted(),
            storage: self.storage.redacted(),
            chunk_store: self.chunk_store.redacted(),
            table_manager: self.table_manager.redacted(),
            ..self.clone()
        }
    }

    /// The runtime config file, if one is set.
    pub fn runtime_config_file(&self) -> Option<PathBuf> {
        (!self.runtime_config.file.is_empty()).then(|| PathBuf::from(&self.runtime_config.file))
    }
}
