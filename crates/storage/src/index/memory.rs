//! An in-memory index client for tests and single-process experiments.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use parking_lot::RwLock;

use crate::error::StorageError;
use crate::index::IndexClient;
use crate::schema::entries::{IndexEntry, IndexQuery, IndexRow};

type Table = BTreeMap<(String, Vec<u8>), Vec<u8>>;

/// Index tables held in memory.
#[derive(Debug, Default)]
pub struct MemoryIndexClient {
    tables: RwLock<BTreeMap<String, Table>>,
    /// Bumped under the write lock by every change (see [`IndexClient::write_generation`]).
    generation: AtomicU64,
}

impl MemoryIndexClient {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Total rows over all tables (for tests and benchmarks).
    pub fn row_count(&self) -> usize {
        self.tables.read().values().map(BTreeMap::len).sum()
    }
}

#[async_trait]
impl IndexClient for MemoryIndexClient {
    async fn batch_write(&self, entries: Vec<IndexEntry>) -> Result<(), StorageError> {
        let mut tables = self.tables.write();
        for entry in entries {
            tables.entry(entry.table).or_default().insert((entry.hash_value, entry.range_value), entry.value);
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    async fn query(&self, queries: Vec<IndexQuery>) -> Result<Vec<Vec<IndexRow>>, StorageError> {
        let tables = self.tables.read();
        let results = queries
            .iter()
            .map(|query| {
                let Some(table) = tables.get(&query.table) else {
                    return Vec::new();
                };
                let lower = (query.hash_value.clone(), Vec::new());
                table
                    .range(lower..)
                    .take_while(|((hash, _), _)| *hash == query.hash_value)
                    .filter(|((_, range), value)| query.accepts(range, value))
                    .map(|((_, range), value)| IndexRow { range_value: range.clone(), value: value.clone() })
                    .collect()
            })
            .collect();
        Ok(results)
    }

    async fn create_table(&self, name: &str) -> Result<(), StorageError> {
        let mut tables = self.tables.write();
        tables.entry(name.to_string()).or_default();
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    async fn delete_table(&self, name: &str) -> Result<(), StorageError> {
        let mut tables = self.tables.write();
        tables.remove(name);
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    async fn list_tables(&self) -> Result<Vec<String>, StorageError> {
        Ok(self.tables.read().keys().cloned().collect())
    }

    fn table_client(
        self: std::sync::Arc<Self>,
    ) -> Option<std::sync::Arc<dyn crate::table_client::TableClient>> {
        Some(self)
    }

    fn write_generation(&self) -> Option<u64> {
        Some(self.generation.load(Ordering::Acquire))
    }
}

table_client_without_settings!(MemoryIndexClient);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance() {
        crate::index::conformance::run_index_client_suite(&MemoryIndexClient::new()).await;
    }
}
