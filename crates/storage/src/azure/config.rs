//! Configuration of the azure backend: Cortex's `azure:` block (chunk objects in a Blob
//! container) plus `endpoint_suffix` (Cortex's newer Azure clients) and an `endpoint` override
//! for emulators such as Azurite.

use std::time::Duration;

use neocortex_core::duration::GoDuration;
use neocortex_core::secret::mask;
use neocortex_core::{ConfigOption, ConfigSection};

/// Settings of the Azure Blob chunk store (Cortex's `azure:` block).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AzureConfig {
    /// Azure cloud: `AzureGlobal`, `AzureChinaCloud`, `AzureGermanCloud`, `AzureUSGovernment`.
    pub environment: String,
    /// The container holding chunk objects (it must exist).
    pub container_name: String,
    /// The storage account.
    pub account_name: String,
    /// The storage account's shared key; empty: Azure's managed identity.
    pub account_key: String,
    /// Blob endpoint suffix (`blob.core.windows.net`); empty: the one of `environment`.
    pub endpoint_suffix: String,
    /// Full blob service URL, overriding account and suffix (an emulator:
    /// `http://127.0.0.1:10000/devstoreaccount1`).
    pub endpoint: String,
    /// Accepted for Cortex compatibility; has no effect.
    pub download_buffer_size: u64,
    /// Accepted for Cortex compatibility; has no effect.
    pub upload_buffer_size: u64,
    /// Accepted for Cortex compatibility; has no effect.
    pub upload_buffer_count: u64,
    /// Timeout of each request.
    pub request_timeout: GoDuration,
    /// Retries of a failed request.
    pub max_retries: u32,
    /// First retry delay.
    pub min_retry_delay: GoDuration,
    /// Longest retry delay.
    pub max_retry_delay: GoDuration,
}

impl Default for AzureConfig {
    fn default() -> Self {
        Self {
            environment: "AzureGlobal".to_string(),
            container_name: "cortex".to_string(),
            account_name: String::new(),
            account_key: String::new(),
            endpoint_suffix: String::new(),
            endpoint: String::new(),
            download_buffer_size: 512_000,
            upload_buffer_size: 256_000,
            upload_buffer_count: 1,
            request_timeout: GoDuration(Duration::from_secs(30)),
            max_retries: 5,
            min_retry_delay: GoDuration(Duration::from_millis(10)),
            max_retry_delay: GoDuration(Duration::from_millis(500)),
        }
    }
}

impl AzureConfig {
    /// The blob service URL: `endpoint`, else `https://<account>.<suffix>`.
    pub fn service_url(&self) -> Result<String, String> {
        if !self.endpoint.is_empty() {
            return Ok(self.endpoint.trim_end_matches('/').to_string());
        }
        if self.account_name.is_empty() {
            return Err("storage.azure.account_name (-azure.account-name) must be set".to_string());
        }
        let suffix = if self.endpoint_suffix.is_empty() {
            match self.environment.as_str() {
                "AzureGlobal" | "" => "blob.core.windows.net",
                "AzureChinaCloud" => "blob.core.chinacloudapi.cn",
                "AzureGermanCloud" => "blob.core.cloudapi.de",
                "AzureUSGovernment" => "blob.core.usgovcloudapi.net",
                other => {
                    return Err(format!(
                        "unknown storage.azure.environment {other:?}: want AzureGlobal, AzureChinaCloud, \
                         AzureGermanCloud or AzureUSGovernment"
                    ))
                }
            }
        } else {
            self.endpoint_suffix.trim_start_matches('.')
        };
        Ok(format!("https://{}.{suffix}", self.account_name))
    }
}

