//! Configuration of the aws backend: Cortex's `storage.aws` section (`-dynamodb.*` and `-s3.*`
//! flags), validated, and resolved into where each client connects.

use std::time::Duration;

use neocortex_core::duration::GoDuration;
use neocortex_core::secret::{mask, mask_url_password};
use neocortex_core::{ConfigOption, ConfigSection};

use crate::aws::url::{AwsUrl, Target, DEFAULT_ENDPOINT_REGION};

/// Retry pacing of DynamoDB writes whose items came back unprocessed (Cortex's `backoff_config`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackoffConfig {
    /// First wait before a retry.
    pub min_period: GoDuration,
    /// Longest wait between retries.
    pub max_period: GoDuration,
    /// Retries before the write fails.
    pub max_retries: u32,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            min_period: GoDuration(Duration::from_millis(100)),
            max_period: GoDuration(Duration::from_secs(50)),
            max_retries: 20,
        }
    }
}

/// The `storage.aws.dynamodb` section.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DynamoDbConfig {
    /// `dynamodb://[key:secret@]region` or `http(s)://[key:secret@]host:port`.
    pub dynamodb_url: String,
    /// Table management requests per second.
    pub api_limit: f64,
    /// Items per second written when retrying throttled (unprocessed) items.
    pub throttle_limit: f64,
    /// Retry pacing of unprocessed writes.
    pub backoff_config: BackoffConfig,
}

impl Default for DynamoDbConfig {
    fn default() -> Self {
        Self {
            dynamodb_url: String::new(),
            api_limit: 2.0,
            throttle_limit: 10.0,
            backoff_config: Default::default(),
        }
    }
}

/// Settings of the aws backend: the `storage.aws` section, with Cortex's keys.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsConfig {
    /// The DynamoDB index.
    pub dynamodb: DynamoDbConfig,
    /// `s3://[key:secret@]region/bucket` or `http(s)://[key:secret@]host:port/bucket`.
    pub s3: String,
    /// Path-style requests (`endpoint/bucket/key`) instead of virtual-hosted style.
    pub s3forcepathstyle: bool,
    /// Comma-separated buckets to spread chunks over; overrides the buckets of `s3`.
    pub bucketnames: String,
    /// S3 endpoint (host[:port] or a URL); overrides the host of `s3`.
    pub endpoint: String,
    /// AWS region of S3.
    pub region: String,
    /// Access key id of S3.
    pub access_key_id: String,
    /// Secret access key of S3.
    pub secret_access_key: String,
    /// Plain http to the S3 endpoint.
    pub insecure: bool,
    /// HTTP client settings of S3.
    pub http_config: S3HttpConfig,
}

/// The `storage.aws.http_config` section: the S3 HTTP client.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3HttpConfig {
    /// How long an idle connection stays open.
    pub idle_conn_timeout: GoDuration,
    /// Skip certificate verification (test setups only).
    pub insecure_skip_verify: bool,
}

impl Default for S3HttpConfig {
    fn default() -> Self {
        Self { idle_conn_timeout: GoDuration(Duration::from_secs(90)), insecure_skip_verify: false }
    }
}

const AWS_OPTIONS: &[ConfigOption] = &[
    ConfigOption {
        key: "dynamodb.dynamodb_url",
        flag: "dynamodb.url",
        help: "DynamoDB endpoint URL with escaped key and secret encoded: dynamodb://key:secret@region, or http://key:secret@host:port for a custom endpoint.",
    },
    ConfigOption {
        key: "dynamodb.api_limit",
        flag: "dynamodb.api-limit",
        help: "DynamoDB table management requests per second limit.",
    },
    ConfigOption {
        key: "dynamodb.throttle_limit",
        flag: "dynamodb.throttle-limit",
        help: "DynamoDB rate cap (items per second) to back off when throttled.",
    },
    ConfigOption {
        key: "dynamodb.backoff_config.min_period",
        flag: "dynamodb.min-backoff",
        help: "Minimum backoff time when retrying unprocessed DynamoDB writes.",
    },
    ConfigOption {
        key: "dynamodb.backoff_config.max_period",
        flag: "dynamodb.max-backoff",
        help: "Maximum backoff time when retrying unprocessed DynamoDB writes.",
    },
    ConfigOption {
        key: "dynamodb.backoff_config.max_retries",
        flag: "dynamodb.max-retries",
        help: "Maximum number of times to retry unprocessed DynamoDB writes.",
    },
    ConfigOption {
        key: "s3",
        flag: "s3.url",
        help: "S3 endpoint URL with escaped key and secret encoded: s3://key:secret@region/bucket, or http://key:secret@host:port/bucket for a custom endpoint.",
    },
    ConfigOption {
        key: "s3forcepathstyle",
        flag: "s3.force-path-style",
        help: "Force requests to use path-style addressing.",
    },
    ConfigOption {
        key: "bucketnames",
        flag: "s3.buckets",
        help: "Comma separated list of bucket names to evenly distribute chunks over; overrides any buckets in -s3.url.",
    },
    ConfigOption { key: "endpoint", flag: "s3.endpoint", help: "S3 endpoint to connect to." },
    ConfigOption { key: "region", flag: "s3.region", help: "AWS region to use." },
    ConfigOption { key: "access_key_id", flag: "s3.access-key-id", help: "AWS access key id." },
    ConfigOption { key: "secret_access_key", flag: "s3.secret-access-key", help: "AWS secret access key." },
    ConfigOption { key: "insecure", flag: "s3.insecure", help: "Disable https on the S3 connection." },
    ConfigOption {
        key: "http_config.idle_conn_timeout",
        flag: "s3.http.idle-conn-timeout",
        help: "The maximum amount of time an idle S3 connection is held open.",
    },
    ConfigOption {
        key: "http_config.insecure_skip_verify",
        flag: "s3.http.insecure-skip-verify",
        help: "Skip verifying the S3 server's certificate chain and host name.",
    },
];

