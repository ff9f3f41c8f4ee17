//! The Bigtable index in Cortex's `gcp-columnkey` layout: the row key is the hash key, every
//! range key is a column qualifier in the family `f`, the cell holds the value. A query reads
//! one row, narrowed on the server by column-range and value-range filters; writes are
//! `MutateRows` batches. Tables missing on write are created (with the family) and the batch
//! retried, so the index needs no table manager to work, as every `IndexClient` must.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bigtable_rs::bigtable::{BigTable, BigTableConnection, Error as BigtableError};
use bigtable_rs::google::bigtable::v2::{
    column_range, mutate_rows_request, mutation, row_filter, value_range, ColumnRange, MutateRowsRequest,
    Mutation, ReadRowsRequest, RowFilter, RowSet, ValueRange,
};
use futures::{StreamExt, TryStreamExt};
use parking_lot::Mutex;
use tonic::Code;

use crate::error::StorageError;
use crate::gcp::admin::{bigtable_error, emulator_endpoint, BigtableAdmin, COLUMN_FAMILY};
use crate::gcp::config::BigtableConfig;
use crate::index::IndexClient;
use crate::schema::entries::{IndexEntry, IndexQuery, IndexRow};
use crate::table_client::{TableClient, TableDesc};

/// Most mutations sent in one `MutateRows` request (Bigtable allows 100,000).
const MAX_MUTATIONS_PER_REQUEST: usize = 10_000;
/// `MutateRows` requests in flight at once for one batch write.
const WRITE_CONCURRENCY: usize = 4;
/// Row reads in flight at once for one `query` call.
const QUERY_CONCURRENCY: usize = 16;
/// Attempts for entries Bigtable reports as transiently failed.
const WRITE_ATTEMPTS: usize = 3;

/// One write unit: a row key and its cells (qualifier, value).
pub(super) type RowCells = (Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>);

/// Why a `MutateRows` request failed: the table is missing (create it and retry) or otherwise.
enum MutateError {
    TableMissing,
    Failed(StorageError),
}

/// The Bigtable `IndexClient` and `TableClient`.
#[derive(Clone)]
pub struct BigtableIndexClient {
    data: BigTable,
    admin: BigtableAdmin,
    /// Tables known to exist and when that was learnt (the `table_cache_*` options).
    known_tables: Arc<Mutex<HashMap<String, Instant>>>,
    table_cache: Option<Duration>,
}

impl std::fmt::Debug for BigtableIndexClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BigtableIndexClient").field("admin", &self.admin).finish()
    }
}

pub(super) fn status_of(error: &BigtableError) -> Option<Code> {
    match error {
        BigtableError::RpcError(status) => Some(status.code()),
        _ => None,
    }
}

/// The first column qualifier after every qualifier starting with `prefix`, or `None` when no
/// such bound exists (the prefix is empty or all 0xff bytes).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The server-side filter of `query`: latest cell per column, range-key bounds, value equality.
fn query_filter(query: &IndexQuery) -> RowFilter {
    let mut filters = vec![RowFilter { filter: Some(row_filter::Filter::CellsPerColumnLimitFilter(1)) }];
    if let Some(prefix) = &query.range_value_prefix {
        filters.push(RowFilter {
            filter: Some(row_filter::Filter::ColumnRangeFilter(ColumnRange {
                family_name: COLUMN_FAMILY.to_string(),
                start_qualifier: Some(column_range::StartQualifier::StartQualifierClosed(prefix.clone())),
                end_qualifier: prefix_end(prefix).map(column_range::EndQualifier::EndQualifierOpen),
            })),
        });
    }
    if let Some(start) = &query.range_value_start {
        filters.push(RowFilter {
            filter: Some(row_filter::Filter::ColumnRangeFilter(ColumnRange {
                family_name: COLUMN_FAMILY.to_string(),
                start_qualifier: Some(column_range::StartQualifier::StartQualifierClosed(start.clone())),
                end_qualifier: None,
            })),
        });
    }
    if let Some(value) = &query.value_equal {
        filters.push(RowFilter {
            filter: Some(row_filter::Filter::ValueRangeFilter(ValueRange {
                start_value: Some(value_range::StartValue::StartValueClosed(value.clone())),
                end_value: Some(value_range::EndValue::EndValueClosed(value.clone())),
            })),
        });
    }
    if filters.len() == 1 {
        return filters.remove(0);
    }
    RowFilter { filter: Some(row_filter::Filter::Chain(row_filter::Chain { filters })) }
}

