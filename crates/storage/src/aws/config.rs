//! Configuration of the aws backend.

use neocortex_core::{ConfigOption, ConfigSection};

/// Settings of the aws backend (placeholder until the backend lands).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsConfig {}

impl ConfigSection for AwsConfig {
    fn options() -> &'static [ConfigOption] {
        &[]
    }
}
