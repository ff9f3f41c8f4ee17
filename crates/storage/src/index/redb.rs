//! The embedded default index: one redb database file, one redb table per periodic table, keyed
//! by (hash key, range key). redb is synchronous, so every call runs on the blocking pool.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, TableDefinition, TableHandle};

use crate::error::StorageError;
use crate::index::IndexClient;
use crate::schema::entries::{IndexEntry, IndexQuery, IndexRow};

/// File name of the index database inside the configured directory.
pub const INDEX_FILE_NAME: &str = "index.redb";

type Key<'a> = (&'a [u8], &'a [u8]);

fn definition(name: &str) -> TableDefinition<'_, Key<'static>, &'static [u8]> {
    TableDefinition::new(name)
}

fn redb_error(error: impl std::fmt::Display) -> StorageError {
    StorageError::backend("redb", error)
}

/// Index tables in a redb database file.
#[derive(Clone)]
pub struct RedbIndexClient {
    database: Arc<Database>,
    path: PathBuf,
}

impl std::fmt::Debug for RedbIndexClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbIndexClient").field("path", &self.path).finish()
    }
}

impl RedbIndexClient {
    /// Opens (creating if needed) the index database in `directory`.
    pub fn open(directory: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(directory)
            .map_err(|err| redb_error(format!("creating {}: {err}", directory.display())))?;
        let path = directory.join(INDEX_FILE_NAME);
        let database = Database::create(&path).map_err(redb_error)?;
        Ok(Self { database: Arc::new(database), path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn blocking<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, StorageError> + Send + 'static,
    {
        let database = Arc::clone(&self.database);
        tokio::task::spawn_blocking(move || work(&database)).await.map_err(redb_error)?
    }
}

fn write_entries(database: &Database, mut entries: Vec<IndexEntry>) -> Result<(), StorageError> {
    // Sorted input means each table is opened once and inserts walk the B-tree in order.
    entries.sort_unstable_by(|a, b| {
        (&a.table, &a.hash_value, &a.range_value).cmp(&(&b.table, &b.hash_value, &b.range_value))
    });
    let transaction = database.begin_write().map_err(redb_error)?;
    {
        let mut start = 0;
        while start < entries.len() {
            let table_name = entries[start].table.as_str();
            let end = start + entries[start..].iter().take_while(|e| e.table == table_name).count();
            let mut table = transaction.open_table(definition(table_name)).map_err(redb_error)?;
            for entry in &entries[start..end] {
                let key: Key<'_> = (entry.hash_value.as_bytes(), entry.range_value.as_slice());
                table.insert(key, entry.value.as_slice()).map_err(redb_error)?;
            }
            start = end;
        }
    }
    transaction.commit().map_err(redb_error)
}

fn run_queries(database: &Database, queries: &[IndexQuery]) -> Result<Vec<Vec<IndexRow>>, StorageError> {
    let transaction = database.begin_read().map_err(redb_error)?;
    let mut results = Vec::with_capacity(queries.len());
    for query in queries {
        let table = match transaction.open_table(definition(&query.table)) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => {
                results.push(Vec::new());
                continue;
            }
            Err(err) => return Err(redb_error(err)),
        };
        let hash = query.hash_value.as_bytes();
        let prefix = query.range_value_prefix.as_deref().unwrap_or_default();
        let start = query.range_value_start.as_deref().unwrap_or_default();
        let lower: Key<'_> = (hash, prefix.max(start));
        let mut rows = Vec::new();
        for item in table.range::<Key<'_>>(lower..).map_err(redb_error)? {
            let (key, value) = item.map_err(redb_error)?;
            let (row_hash, range_value) = key.value();
            if row_hash != hash || !range_value.starts_with(prefix) {
                break;
            }
            let value = value.value();
            if query.accepts(range_value, value) {
                rows.push(IndexRow { range_value: range_value.to_vec(), value: value.to_vec() });
            }
        }
        results.push(rows);
    }
    Ok(results)
}

#[async_trait]
impl IndexClient for RedbIndexClient {
    async fn batch_write(&self, entries: Vec<IndexEntry>) -> Result<(), StorageError> {
        if entries.is_empty() {
            return Ok(());
        }
        self.blocking(move |database| write_entries(database, entries)).await
    }

    async fn query(&self, queries: Vec<IndexQuery>) -> Result<Vec<Vec<IndexRow>>, StorageError> {
        self.blocking(move |database| run_queries(database, &queries)).await
    }

    async fn create_table(&self, name: &str) -> Result<(), StorageError> {
        let name = name.to_string();
        self.blocking(move |database| {
            let transaction = database.begin_write().map_err(redb_error)?;
            transaction.open_table(definition(&name)).map_err(redb_error)?;
            transaction.commit().map_err(redb_error)
        })
        .await
    }

    async fn delete_table(&self, name: &str) -> Result<(), StorageError> {
        let name = name.to_string();
        self.blocking(move |database| {
            let transaction = database.begin_write().map_err(redb_error)?;
            transaction.delete_table(definition(&name)).map_err(redb_error)?;
            transaction.commit().map_err(redb_error)
        })
        .await
    }

    async fn list_tables(&self) -> Result<Vec<String>, StorageError> {
        self.blocking(|database| {
            let transaction = database.begin_read().map_err(redb_error)?;
            let mut names: Vec<String> =
                transaction.list_tables().map_err(redb_error)?.map(|t| t.name().to_string()).collect();
            names.sort();
            Ok(names)
        })
        .await
    }

    fn table_client(
        self: std::sync::Arc<Self>,
    ) -> Option<std::sync::Arc<dyn crate::table_client::TableClient>> {
        Some(self)
    }
}

table_client_without_settings!(RedbIndexClient);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance() {
        let directory = tempfile::tempdir().unwrap();
        let client = RedbIndexClient::open(directory.path()).unwrap();
        crate::index::conformance::run_index_client_suite(&client).await;
    }

    #[tokio::test]
    async fn survives_reopen() {
        let directory = tempfile::tempdir().unwrap();
        let entry = IndexEntry {
            table: "index_1".into(),
            hash_value: "h".into(),
            range_value: b"r\0".to_vec(),
            value: b"v".to_vec(),
        };
        {
            let client = RedbIndexClient::open(directory.path()).unwrap();
            client.batch_write(vec![entry.clone()]).await.unwrap();
        }
        let client = RedbIndexClient::open(directory.path()).unwrap();
        let query = IndexQuery { table: "index_1".into(), hash_value: "h".into(), ..Default::default() };
        let rows = client.query(vec![query]).await.unwrap();
        assert_eq!(rows[0], vec![IndexRow { range_value: entry.range_value, value: entry.value }]);
    }
}
