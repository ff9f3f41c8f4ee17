//! The `storage:` section: which engine runs and where the local backends keep their files.
//!
//! Our embedded index is redb, configured under `redb:`; Cortex's `boltdb:` key is accepted as
//! an alias so Cortex config files keep working (the directory then holds `index.redb`, not
//! BoltDB files). Chunks on the local disk go under `filesystem:` as in Cortex.

use std::time::Duration;

use neocortex_core::duration::GoDuration;
use neocortex_core::{ConfigOption, ConfigSection};

use crate::cache::config::{CacheConfig, INDEX_QUERIES_CACHE_OPTIONS};

/// Where the embedded index keeps its database.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedbConfig {
    /// Directory of the index database file.
    pub directory: String,
}

impl Default for RedbConfig {
    fn default() -> Self {
        Self { directory: "./data/index".to_string() }
    }
}

/// Where filesystem chunk objects live.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesystemConfig {
    /// Directory of the chunk objects.
    pub directory: String,
}

impl Default for FilesystemConfig {
    fn default() -> Self {
        Self { directory: "./data/chunks".to_string() }
    }
}

/// The `storage:` section (Cortex's `storage_config`, for what we implement).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// The storage engine; only `chunks` is implemented.
    pub engine: String,
    /// The embedded index (`boltdb:` accepted as an alias).
    #[serde(alias = "boltdb")]
    pub redb: RedbConfig,
    /// Chunks on the local filesystem.
    pub filesystem: FilesystemConfig,
    /// DynamoDB and S3.
    pub aws: crate::aws::AwsConfig,
    /// Bigtable.
    pub bigtable: crate::gcp::BigtableConfig,
    /// Google Cloud Storage.
    pub gcs: crate::gcp::GcsConfig,
    /// Azure Blob storage.
    pub azure: crate::azure::AzureConfig,
    /// Cassandra (experimental).
    pub cassandra: crate::cassandra::CassandraConfig,
    /// How long cached answers about recent index buckets are used (`-store.index-cache-validity`).
    pub index_cache_validity: GoDuration,
    /// The index-query cache (`-store.index-cache-read.*`).
    pub index_queries_cache_config: CacheConfig,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            engine: "chunks".to_string(),
            redb: RedbConfig::default(),
            filesystem: FilesystemConfig::default(),
            aws: Default::default(),
            bigtable: Default::default(),
            gcs: Default::default(),
            azure: Default::default(),
            cassandra: Default::default(),
            index_cache_validity: GoDuration(Duration::from_secs(5 * 60)),
            index_queries_cache_config: CacheConfig::default(),
        }
    }
}

const STORAGE_OPTIONS: &[ConfigOption] = &[
    ConfigOption {
        key: "engine",
        flag: "store.engine",
        help: "The storage engine to use: chunks (blocks is not implemented yet).",
    },
    ConfigOption {
        key: "redb.directory",
        flag: "redb.dir",
        help: "Directory of the embedded redb index (the `boltdb` key is accepted as an alias).",
    },
    ConfigOption {
        key: "filesystem.directory",
        flag: "local.chunk-directory",
        help: "Directory to store chunks in.",
    },
];

/// The options of a nested section, keys prefixed with `section.` (built once per process).
fn nested<'a>(section: &'a str, options: &'static [ConfigOption]) -> impl Iterator<Item = ConfigOption> + 'a {
    options.iter().map(move |option| ConfigOption {
        key: Box::leak(format!("{section}.{}", option.key).into_boxed_str()),
        ..*option
    })
}

