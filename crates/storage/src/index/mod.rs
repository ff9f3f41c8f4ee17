//! The index client: a table of (hash key, range key) → value rows, written in batches and read
//! by hash key with optional range-key and value conditions, plus table management for the
//! table manager. Backends: `memory` (tests), `redb` (the embedded default).

/// Implements [`TableClient`](crate::table_client::TableClient) for an index client whose
/// tables have no capacity settings or tags (redb, in-memory): tables are created, listed and
/// deleted through the index client; describing reports the bare name, always ready; updating
/// has nothing to change.
macro_rules! table_client_without_settings {
    ($client:ty) => {
        #[async_trait::async_trait]
        impl crate::table_client::TableClient for $client {
            async fn list_tables(&self) -> Result<Vec<String>, crate::error::StorageError> {
                crate::index::IndexClient::list_tables(self).await
            }

            async fn create_table(
                &self,
                desc: crate::table_client::TableDesc,
            ) -> Result<(), crate::error::StorageError> {
                crate::index::IndexClient::create_table(self, &desc.name).await
            }

            async fn delete_table(&self, name: &str) -> Result<(), crate::error::StorageError> {
                crate::index::IndexClient::delete_table(self, name).await
            }

            async fn describe_table(
                &self,
                name: &str,
            ) -> Result<(crate::table_client::TableDesc, bool), crate::error::StorageError> {
                Ok((crate::table_client::TableDesc { name: name.to_string(), ..Default::default() }, true))
            }

            async fn update_table(
                &self,
                _current: crate::table_client::TableDesc,
                _expected: crate::table_client::TableDesc,
            ) -> Result<(), crate::error::StorageError> {
                Ok(())
            }

            fn has_table_settings(&self) -> bool {
                false
            }
        }
    };
}

pub mod conformance;
pub mod memory;
#[cfg(feature = "local")]
pub mod redb;

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::StorageError;
use crate::schema::entries::{IndexEntry, IndexQuery, IndexRow};
use crate::table_client::TableClient;

/// A store of index rows grouped in named tables.
///
/// Contract (checked by [`conformance::run_index_client_suite`]):
/// - writing a row whose table does not exist creates the table;
/// - writing an existing (table, hash, range) row again replaces its value;
/// - a query returns the matching rows of its hash key sorted by range key; a query on a
///   missing table returns no rows;
/// - `delete_table` of a missing table succeeds; `list_tables` is sorted.
#[async_trait]
pub trait IndexClient: Send + Sync {
    /// Writes every entry; all or nothing where the backend allows it.
    async fn batch_write(&self, entries: Vec<IndexEntry>) -> Result<(), StorageError>;

    /// Runs each query; the result has one row list per query, in query order.
    async fn query(&self, queries: Vec<IndexQuery>) -> Result<Vec<Vec<IndexRow>>, StorageError>;

    /// Creates a table (no-op if it exists).
    async fn create_table(&self, name: &str) -> Result<(), StorageError>;

    /// Deletes a table and all its rows.
    async fn delete_table(&self, name: &str) -> Result<(), StorageError>;

    /// Names of all tables, sorted.
    async fn list_tables(&self) -> Result<Vec<String>, StorageError>;

    /// This same client as a [`TableClient`], for backends whose index client manages its own
    /// tables (redb, in-memory). The table manager uses it so it works on the very client the
    /// store writes through: an embedded redb database can be opened only once per process.
    fn table_client(self: Arc<Self>) -> Option<Arc<dyn TableClient>> {
        None
    }

    /// A number that changes after every write, table creation or deletion, for clients that
    /// see every change made to their store (embedded ones, which one process owns); `None`
    /// where other processes may write, or where answers may come from a cache. A reader that
    /// takes it before querying may keep the answers while it stays the same: the chunk store
    /// keeps its series lookups so, as VictoriaMetrics keeps its tag-filter results.
    fn write_generation(&self) -> Option<u64> {
        None
    }
}
