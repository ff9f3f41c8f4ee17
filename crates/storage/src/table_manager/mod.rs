//! The table manager: creates each periodic table before its period begins, deletes tables past
//! the retention period, and keeps provisioned capacity and tags as configured.
//!
//! - `config`: the `table_manager:` section;
//! - `plan`: the pure decisions (expected tables at a time, what to create, check, delete);
//! - `manager`: the I/O — one sync against each backend's [`TableClient`], and the poll loop;
//! - `metrics`: Cortex's `cortex_table_manager_*` and `cortex_table_capacity_units` metrics.
//!
//! [`TableClient`]: crate::table_client::TableClient

pub mod config;
pub mod manager;
pub mod metrics;
pub mod plan;

pub use config::{ProvisionConfig, TableManagerConfig};
pub use manager::{SyncReport, TableManager};
pub use metrics::TableManagerMetrics;
pub use plan::TableBackend;