impl ConfigSection for StorageConfig {
    /// The section's own options followed by those of every backend section (`aws.*`,
    /// `bigtable.*`, `gcs.*`, `azure.*`, `cassandra.*`), so one table derives every flag.
    fn options() -> &'static [ConfigOption] {
        static ALL: std::sync::OnceLock<Vec<ConfigOption>> = std::sync::OnceLock::new();
        ALL.get_or_init(|| {
            let mut all = STORAGE_OPTIONS.to_vec();
            all.extend(nested("aws", crate::aws::AwsConfig::options()));
            all.extend(nested("bigtable", crate::gcp::BigtableConfig::options()));
            all.extend(nested("gcs", crate::gcp::GcsConfig::options()));
            all.extend(nested("azure", crate::azure::AzureConfig::options()));
            all.extend(nested("cassandra", crate::cassandra::CassandraConfig::options()));
            all.extend(INDEX_QUERIES_CACHE_OPTIONS.iter().copied());
            all
        })
    }

    fn validate(&self) -> Result<(), String> {
        if self.engine != "chunks" {
            return Err(format!(
                "unsupported storage engine {:?} in storage.engine: only chunks",
                self.engine
            ));
        }
        if self.redb.directory.is_empty() {
            return Err("storage.redb.directory must not be empty".to_string());
        }
        if self.filesystem.directory.is_empty() {
            return Err("storage.filesystem.directory must not be empty".to_string());
        }
        self.aws.validate()?;
        self.bigtable.validate()?;
        self.gcs.validate()?;
        self.azure.validate()?;
        self.cassandra.validate()?;
        self.index_queries_cache_config.validate_at("storage.index_queries_cache_config")
    }

    /// Every backend subsection redacted (aws, bigtable, gcs, azure, cassandra).
    fn redacted(&self) -> Self {
        Self {
            aws: self.aws.redacted(),
            bigtable: self.bigtable.redacted(),
            gcs: self.gcs.redacted(),
            azure: self.azure.redacted(),
            cassandra: self.cassandra.redacted(),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cortex_boltdb_key_is_an_alias() {
        let yaml = "engine: chunks\nboltdb: {directory: /tmp/idx}\nfilesystem: {directory: /tmp/chunks}\n";
        let config: StorageConfig = serde_norway::from_str(yaml).unwrap();
        assert_eq!(config.redb.directory, "/tmp/idx");
        assert_eq!(config.filesystem.directory, "/tmp/chunks");
        assert!(config.validate().is_ok());
        let redb: StorageConfig = serde_norway::from_str("redb: {directory: /x}").unwrap();
        assert_eq!(redb.redb.directory, "/x");
        assert_eq!(redb.engine, "chunks");
    }

    #[test]
    fn options_table_names_every_key_and_flags_are_unique() {
        let json = serde_json::to_value(StorageConfig::default()).unwrap();
        let options = StorageConfig::options();
        for option in options {
            let mut value = &json;
            for part in option.key.split('.') {
                value = value.get(part).unwrap_or_else(|| panic!("option {} missing in struct", option.key));
            }
        }
        let flags: std::collections::BTreeSet<&str> = options.iter().map(|o| o.flag).collect();
        assert_eq!(flags.len(), options.len(), "every flag names one option");
        assert!(options.iter().any(|o| o.key == "aws.dynamodb.dynamodb_url" && o.flag == "dynamodb.url"));
        assert!(options.iter().any(|o| o.key == "cassandra.addresses" && o.flag == "cassandra.addresses"));
    }

    #[test]
    fn redacted_masks_every_secret_and_keeps_the_rest() {
        let yaml = r#"
aws:
  dynamodb: {dynamodb_url: "http://DDBKEY:ddb-secret@127.0.0.1:5000"}
  s3: "s3://S3KEY:s3-url-secret@us-east-1/chunks"
  access_key_id: AKID
  secret_access_key: s3-secret
gcs: {bucket_name: b, service_account: '{"private_key": "gcs-secret"}'}
azure: {account_name: acct, account_key: azure-secret}
cassandra: {addresses: h, username: u, password: cassandra-secret}
"#;
        let config: StorageConfig = serde_norway::from_str(yaml).unwrap();
        let printed = serde_norway::to_string(&config.redacted()).unwrap();
        for secret in
            ["ddb-secret", "s3-url-secret", "s3-secret", "gcs-secret", "azure-secret", "cassandra-secret"]
        {
            assert!(!printed.contains(secret), "{secret} printed:\n{printed}");
            assert!(serde_norway::to_string(&config).unwrap().contains(secret), "{secret} is in the config");
        }
        let redacted = config.redacted();
        assert_eq!(redacted.aws.dynamodb.dynamodb_url, "http://DDBKEY:********@127.0.0.1:5000");
        assert_eq!(redacted.aws.s3, "s3://S3KEY:********@us-east-1/chunks");
        assert_eq!(redacted.aws.access_key_id, "AKID", "key ids are not secret");
        assert_eq!(redacted.azure.account_key, neocortex_core::secret::MASK);
        assert_eq!(redacted.azure.account_name, "acct");
        assert_eq!(redacted.cassandra.username, "u");
        assert_eq!(StorageConfig::default().redacted().cassandra.password, "", "unset stays empty");
        // The real values still reach the clients.
        let s3 = config.aws.s3_target().unwrap();
        assert_eq!(s3.credentials, Some(("AKID".to_string(), "s3-secret".to_string())));
        let dynamodb = config.aws.dynamodb_target().unwrap();
        assert_eq!(dynamodb.credentials, Some(("DDBKEY".to_string(), "ddb-secret".to_string())));
        assert_eq!(config.cassandra.resolved_password().unwrap(), "cassandra-secret");
    }

    #[test]
    fn validation() {
        let blocks = StorageConfig { engine: "blocks".into(), ..Default::default() };
        assert!(blocks.validate().unwrap_err().contains("storage.engine"));
        assert!(serde_norway::from_str::<StorageConfig>("s3: {}").is_err());
        let mut azure = StorageConfig::default();
        azure.azure.environment = "Mars".into();
        assert!(azure.validate().unwrap_err().contains("storage.azure.environment"));
    }
}
