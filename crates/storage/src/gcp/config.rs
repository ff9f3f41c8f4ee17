//! Configuration of the gcp backends: `storage.bigtable` (the index) and `storage.gcs` (chunk
//! objects), with Cortex's keys and flags plus an endpoint override each for emulators.

use std::time::Duration;

use neocortex_core::duration::GoDuration;
use neocortex_core::secret::mask;
use neocortex_core::{ConfigOption, ConfigSection};

/// Environment variable Google's clients read to talk to a local Bigtable emulator.
pub const BIGTABLE_EMULATOR_HOST_ENV: &str = "BIGTABLE_EMULATOR_HOST";

/// Environment variable Google's clients read to talk to a local GCS emulator.
pub const STORAGE_EMULATOR_HOST_ENV: &str = "STORAGE_EMULATOR_HOST";

/// Settings of the Bigtable index (Cortex's `bigtable:` block).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BigtableConfig {
    /// The Google Cloud project of the Bigtable instance.
    pub project: String,
    /// The Bigtable instance.
    pub instance: String,
    /// `host:port` of a Bigtable emulator (no TLS, no credentials); empty: the
    /// `BIGTABLE_EMULATOR_HOST` environment variable if set, else Google's Bigtable service.
    pub emulator_host: String,
    /// Remember tables known to exist instead of asking before every write.
    pub table_cache_enabled: bool,
    /// How long a remembered table is trusted.
    pub table_cache_expiration: GoDuration,
}

impl Default for BigtableConfig {
    fn default() -> Self {
        Self {
            project: String::new(),
            instance: String::new(),
            emulator_host: String::new(),
            table_cache_enabled: true,
            table_cache_expiration: GoDuration(Duration::from_secs(30 * 60)),
        }
    }
}

impl BigtableConfig {
    /// The emulator to use: `emulator_host`, else `BIGTABLE_EMULATOR_HOST`, else none.
    pub fn effective_emulator_host(&self) -> Option<String> {
        if !self.emulator_host.is_empty() {
            return Some(self.emulator_host.clone());
        }
        std::env::var(BIGTABLE_EMULATOR_HOST_ENV).ok().filter(|host| !host.is_empty())
    }

    /// Checks what a client needs before connecting.
    pub fn check_usable(&self) -> Result<(), String> {
        if self.project.is_empty() {
            return Err("storage.bigtable.project (-bigtable.project) must be set".to_string());
        }
        if self.instance.is_empty() {
            return Err("storage.bigtable.instance (-bigtable.instance) must be set".to_string());
        }
        Ok(())
    }
}

const BIGTABLE_OPTIONS: &[ConfigOption] = &[
    ConfigOption { key: "project", flag: "bigtable.project", help: "Bigtable project ID." },
    ConfigOption { key: "instance", flag: "bigtable.instance", help: "Bigtable instance ID." },
    ConfigOption {
        key: "emulator_host",
        flag: "bigtable.emulator-host",
        help: "host:port of a Bigtable emulator (plain gRPC, no credentials); empty uses BIGTABLE_EMULATOR_HOST if set.",
    },
    ConfigOption {
        key: "table_cache_enabled",
        flag: "bigtable.table-cache.enabled",
        help: "If enabled, once a tables info is fetched, it is cached.",
    },
    ConfigOption {
        key: "table_cache_expiration",
        flag: "bigtable.table-cache.expiration",
        help: "Duration to cache tables before checking again.",
    },
];

impl ConfigSection for BigtableConfig {
    fn options() -> &'static [ConfigOption] {
        BIGTABLE_OPTIONS
    }
}

/// Settings of the GCS object store (Cortex's `gcs:` block).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GcsConfig {
    /// The bucket holding chunk objects.
    pub bucket_name: String,
    /// Accepted for Cortex compatibility; uploads are single requests either way.
    pub chunk_buffer_size: u64,
    /// Timeout of each request to GCS; 0 means the client's default.
    pub request_timeout: GoDuration,
    /// Accepted for Cortex compatibility; has no effect.
    pub enable_opencensus: bool,
    /// JSON of a service-account key; empty: Google's default credentials.
    pub service_account: String,
    /// Base URL of a GCS emulator (`http://127.0.0.1:4443`): no credentials are sent. Empty:
    /// `STORAGE_EMULATOR_HOST` if set, else Google's service.
    pub endpoint: String,
}

