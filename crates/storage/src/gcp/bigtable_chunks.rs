//! Chunks in Bigtable (`object_store: bigtable`, `gcp`, `gcp-columnkey`, `bigtable-hashed`), as
//! Cortex keeps them: one row per chunk in the chunk table of the period holding its first
//! sample, the row key being the external chunk key itself (not hashed), the object in the
//! cell `f:c`. Writes are `MutateRows` batches per table (missing tables created on demand,
//! as the index does); reads ask for up to 100 rows per `ReadRows` request.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use bigtable_rs::google::bigtable::v2::{
    mutation, row_filter, MutateRowRequest, Mutation, ReadRowsRequest, RowFilter, RowSet,
};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use tonic::Code;

use crate::error::StorageError;
use crate::gcp::admin::{bigtable_error, COLUMN_FAMILY};
use crate::gcp::bigtable::{status_of, BigtableIndexClient, RowCells};
use crate::gcp::config::BigtableConfig;
use crate::object::tables::ChunkTables;
use crate::object::{key_under_prefix, ObjectClient};
use crate::schema::config::SchemaConfig;
use crate::table_client::TableClient;

/// The column qualifier of the cell holding a chunk (Cortex's `column`).
pub const CHUNK_COLUMN: &[u8] = b"c";
/// Most rows one `ReadRows` request asks for (Cortex's `maxRowReads`).
pub const MAX_ROW_READS: usize = 100;

/// The object client keeping chunks in the schema's Bigtable chunk tables.
#[derive(Debug, Clone)]
pub struct BigtableChunkClient {
    bigtable: BigtableIndexClient,
    tables: ChunkTables,
}

/// Most object bytes in one write (gRPC servers, the emulator among them, refuse messages over
/// 4 MiB by default).
const MAX_WRITE_BYTES: usize = 2 << 20;
/// Writes of one `put_many` in flight at once.
const WRITE_CONCURRENCY: usize = 4;

/// The rows of `objects` (one table) in groups of at most [`MAX_WRITE_BYTES`] (a bigger object
/// goes alone).
fn write_groups(objects: Vec<(String, Bytes)>) -> Vec<Vec<RowCells>> {
    let mut groups = Vec::new();
    let mut group: Vec<RowCells> = Vec::new();
    let mut bytes = 0;
    for (key, data) in objects {
        let size = key.len() + data.len();
        if !group.is_empty() && bytes + size > MAX_WRITE_BYTES {
            groups.push(std::mem::take(&mut group));
            bytes = 0;
        }
        bytes += size;
        group.push((key.into_bytes(), vec![(CHUNK_COLUMN.to_vec(), data.to_vec())]));
    }
    if !group.is_empty() {
        groups.push(group);
    }
    groups
}

/// Only the latest version of the chunk cell.
fn chunk_cell_filter() -> RowFilter {
    let filters = vec![
        RowFilter { filter: Some(row_filter::Filter::FamilyNameRegexFilter(COLUMN_FAMILY.to_string())) },
        RowFilter { filter: Some(row_filter::Filter::ColumnQualifierRegexFilter(CHUNK_COLUMN.to_vec())) },
        RowFilter { filter: Some(row_filter::Filter::CellsPerColumnLimitFilter(1)) },
    ];
    RowFilter { filter: Some(row_filter::Filter::Chain(row_filter::Chain { filters })) }
}

impl BigtableChunkClient {
    /// Connects to the instance in `config`; objects go to the chunk tables of `schema`.
    pub async fn connect(config: &BigtableConfig, schema: SchemaConfig) -> Result<Self, StorageError> {
        Ok(Self { bigtable: BigtableIndexClient::connect(config).await?, tables: ChunkTables::new(schema) })
    }

    /// The objects of `keys` (at most 100, distinct) in `table`; a missing table holds none.
    async fn read_rows(
        &self,
        table: String,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Bytes)>, StorageError> {
        let mut data = self.bigtable.data_client();
        let request = ReadRowsRequest {
            table_name: data.get_full_table_name(&table),
            rows: Some(RowSet {
                row_keys: keys.into_iter().map(String::into_bytes).collect(),
                row_ranges: Vec::new(),
            }),
            filter: Some(chunk_cell_filter()),
            ..Default::default()
        };
        let rows = match data.read_rows(request).await {
            Ok(rows) => rows,
            Err(error) if status_of(&error) == Some(Code::NotFound) => return Ok(Vec::new()),
            Err(error) => return Err(bigtable_error(&format!("reading chunks from table {table}"), error)),
        };
        let mut found = Vec::with_capacity(rows.len());
        for (row_key, cells) in rows {
            let key = String::from_utf8(row_key).map_err(|err| {
                StorageError::corrupt("chunk row", format!("row key in table {table} is not UTF-8: {err}"))
            })?;
            let Some(cell) =
                cells.into_iter().find(|c| c.family_name == COLUMN_FAMILY && c.qualifier == CHUNK_COLUMN)
            else {
                continue;
            };
            found.push((key, Bytes::from(cell.value)));
        }
        Ok(found)
    }

