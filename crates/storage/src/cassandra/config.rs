//! Configuration of the cassandra backend.

use neocortex_core::{ConfigOption, ConfigSection};

/// Settings of the cassandra backend (placeholder until the backend lands).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CassandraConfig {}

impl ConfigSection for CassandraConfig {
    fn options() -> &'static [ConfigOption] {
        &[]
    }
}
