//! Configuration of the gcp backends.

use neocortex_core::{ConfigOption, ConfigSection};

/// Settings of the Bigtable index (placeholder until the backend lands).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BigtableConfig {}

impl ConfigSection for BigtableConfig {
    fn options() -> &'static [ConfigOption] {
        &[]
    }
}

/// Settings of the GCS object store (placeholder until the backend lands).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GcsConfig {}

impl ConfigSection for GcsConfig {
    fn options() -> &'static [ConfigOption] {
        &[]
    }
}
