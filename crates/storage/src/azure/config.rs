//! Configuration of the azure backend.

use neocortex_core::{ConfigOption, ConfigSection};

/// Settings of the azure backend (placeholder until the backend lands).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AzureConfig {}

impl ConfigSection for AzureConfig {
    fn options() -> &'static [ConfigOption] {
        &[]
    }
}