const AZURE_OPTIONS: &[ConfigOption] = &[
    ConfigOption {
        key: "environment",
        flag: "azure.environment",
        help: "Azure Cloud environment. Supported values are: AzureGlobal, AzureChinaCloud, AzureGermanCloud, AzureUSGovernment.",
    },
    ConfigOption {
        key: "container_name",
        flag: "azure.container-name",
        help: "Name of the blob container used to store chunks. This container must be created before running neocortex.",
    },
    ConfigOption { key: "account_name", flag: "azure.account-name", help: "The Microsoft Azure account name to be used" },
    ConfigOption { key: "account_key", flag: "azure.account-key", help: "The Microsoft Azure account key to use." },
    ConfigOption {
        key: "endpoint_suffix",
        flag: "azure.endpoint-suffix",
        help: "Azure storage endpoint suffix without schema; the account name is prefixed to it. Empty: the environment's.",
    },
    ConfigOption {
        key: "endpoint",
        flag: "azure.endpoint",
        help: "Full blob service URL overriding account name and suffix, e.g. an emulator's http://127.0.0.1:10000/devstoreaccount1",
    },
    ConfigOption {
        key: "download_buffer_size",
        flag: "azure.download-buffer-size",
        help: "Accepted for Cortex compatibility; has no effect.",
    },
    ConfigOption {
        key: "upload_buffer_size",
        flag: "azure.upload-buffer-size",
        help: "Accepted for Cortex compatibility; has no effect.",
    },
    ConfigOption {
        key: "upload_buffer_count",
        flag: "azure.download-buffer-count",
        help: "Accepted for Cortex compatibility (Cortex's flag name); has no effect.",
    },
    ConfigOption {
        key: "request_timeout",
        flag: "azure.request-timeout",
        help: "Timeout for requests made against azure blob storage.",
    },
    ConfigOption {
        key: "max_retries",
        flag: "azure.max-retries",
        help: "Number of retries for a request which times out.",
    },
    ConfigOption {
        key: "min_retry_delay",
        flag: "azure.min-retry-delay",
        help: "Minimum time to wait before retrying a request.",
    },
    ConfigOption {
        key: "max_retry_delay",
        flag: "azure.max-retry-delay",
        help: "Maximum time to wait before retrying a request.",
    },
];

impl ConfigSection for AzureConfig {
    fn options() -> &'static [ConfigOption] {
        AZURE_OPTIONS
    }

    /// Masks `account_key`.
    fn redacted(&self) -> Self {
        Self { account_key: mask(&self.account_key), ..self.clone() }
    }

    fn validate(&self) -> Result<(), String> {
        if !matches!(
            self.environment.as_str(),
            "" | "AzureGlobal" | "AzureChinaCloud" | "AzureGermanCloud" | "AzureUSGovernment"
        ) {
            return Err(format!("unknown storage.azure.environment {:?}", self.environment));
        }
        if self.min_retry_delay.0 > self.max_retry_delay.0 {
            return Err("storage.azure.min_retry_delay must not exceed max_retry_delay".to_string());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cortex_keys_and_service_urls() {
        let yaml = "container_name: chunks\naccount_name: acct\naccount_key: a2V5\nrequest_timeout: 10s\n\
                    max_retries: 3\nmin_retry_delay: 20ms\nmax_retry_delay: 1s\ndownload_buffer_size: 1\n";
        let config: AzureConfig = serde_norway::from_str(yaml).unwrap();
        assert_eq!(config.container_name, "chunks");
        assert_eq!(config.max_retries, 3);
        assert_eq!(config.min_retry_delay.0, Duration::from_millis(20));
        assert!(config.validate().is_ok());
        assert_eq!(config.service_url().unwrap(), "https://acct.blob.core.windows.net");

        let china = AzureConfig { environment: "AzureChinaCloud".into(), ..config.clone() };
        assert_eq!(china.service_url().unwrap(), "https://acct.blob.core.chinacloudapi.cn");
        let suffix = AzureConfig { endpoint_suffix: "blob.example.net".into(), ..config.clone() };
        assert_eq!(suffix.service_url().unwrap(), "https://acct.blob.example.net");
        let emulator = AzureConfig { endpoint: "http://127.0.0.1:10000/devstoreaccount1/".into(), ..config };
        assert_eq!(emulator.service_url().unwrap(), "http://127.0.0.1:10000/devstoreaccount1");

        let bad = AzureConfig { environment: "Mars".into(), account_name: "a".into(), ..Default::default() };
        assert!(bad.validate().is_err());
        assert!(bad.service_url().unwrap_err().contains("Mars"));
        assert!(AzureConfig::default().service_url().unwrap_err().contains("-azure.account-name"));
        assert!(serde_norway::from_str::<AzureConfig>("container: x").is_err());
    }
}