impl ConfigSection for AwsConfig {
    fn options() -> &'static [ConfigOption] {
        AWS_OPTIONS
    }

    /// Masks `secret_access_key` and the secrets of the `s3` and `dynamodb_url` URLs.
    fn redacted(&self) -> Self {
        let mut copy = self.clone();
        copy.dynamodb.dynamodb_url = mask_url_password(&self.dynamodb.dynamodb_url);
        copy.s3 = mask_url_password(&self.s3);
        copy.secret_access_key = mask(&self.secret_access_key);
        copy
    }

    fn validate(&self) -> Result<(), String> {
        let dynamodb = &self.dynamodb;
        if !dynamodb.dynamodb_url.is_empty() {
            self.dynamodb_target().map_err(|e| e.to_string())?;
        }
        if !(dynamodb.api_limit.is_finite() && dynamodb.api_limit > 0.0) {
            return Err(format!(
                "storage.aws.dynamodb.api_limit must be above 0, got {}",
                dynamodb.api_limit
            ));
        }
        if !(dynamodb.throttle_limit.is_finite() && dynamodb.throttle_limit > 0.0) {
            return Err(format!(
                "storage.aws.dynamodb.throttle_limit must be above 0, got {}",
                dynamodb.throttle_limit
            ));
        }
        let backoff = &dynamodb.backoff_config;
        if backoff.min_period.0.is_zero() || backoff.min_period > backoff.max_period {
            return Err(format!(
                "storage.aws.dynamodb.backoff_config: min_period ({}) must be above 0 and at most max_period ({})",
                backoff.min_period, backoff.max_period
            ));
        }
        if self.access_key_id.is_empty() != self.secret_access_key.is_empty() {
            return Err("storage.aws.access_key_id and storage.aws.secret_access_key must be set together"
                .to_string());
        }
        if !self.s3.is_empty() || !self.bucketnames.is_empty() {
            self.s3_target().map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// Static credentials: access key id and secret.
pub type Credentials = (String, String);

/// Where the DynamoDB client connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamoDbTarget {
    /// Endpoint or region.
    pub target: Target,
    /// Static credentials from the URL; the default credential chain otherwise.
    pub credentials: Option<Credentials>,
}

/// Where the S3 client connects, after every option is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Target {
    /// A custom endpoint (scheme included); AWS's own endpoint when `None`.
    pub endpoint: Option<String>,
    /// The region (empty: from the environment, else the SDK default).
    pub region: String,
    /// The buckets chunks are spread over (at least one).
    pub buckets: Vec<String>,
    /// Static credentials; the environment / instance credentials otherwise.
    pub credentials: Option<Credentials>,
    /// Path-style requests.
    pub force_path_style: bool,
    /// Plain http allowed.
    pub allow_http: bool,
}

fn config_error(message: String) -> crate::StorageError {
    crate::StorageError::Config(message)
}

fn credentials_of(url: &AwsUrl, option: &str) -> Result<Option<Credentials>, crate::StorageError> {
    match (&url.access_key_id, &url.secret_access_key) {
        (None, _) => Ok(None),
        (Some(key), Some(secret)) if !key.is_empty() && !secret.is_empty() => {
            Ok(Some((key.clone(), secret.clone())))
        }
        _ => Err(config_error(format!("{option}: the URL's user part must be key:secret, both non-empty"))),
    }
}

