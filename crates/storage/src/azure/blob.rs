//! Azure Blob chunk objects through `object_store`'s `MicrosoftAzure`, signed with the account's
//! shared key (or Azure's managed identity when no key is configured).

use object_store::azure::{MicrosoftAzure, MicrosoftAzureBuilder};
use object_store::{BackoffConfig, ClientOptions, RetryConfig};

use crate::azure::config::AzureConfig;
use crate::error::StorageError;

/// Builds the Blob store `config` describes.
pub fn build_azure_store(config: &AzureConfig) -> Result<MicrosoftAzure, StorageError> {
    let config_error = |message: String| StorageError::Config(message);
    if config.container_name.is_empty() {
        return Err(config_error("storage.azure.container_name (-azure.container-name) must be set".into()));
    }
    if config.account_name.is_empty() {
        return Err(config_error("storage.azure.account_name (-azure.account-name) must be set".into()));
    }
    let service_url = config.service_url().map_err(config_error)?;
    let mut options = ClientOptions::new().with_allow_http(service_url.starts_with("http://"));
    if !config.request_timeout.0.is_zero() {
        options = options.with_timeout(config.request_timeout.0);
    }
    let retry = RetryConfig {
        max_retries: config.max_retries as usize,
        backoff: BackoffConfig {
            init_backoff: config.min_retry_delay.0,
            max_backoff: config.max_retry_delay.0,
            base: 2.0,
        },
        ..RetryConfig::default()
    };
    let mut builder = MicrosoftAzureBuilder::new()
        .with_account(&config.account_name)
        .with_container_name(&config.container_name)
        .with_endpoint(service_url)
        .with_client_options(options)
        .with_retry(retry);
    if !config.account_key.is_empty() {
        builder = builder.with_access_key(&config.account_key);
    }
    builder.build().map_err(|err| config_error(format!("storage.azure: {err}")))
}