/// Splits the rows of one table into `MutateRows` requests of bounded size (a row with more
/// cells than the bound is split across requests; each request is atomic per row only).
fn write_batches(rows: Vec<RowCells>) -> Vec<Vec<RowCells>> {
    let mut batches = Vec::new();
    let mut batch: Vec<RowCells> = Vec::new();
    let mut mutations = 0;
    for (row_key, cells) in rows {
        for part in cells.chunks(MAX_MUTATIONS_PER_REQUEST) {
            if mutations + part.len() > MAX_MUTATIONS_PER_REQUEST && !batch.is_empty() {
                batches.push(std::mem::take(&mut batch));
                mutations = 0;
            }
            mutations += part.len();
            batch.push((row_key.clone(), part.to_vec()));
        }
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    batches
}

impl BigtableIndexClient {
    /// Connects to the instance in `config` (the emulator when one is configured).
    pub async fn connect(config: &BigtableConfig) -> Result<Self, StorageError> {
        config.check_usable().map_err(StorageError::Config)?;
        let connection = match config.effective_emulator_host() {
            Some(host) => {
                emulator_endpoint(&host)?;
                BigTableConnection::new_with_emulator(
                    &host,
                    &config.project,
                    &config.instance,
                    false,
                    1,
                    None,
                )
            }
            None => BigTableConnection::new(&config.project, &config.instance, false, 4, None).await,
        }
        .map_err(|err| bigtable_error("connecting", err))?;
        let admin = BigtableAdmin::connect(config).await?;
        let table_cache = config.table_cache_enabled.then_some(config.table_cache_expiration.0);
        Ok(Self { data: connection.client(), admin, known_tables: Arc::default(), table_cache })
    }

    /// The data-API client (for the chunk client sharing this connection).
    pub(super) fn data_client(&self) -> BigTable {
        self.data.clone()
    }

    /// The table-admin half, for the table manager.
    pub fn admin(&self) -> &BigtableAdmin {
        &self.admin
    }

    fn remembered(&self, table: &str) -> bool {
        let Some(expiration) = self.table_cache else { return false };
        self.known_tables.lock().get(table).is_some_and(|seen| seen.elapsed() < expiration)
    }

    fn remember(&self, table: &str) {
        if self.table_cache.is_some() {
            self.known_tables.lock().insert(table.to_string(), Instant::now());
        }
    }

    fn forget(&self, table: &str) {
        self.known_tables.lock().remove(table);
    }

    /// Makes sure `table` exists before writing to it.
    async fn ensure_table(&self, table: &str) -> Result<(), StorageError> {
        if self.remembered(table) {
            return Ok(());
        }
        if !self.admin.table_exists(table).await? {
            self.admin.create_table(table).await?;
        }
        self.remember(table);
        Ok(())
    }

    /// Sends one `MutateRows` request; entries that fail transiently are sent again.
    async fn mutate(&self, table: &str, rows: Vec<RowCells>) -> Result<(), MutateError> {
        let failed = |message: String| {
            MutateError::Failed(bigtable_error(&format!("writing to table {table}"), message))
        };
        let mut pending: Vec<mutate_rows_request::Entry> = rows
            .into_iter()
            .map(|(row_key, cells)| mutate_rows_request::Entry {
                row_key,
                mutations: cells
                    .into_iter()
                    .map(|(qualifier, value)| Mutation {
                        mutation: Some(mutation::Mutation::SetCell(mutation::SetCell {
                            family_name: COLUMN_FAMILY.to_string(),
                            column_qualifier: qualifier,
                            // One fixed timestamp: rewriting a cell replaces it (Cortex writes 0 too).
                            timestamp_micros: 0,
                            value,
                        })),
                    })
                    .collect(),
                idempotency: None,
            })
            .collect();
        let mut attempt = 1;
        loop {
            let request = MutateRowsRequest {
                table_name: self.data.get_full_table_name(table),
                entries: pending.clone(),
                ..Default::default()
            };
            let mut stream = match self.data.clone().mutate_rows(request).await {
                Ok(stream) => stream,
                Err(error) if status_of(&error) == Some(Code::NotFound) => {
                    return Err(MutateError::TableMissing)
                }
                Err(error) => return Err(failed(error.to_string())),
            };
            let mut retry = Vec::new();
            let mut last_failure = String::new();
            loop {
                let response = match stream.message().await {
                    Ok(Some(response)) => response,
                    Ok(None) => break,
                    Err(status) if status.code() == Code::NotFound => return Err(MutateError::TableMissing),
                    Err(status) => return Err(failed(status.to_string())),
                };
                for entry in response.entries {
                    let Some(status) = entry.status.filter(|status| status.code != Code::Ok as i32) else {
                        continue;
                    };
                    let code = Code::from(status.code);
                    if code == Code::NotFound {
                        return Err(MutateError::TableMissing);
                    }
                    last_failure = format!("{code:?}: {}", status.message);
                    let retryable = matches!(
                        code,
                        Code::Unavailable | Code::DeadlineExceeded | Code::Aborted | Code::Internal
                    );
                    if !retryable || attempt >= WRITE_ATTEMPTS {
                        return Err(failed(last_failure));
                    }
                    let index = usize::try_from(entry.index).ok().filter(|i| *i < pending.len());
                    let index = index.ok_or_else(|| failed("response names an unknown entry".to_string()))?;
                    retry.push(pending[index].clone());
                }
            }
            if retry.is_empty() {
                return Ok(());
            }
            tracing::warn!(table, attempt, failed = retry.len(), error = %last_failure, "retrying Bigtable writes");
            pending = retry;
            attempt += 1;
            tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
        }
    }

    /// Writes the rows of one table; a table deleted behind a stale cache entry is re-created.
    pub(super) async fn write_table(&self, table: String, rows: Vec<RowCells>) -> Result<(), StorageError> {
        self.ensure_table(&table).await?;
        futures::stream::iter(write_batches(rows))
            .map(|batch| {
                let table = table.clone();
                async move {
                    match self.mutate(&table, batch.clone()).await {
                        Ok(()) => Ok(()),
                        Err(MutateError::Failed(error)) => Err(error),
                        Err(MutateError::TableMissing) => {
                            // Deleted behind a stale cache entry: create it again, once.
                            self.forget(&table);
                            self.ensure_table(&table).await?;
                            match self.mutate(&table, batch).await {
                                Ok(()) => Ok(()),
                                Err(MutateError::Failed(error)) => Err(error),
                                Err(MutateError::TableMissing) => Err(bigtable_error(
                                    &format!("writing to table {table}"),
                                    "table not found",
                                )),
                            }
                        }
                    }
                }
            })
            .buffer_unordered(WRITE_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn query_one(&self, query: IndexQuery) -> Result<Vec<IndexRow>, StorageError> {
        let request = ReadRowsRequest {
            table_name: self.data.get_full_table_name(&query.table),
            rows: Some(RowSet {
                row_keys: vec![query.hash_value.clone().into_bytes()],
                row_ranges: Vec::new(),
            }),
            filter: Some(query_filter(&query)),
            ..Default::default()
        };
        let rows = match self.data.clone().read_rows(request).await {
            Ok(rows) => rows,
            Err(error) if status_of(&error) == Some(Code::NotFound) => return Ok(Vec::new()),
            Err(error) => return Err(bigtable_error(&format!("reading table {}", query.table), error)),
        };
        let mut out: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for (row_key, cells) in rows {
            if row_key != query.hash_value.as_bytes() {
                continue;
            }
            for cell in cells.into_iter().filter(|cell| cell.family_name == COLUMN_FAMILY) {
                out.entry(cell.qualifier).or_insert(cell.value);
            }
        }
        Ok(out.into_iter().map(|(range_value, value)| IndexRow { range_value, value }).collect())
    }
}

#[async_trait]
impl IndexClient for BigtableIndexClient {
    async fn batch_write(&self, entries: Vec<IndexEntry>) -> Result<(), StorageError> {
        let mut tables: BTreeMap<String, BTreeMap<Vec<u8>, BTreeMap<Vec<u8>, Vec<u8>>>> = BTreeMap::new();
        for entry in entries {
            tables
                .entry(entry.table)
                .or_default()
                .entry(entry.hash_value.into_bytes())
                .or_default()
                .insert(entry.range_value, entry.value);
        }
        for (table, rows) in tables {
            let rows = rows.into_iter().map(|(key, cells)| (key, cells.into_iter().collect())).collect();
            self.write_table(table, rows).await?;
        }
        Ok(())
    }

    async fn query(&self, queries: Vec<IndexQuery>) -> Result<Vec<Vec<IndexRow>>, StorageError> {
        futures::stream::iter(queries)
            .map(|query| self.query_one(query))
            .buffered(QUERY_CONCURRENCY)
            .try_collect()
            .await
    }

    async fn create_table(&self, name: &str) -> Result<(), StorageError> {
        self.admin.create_table(name).await?;
        self.remember(name);
        Ok(())
    }

    async fn delete_table(&self, name: &str) -> Result<(), StorageError> {
        self.forget(name);
        self.admin.delete_table(name).await
    }

    async fn list_tables(&self) -> Result<Vec<String>, StorageError> {
        self.admin.list_tables().await
    }

    fn table_client(self: Arc<Self>) -> Option<Arc<dyn TableClient>> {
        Some(self)
    }
}

/// Bigtable tables for the table manager: capacity, on-demand mode and tags do not exist in
/// Bigtable, so `describe_table` reports none and `update_table` has nothing to change.
#[async_trait]
impl TableClient for BigtableIndexClient {
    async fn list_tables(&self) -> Result<Vec<String>, StorageError> {
        self.admin.list_tables().await
    }

    async fn create_table(&self, desc: TableDesc) -> Result<(), StorageError> {
        IndexClient::create_table(self, &desc.name).await
    }

    async fn delete_table(&self, name: &str) -> Result<(), StorageError> {
        IndexClient::delete_table(self, name).await
    }

    async fn describe_table(&self, name: &str) -> Result<(TableDesc, bool), StorageError> {
        if !self.admin.table_exists(name).await? {
            return Err(StorageError::NotFound(format!("bigtable table {name}")));
        }
        Ok((TableDesc { name: name.to_string(), ..Default::default() }, true))
    }

    async fn update_table(&self, _current: TableDesc, _expected: TableDesc) -> Result<(), StorageError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_bounds() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[b'a', 0xff]), Some(b"b".to_vec()));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
        assert_eq!(prefix_end(b""), None);
    }

    #[test]
    fn batches_stay_under_the_mutation_limit() {
        let big: Vec<(Vec<u8>, Vec<u8>)> =
            (0..25_000u32).map(|i| (i.to_be_bytes().to_vec(), Vec::new())).collect();
        let rows = vec![(b"a".to_vec(), big), (b"b".to_vec(), vec![(b"q".to_vec(), b"v".to_vec())])];
        let batches = write_batches(rows);
        assert_eq!(batches.len(), 3);
        for batch in &batches {
            assert!(batch.iter().map(|(_, cells)| cells.len()).sum::<usize>() <= MAX_MUTATIONS_PER_REQUEST);
        }
        let total: usize = batches.iter().flatten().map(|(_, cells)| cells.len()).sum();
        assert_eq!(total, 25_001);
    }

    #[test]
    fn filters() {
        let plain = IndexQuery { table: "t".into(), hash_value: "h".into(), ..Default::default() };
        assert!(matches!(
            query_filter(&plain).filter,
            Some(row_filter::Filter::CellsPerColumnLimitFilter(1))
        ));
        let narrowed =
            IndexQuery { range_value_prefix: Some(b"a".to_vec()), value_equal: Some(b"v".to_vec()), ..plain };
        let Some(row_filter::Filter::Chain(chain)) = query_filter(&narrowed).filter else {
            panic!("a chain of filters expected");
        };
        assert_eq!(chain.filters.len(), 3);
    }
}