impl AwsConfig {
    /// Where the DynamoDB client connects, from `dynamodb.dynamodb_url`.
    pub fn dynamodb_target(&self) -> Result<DynamoDbTarget, crate::StorageError> {
        const OPTION: &str = "storage.aws.dynamodb.dynamodb_url";
        let text = &self.dynamodb.dynamodb_url;
        if text.is_empty() {
            return Err(config_error(format!("{OPTION} (-dynamodb.url) must be set to use DynamoDB")));
        }
        let url = AwsUrl::parse(text).map_err(|e| config_error(format!("{OPTION}: {e}")))?;
        if !matches!(url.scheme.as_str(), "dynamodb" | "http" | "https") {
            return Err(config_error(format!(
                "{OPTION}: unsupported scheme {:?} (use dynamodb://, http:// or https://)",
                url.scheme
            )));
        }
        let region = std::env::var("AWS_REGION").unwrap_or_default();
        Ok(DynamoDbTarget { target: url.target(&region), credentials: credentials_of(&url, OPTION)? })
    }

    /// Where the S3 client connects: `s3` first, then `bucketnames`, `endpoint`, `region`,
    /// `access_key_id`/`secret_access_key` and `insecure` override it, as in Cortex.
    pub fn s3_target(&self) -> Result<S3Target, crate::StorageError> {
        const OPTION: &str = "storage.aws.s3";
        let mut target = S3Target {
            endpoint: None,
            region: String::new(),
            buckets: Vec::new(),
            credentials: None,
            force_path_style: self.s3forcepathstyle,
            allow_http: self.insecure,
        };
        if !self.s3.is_empty() {
            let url = AwsUrl::parse(&self.s3).map_err(|e| config_error(format!("{OPTION}: {e}")))?;
            if !matches!(url.scheme.as_str(), "s3" | "http" | "https") {
                return Err(config_error(format!(
                    "{OPTION}: unsupported scheme {:?} (use s3://, http:// or https://)",
                    url.scheme
                )));
            }
            target.credentials = credentials_of(&url, OPTION)?;
            match url.target(&self.region) {
                Target::Endpoint { url: endpoint, region } => {
                    target.allow_http |= endpoint.starts_with("http://");
                    target.endpoint = Some(endpoint);
                    target.region = region;
                }
                Target::Region(region) => target.region = region,
            }
            target.buckets = split_buckets(&url.path);
        }
        if !self.bucketnames.is_empty() {
            target.buckets = split_buckets(&self.bucketnames);
        }
        if !self.endpoint.is_empty() {
            let endpoint = if self.endpoint.contains("://") {
                self.endpoint.clone()
            } else {
                let scheme = if self.insecure { "http" } else { "https" };
                format!("{scheme}://{}", self.endpoint)
            };
            target.allow_http |= endpoint.starts_with("http://");
            target.endpoint = Some(endpoint);
            if target.region.is_empty() {
                target.region = DEFAULT_ENDPOINT_REGION.to_string();
            }
        }
        if !self.region.is_empty() {
            target.region = self.region.clone();
        }
        if !self.access_key_id.is_empty() {
            target.credentials = Some((self.access_key_id.clone(), self.secret_access_key.clone()));
        }
        if target.buckets.is_empty() {
            return Err(config_error(
                "storage.aws: no S3 bucket: name one in the path of s3 (-s3.url) or in bucketnames (-s3.buckets)"
                    .to_string(),
            ));
        }
        if let Some(bad) = target.buckets.iter().find(|b| !valid_bucket_name(b)) {
            return Err(config_error(format!("storage.aws: invalid S3 bucket name {bad:?}")));
        }
        Ok(target)
    }
}

fn split_buckets(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|b| !b.is_empty()).map(str::to_string).collect()
}