impl Default for GcsConfig {
    fn default() -> Self {
        Self {
            bucket_name: String::new(),
            chunk_buffer_size: 0,
            request_timeout: GoDuration(Duration::ZERO),
            enable_opencensus: true,
            service_account: String::new(),
            endpoint: String::new(),
        }
    }
}

impl GcsConfig {
    /// The emulator base URL to use: `endpoint`, else `STORAGE_EMULATOR_HOST` (with `http://`
    /// added when it names only a host), else none.
    pub fn effective_endpoint(&self) -> Option<String> {
        let endpoint = if self.endpoint.is_empty() {
            std::env::var(STORAGE_EMULATOR_HOST_ENV).ok().filter(|host| !host.is_empty())?
        } else {
            self.endpoint.clone()
        };
        let endpoint = endpoint.trim_end_matches('/');
        if endpoint.contains("://") {
            Some(endpoint.to_string())
        } else {
            Some(format!("http://{endpoint}"))
        }
    }
}

const GCS_OPTIONS: &[ConfigOption] = &[
    ConfigOption { key: "bucket_name", flag: "gcs.bucketname", help: "Name of GCS bucket." },
    ConfigOption {
        key: "chunk_buffer_size",
        flag: "gcs.chunk-buffer-size",
        help: "Accepted for Cortex compatibility; has no effect (each chunk is uploaded in one request).",
    },
    ConfigOption {
        key: "request_timeout",
        flag: "gcs.request-timeout",
        help: "The duration after which the requests to GCS should be timed out.",
    },
    ConfigOption {
        key: "enable_opencensus",
        flag: "gcs.enable-opencensus",
        help: "Accepted for Cortex compatibility; has no effect.",
    },
    ConfigOption {
        key: "service_account",
        flag: "gcs.service-account",
        help: "JSON of a service-account key; empty uses Google's default credentials.",
    },
    ConfigOption {
        key: "endpoint",
        flag: "gcs.endpoint",
        help:
            "Base URL of a GCS emulator (no credentials are sent); empty uses STORAGE_EMULATOR_HOST if set.",
    },
];

impl ConfigSection for GcsConfig {
    fn options() -> &'static [ConfigOption] {
        GCS_OPTIONS
    }

    /// Masks `service_account` (a service-account key's JSON).
    fn redacted(&self) -> Self {
        Self { service_account: mask(&self.service_account), ..self.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cortex_keys_parse() {
        let yaml = "project: p\ninstance: i\ntable_cache_enabled: false\ntable_cache_expiration: 10m\n";
        let config: BigtableConfig = serde_norway::from_str(yaml).unwrap();
        assert_eq!(config.project, "p");
        assert_eq!(config.instance, "i");
        assert!(!config.table_cache_enabled);
        assert_eq!(config.table_cache_expiration.0, Duration::from_secs(600));
        assert!(config.check_usable().is_ok());
        let missing = BigtableConfig::default().check_usable().unwrap_err();
        assert!(missing.contains("-bigtable.project"), "{missing}");

        let yaml = "bucket_name: b\nchunk_buffer_size: 0\nrequest_timeout: 5s\nenable_opencensus: true\n";
        let gcs: GcsConfig = serde_norway::from_str(yaml).unwrap();
        assert_eq!(gcs.bucket_name, "b");
        assert_eq!(gcs.request_timeout.0, Duration::from_secs(5));
        assert!(serde_norway::from_str::<GcsConfig>("bucket: b").is_err(), "unknown keys are refused");
    }

    #[test]
    fn emulator_endpoints() {
        let gcs = GcsConfig { endpoint: "127.0.0.1:4443/".into(), ..Default::default() };
        assert_eq!(gcs.effective_endpoint().as_deref(), Some("http://127.0.0.1:4443"));
        let gcs = GcsConfig { endpoint: "https://gcs.local".into(), ..Default::default() };
        assert_eq!(gcs.effective_endpoint().as_deref(), Some("https://gcs.local"));
        let bigtable = BigtableConfig { emulator_host: "127.0.0.1:8086".into(), ..Default::default() };
        assert_eq!(bigtable.effective_emulator_host().as_deref(), Some("127.0.0.1:8086"));
    }
}