    /// The keys of `table` under `prefix` (a row-key range read, values stripped).
    async fn table_keys(&self, table: &str, prefix: &str) -> Result<Vec<String>, StorageError> {
        let mut data = self.bigtable.data_client();
        let filters = vec![
            RowFilter { filter: Some(row_filter::Filter::CellsPerRowLimitFilter(1)) },
            RowFilter { filter: Some(row_filter::Filter::StripValueTransformer(true)) },
        ];
        let request = ReadRowsRequest {
            table_name: data.get_full_table_name(table),
            filter: Some(RowFilter {
                filter: Some(row_filter::Filter::Chain(row_filter::Chain { filters })),
            }),
            ..Default::default()
        };
        let path = prefix.trim_end_matches('/');
        let rows = if path.is_empty() {
            data.read_rows(request).await
        } else {
            data.read_rows_with_prefix(request, format!("{path}/").into_bytes()).await
        };
        let rows = match rows {
            Ok(rows) => rows,
            Err(error) if status_of(&error) == Some(Code::NotFound) => return Ok(Vec::new()),
            Err(error) => return Err(bigtable_error(&format!("listing chunks of table {table}"), error)),
        };
        Ok(rows
            .into_iter()
            .filter_map(|(row_key, _)| String::from_utf8(row_key).ok())
            .filter(|key| key_under_prefix(key, prefix))
            .collect())
    }
}

#[async_trait]
impl ObjectClient for BigtableChunkClient {
    async fn put(&self, key: &str, data: Bytes) -> Result<(), StorageError> {
        self.put_many(vec![(key.to_string(), data)], 1).await
    }

    async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        crate::object::get_one(self, key).await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let table = self.tables.table_for_key(key)?;
        let mut data = self.bigtable.data_client();
        let request = MutateRowRequest {
            table_name: data.get_full_table_name(&table),
            row_key: key.as_bytes().to_vec(),
            mutations: vec![Mutation {
                mutation: Some(mutation::Mutation::DeleteFromRow(mutation::DeleteFromRow {})),
            }],
            ..Default::default()
        };
        match data.mutate_row(request).await {
            Ok(_) => Ok(()),
            Err(error) if status_of(&error) == Some(Code::NotFound) => Ok(()),
            Err(error) => Err(bigtable_error(&format!("deleting chunk {key} from table {table}"), error)),
        }
    }

    /// Reads the keys of every chunk table of the schema (for tools and tests; reads never list).
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let mut keys = Vec::new();
        for table in self.bigtable.admin().list_tables().await? {
            if self.tables.owns(&table) {
                keys.extend(self.table_keys(&table, prefix).await?);
            }
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    async fn put_many(&self, objects: Vec<(String, Bytes)>, concurrency: usize) -> Result<(), StorageError> {
        let mut writes = Vec::new();
        for (table, objects) in self.tables.group(objects, |(key, _)| key.as_str())? {
            for rows in write_groups(objects) {
                writes.push(self.bigtable.write_table(table.clone(), rows));
            }
        }
        futures::stream::iter(writes)
            .buffer_unordered(concurrency.clamp(1, WRITE_CONCURRENCY))
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn get_many(&self, keys: &[String], concurrency: usize) -> Result<Vec<Bytes>, StorageError> {
        let mut asked = HashSet::new();
        let unique = keys.iter().filter(|key| asked.insert(key.as_str())).cloned();
        let mut reads = Vec::new();
        for (table, keys) in self.tables.group(unique, String::as_str)? {
            for part in keys.chunks(MAX_ROW_READS) {
                reads.push(self.read_rows(table.clone(), part.to_vec()));
            }
        }
        let batches: Vec<Vec<(String, Bytes)>> =
            futures::stream::iter(reads).buffer_unordered(concurrency.clamp(1, 16)).try_collect().await?;
        let found: HashMap<String, Bytes> = batches.into_iter().flatten().collect();
        keys.iter()
            .map(|key| found.get(key).cloned().ok_or_else(|| StorageError::NotFound(key.clone())))
            .collect()
    }

    fn table_client(self: Arc<Self>) -> Option<Arc<dyn TableClient>> {
        Some(Arc::new(self.bigtable.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_grouped_under_the_message_limit() {
        let objects: Vec<(String, Bytes)> =
            (0..10).map(|i| (format!("t/{i}:0:1:0"), Bytes::from(vec![0u8; 700 << 10]))).collect();
        let groups = write_groups(objects);
        assert_eq!(groups.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 2, 2, 2]);
        let (key, cells) = &groups[0][0];
        assert_eq!(key, b"t/0:0:1:0");
        assert_eq!(cells[0].0, CHUNK_COLUMN);
        let huge = write_groups(vec![("t/a:0:1:0".into(), Bytes::from(vec![0u8; 3 << 20]))]);
        assert_eq!(huge.len(), 1, "an object over the limit goes alone");
        assert!(write_groups(Vec::new()).is_empty());
    }
}