/// S3's bucket naming rules: 3–63 of lowercase letters, digits, `.` and `-`, starting and ending
/// with a letter or digit.
fn valid_bucket_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (3..=63).contains(&bytes.len())
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_cortex_defaults_and_valid() {
        let config = AwsConfig::default();
        assert_eq!(config.dynamodb.api_limit, 2.0);
        assert_eq!(config.dynamodb.throttle_limit, 10.0);
        assert_eq!(config.dynamodb.backoff_config.max_retries, 20);
        assert_eq!(config.dynamodb.backoff_config.min_period.to_string(), "100ms");
        assert_eq!(config.dynamodb.backoff_config.max_period.to_string(), "50s");
        assert!(config.validate().is_ok(), "an unused aws section is valid");
        assert!(config.dynamodb_target().unwrap_err().to_string().contains("-dynamodb.url"));
        assert!(config.s3_target().unwrap_err().to_string().contains("no S3 bucket"));
    }

    #[test]
    fn options_table_names_every_key() {
        let json = serde_json::to_value(AwsConfig::default()).unwrap();
        for option in AwsConfig::options() {
            let mut value = &json;
            for part in option.key.split('.') {
                value = value.get(part).unwrap_or_else(|| panic!("option {} missing in struct", option.key));
            }
        }
    }

    #[test]
    fn cortex_yaml_parses_and_resolves() {
        let yaml = r#"
dynamodb:
  dynamodb_url: http://AKID:SECRET@127.0.0.1:5000
  api_limit: 5
  backoff_config: {min_period: 50ms, max_period: 2s, max_retries: 3}
s3: s3://KEY:SEC%2FRET@eu-west-1/chunks-a
s3forcepathstyle: true
"#;
        let config: AwsConfig = serde_norway::from_str(yaml).unwrap();
        assert!(config.validate().is_ok());
        let dynamo = config.dynamodb_target().unwrap();
        assert!(
            matches!(&dynamo.target, Target::Endpoint { url, .. } if url == "http://127.0.0.1:5000"),
            "{dynamo:?}"
        );
        assert_eq!(dynamo.credentials, Some(("AKID".into(), "SECRET".into())));
        let s3 = config.s3_target().unwrap();
        assert_eq!(s3.endpoint, None);
        assert_eq!(s3.region, "eu-west-1");
        assert_eq!(s3.buckets, ["chunks-a"]);
        assert_eq!(s3.credentials, Some(("KEY".into(), "SEC/RET".into())));
        assert!(s3.force_path_style && !s3.allow_http);
        assert!(
            serde_norway::from_str::<AwsConfig>("dynamodb: {url: x}").is_err(),
            "unknown keys are refused"
        );
    }

    #[test]
    fn explicit_options_override_the_s3_url() {
        let config = AwsConfig {
            s3: "s3://us-east-1/from-url".into(),
            bucketnames: "a-bucket, b-bucket".into(),
            endpoint: "minio.local:9000".into(),
            insecure: true,
            region: "eu-central-1".into(),
            access_key_id: "id".into(),
            secret_access_key: "secret".into(),
            ..Default::default()
        };
        let s3 = config.s3_target().unwrap();
        assert_eq!(s3.endpoint.as_deref(), Some("http://minio.local:9000"));
        assert_eq!(s3.buckets, ["a-bucket", "b-bucket"]);
        assert_eq!(s3.region, "eu-central-1");
        assert_eq!(s3.credentials, Some(("id".into(), "secret".into())));
        assert!(s3.allow_http);
        let tls =
            AwsConfig { endpoint: "s3.example.com".into(), bucketnames: "abc".into(), ..Default::default() };
        assert_eq!(tls.s3_target().unwrap().endpoint.as_deref(), Some("https://s3.example.com"));
    }

    #[test]
    fn bad_values_get_messages_naming_the_option() {
        let error = |config: AwsConfig| config.validate().unwrap_err();
        let url = |text: &str| AwsConfig {
            dynamodb: DynamoDbConfig { dynamodb_url: text.into(), ..Default::default() },
            ..Default::default()
        };
        assert!(error(url("us-east-1")).contains("dynamodb_url"));
        assert!(error(url("ftp://host.x")).contains("unsupported scheme"));
        assert!(error(url("http://onlykey@host.x")).contains("key:secret"));
        let limit = AwsConfig {
            dynamodb: DynamoDbConfig { api_limit: 0.0, ..Default::default() },
            ..Default::default()
        };
        assert!(error(limit).contains("api_limit"));
        let mut backoff = AwsConfig::default();
        backoff.dynamodb.backoff_config.min_period = GoDuration(Duration::from_secs(60));
        assert!(error(backoff).contains("min_period"));
        let half_keys = AwsConfig { access_key_id: "x".into(), ..Default::default() };
        assert!(error(half_keys).contains("set together"));
        let no_bucket = AwsConfig { s3: "s3://us-east-1".into(), ..Default::default() };
        assert!(error(no_bucket).contains("no S3 bucket"));
        let bad_bucket = AwsConfig { bucketnames: "Bad_Bucket".into(), ..Default::default() };
        assert!(error(bad_bucket).contains("invalid S3 bucket name"));
    }
}
