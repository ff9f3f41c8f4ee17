//! How a component declares its configuration once: a serde struct (`Default`,
//! `deny_unknown_fields`) plus a table of its options naming the YAML key, the Cortex flag and the
//! help text. The binary derives command-line flags, `-print.config` and the configuration
//! reference from these tables; a test checks every table against its struct.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// One option of a config section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigOption {
    /// The YAML key inside its section; nested keys are dotted (`walconfig.wal_enabled`).
    pub key: &'static str,
    /// The command-line flag without dashes, Cortex's name (`distributor.ingestion-rate-limit`).
    pub flag: &'static str,
    /// One line saying what the option does.
    pub help: &'static str,
}

/// A component's configuration section.
pub trait ConfigSection: Serialize + DeserializeOwned + Default + Clone + Send + Sync + 'static {
    /// Every option of the section, in the order the reference lists them.
    fn options() -> &'static [ConfigOption];

    /// Checks values that serde cannot check alone; the message names the bad option.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }

    /// A copy fit to print (`-print.config`, `GET /config`): every secret (key, password,
    /// credentials, a URL's password) masked with [`crate::secret::mask`]. Sections that hold
    /// secrets override it; the running process keeps using the real values.
    fn redacted(&self) -> Self {
        self.clone()
    }
}
