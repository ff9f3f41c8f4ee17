//! The table client: what the table manager needs from an index backend to create, inspect,
//! update and delete periodic tables.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::error::StorageError;

/// A table as the table manager wants it: its name and, for backends that have them
/// (DynamoDB), capacity settings and tags. Other backends ignore what they do not have.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableDesc {
    /// The table's name.
    pub name: String,
    /// Pay-per-request instead of provisioned capacity.
    pub use_on_demand_mode: bool,
    /// Provisioned read capacity units.
    pub provisioned_read: i64,
    /// Provisioned write capacity units.
    pub provisioned_write: i64,
    /// Tags to set on the table.
    pub tags: BTreeMap<String, String>,
}

/// Table management for one index backend.
#[async_trait]
pub trait TableClient: Send + Sync {
    /// Names of all tables, sorted.
    async fn list_tables(&self) -> Result<Vec<String>, StorageError>;

    /// Creates a table as described (no-op if it exists).
    async fn create_table(&self, desc: TableDesc) -> Result<(), StorageError>;

    /// Deletes a table and its rows (no-op if missing).
    async fn delete_table(&self, name: &str) -> Result<(), StorageError>;

    /// The table's current settings and whether it is active (ready for use).
    async fn describe_table(&self, name: &str) -> Result<(TableDesc, bool), StorageError>;

    /// Changes `current` into `expected` (capacity, mode, tags).
    async fn update_table(&self, current: TableDesc, expected: TableDesc) -> Result<(), StorageError>;

    /// Whether this backend's tables carry capacity settings and tags that `describe_table`
    /// reports and `update_table` changes (DynamoDB). Backends without them (redb, in-memory)
    /// return false, and the table manager neither compares nor updates their settings.
    fn has_table_settings(&self) -> bool {
        true
    }
}
