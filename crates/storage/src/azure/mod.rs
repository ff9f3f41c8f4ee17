//! Azure Blob storage chunks: the `storage.azure` section, the client, and the factory the rest
//! of the system calls.
//!
//! The config and the factory are always compiled (so every config file parses and callers
//! need no `cfg`); without the `azure` cargo feature the factory returns a clear error.

#[cfg(feature = "azure")]
pub mod blob;
pub mod config;

use std::sync::Arc;

pub use config::AzureConfig;

use crate::error::StorageError;
use crate::object::ObjectClient;

/// The Azure Blob object client of `config`.
pub async fn object_client(config: &AzureConfig) -> Result<Arc<dyn ObjectClient>, StorageError> {
    #[cfg(feature = "azure")]
    {
        let store = blob::build_azure_store(config)?;
        Ok(Arc::new(crate::object::cloud::CloudObjectClient::new("azure", Arc::new(store))))
    }
    #[cfg(not(feature = "azure"))]
    {
        let _ = config;
        Err(StorageError::Config(
            "the azure object store needs the `azure` cargo feature, which this build does not have"
                .to_string(),
        ))
    }
}
