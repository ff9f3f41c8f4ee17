//! The embedded default index: one redb database file, one redb table per periodic table.
//!
//! Rows are not stored one per redb entry: a redb entry costs hundreds of bytes on disk (B-tree
//! page slack, per-entry headers, the full hash key repeated in every key), several times the
//! row itself. Instead each redb table maps (hash key, range key) of a block's first row to a
//! [`block`]: the rows, sorted by (hash key, range key), from that key up to the next block's
//! first key. Blocks are prefix-compressed and zstd-compressed when that is smaller, below
//! [`block::MAX_RAW_BLOCK_BYTES`] raw and [`block::MAX_STORED_BLOCK_BYTES`] stored bytes, so a
//! write re-encodes only the blocks its rows fall in and a query decodes only the blocks that may
//! hold its rows.
//!
//! Blocks span hash keys. One block per hash key was measured first: with Cortex v11 and 16 row
//! shards most hash keys hold 1–3 rows (the rows of one metric and label are spread over the
//! shards, and every series has its own chunk and label-names hash keys), so that still took one
//! redb entry, and one full hash key, per 2 rows, and the file shrank only by half. Spanning hash
//! keys lets the shared prefixes of neighbouring hash keys and zstd work across them.
//!
//! A metadata table ([`LAYOUT_TABLE`], a name no index table can take) records the layout
//! version. A file written before blocks (one entry per row, no marker) is converted on open, all
//! tables in one write transaction.
//!
//! redb is synchronous, so every call runs on the blocking pool.

mod block;
mod decoded;

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableHandle, WriteTransaction};

use crate::error::StorageError;
use crate::index::IndexClient;
use crate::schema::entries::{IndexEntry, IndexQuery, IndexRow};
use block::{OwnedKey, Row};

/// File name of the index database inside the configured directory.
pub const INDEX_FILE_NAME: &str = "index.redb";

/// Name of the metadata table holding the layout version. It starts with a NUL byte, which no
/// index table name (a configured prefix plus a period number) contains; the client refuses it as
/// an index table name and leaves it out of `list_tables`.
pub const LAYOUT_TABLE: &str = "\0neocortex-index-layout";

/// The layout this build writes: compressed blocks of rows spanning hash keys. Layout 1, one
/// redb entry per row, had no marker and is converted on open; layout 2, blocks of one hash key,
/// existed only in development builds for an hour (commit f7e1695) and is refused.
pub const BLOCK_LAYOUT_VERSION: u64 = 3;

const LAYOUT_KEY: &str = "layout";

/// (hash key, range key): of a row in layout 1, of a block's first row in layout 2.
type Key<'a> = (&'a [u8], &'a [u8]);

fn definition(name: &str) -> TableDefinition<'_, Key<'static>, &'static [u8]> {
    TableDefinition::new(name)
}

fn layout_definition() -> TableDefinition<'static, &'static str, u64> {
    TableDefinition::new(LAYOUT_TABLE)
}

fn redb_error(error: impl std::fmt::Display) -> StorageError {
    StorageError::backend("redb", error)
}

/// Refuses the metadata table's name as an index table name.
fn check_table_name(name: &str) -> Result<(), StorageError> {
    if name == LAYOUT_TABLE {
        return Err(StorageError::BadQuery(format!("{name:?} is reserved for the index layout marker")));
    }
    Ok(())
}

/// Index tables in a redb database file.
#[derive(Clone)]
pub struct RedbIndexClient {
    database: Arc<Database>,
    path: PathBuf,
    /// Blocks decoded by earlier queries.
    decoded: Arc<decoded::DecodedBlocks>,
    /// Bumped after every write transaction, committed or not (see
    /// [`IndexClient::write_generation`]); shared by clones, which share the database.
    generation: Arc<AtomicU64>,
}

impl std::fmt::Debug for RedbIndexClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbIndexClient").field("path", &self.path).finish()
    }
}

impl RedbIndexClient {
    /// Opens (creating if needed) the index database in `directory`, converting a file of the
    /// one-entry-per-row layout to blocks first.
    pub fn open(directory: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(directory)
            .map_err(|err| redb_error(format!("creating {}: {err}", directory.display())))?;
        let path = directory.join(INDEX_FILE_NAME);
        let database = Database::create(&path).map_err(redb_error)?;
        ensure_block_layout(&database)?;
        Ok(Self { database: Arc::new(database), path, decoded: Arc::default(), generation: Arc::default() })
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

    /// Runs a write transaction's `work` on the blocking pool, then bumps the generation: after
    /// the commit, so a reader that took the old generation cannot keep what it read; and even
    /// on failure, since a failed commit may still have changed the file.
    async fn blocking_write<F>(&self, work: F) -> Result<(), StorageError>
    where
        F: FnOnce(&Database) -> Result<(), StorageError> + Send + 'static,
    {
        let generation = Arc::clone(&self.generation);
        self.blocking(move |database| {
            let result = work(database);
            generation.fetch_add(1, Ordering::AcqRel);
            result
        })
        .await
    }
}

/// The layout version the file records, if any.
fn recorded_layout(database: &Database) -> Result<Option<u64>, StorageError> {
    let transaction = database.begin_read().map_err(redb_error)?;
    match transaction.open_table(layout_definition()) {
        Ok(table) => Ok(table.get(LAYOUT_KEY).map_err(redb_error)?.map(|version| version.value())),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(err) => Err(redb_error(err)),
    }
}

/// Makes sure the file is in the block layout: a file without a marker (new, or written one entry
/// per row) has every table converted and the marker written, in one write transaction.
fn ensure_block_layout(database: &Database) -> Result<(), StorageError> {
    match recorded_layout(database)? {
        Some(BLOCK_LAYOUT_VERSION) => return Ok(()),
        Some(other) => {
            return Err(StorageError::Config(format!(
                "index file has layout version {other}; this build reads version {BLOCK_LAYOUT_VERSION} \
                 (and converts files without a version); rebuild the index directory"
            )))
        }
        None => {}
    }
    let transaction = database.begin_write().map_err(redb_error)?;
    for name in index_table_names(&transaction)? {
        convert_row_table(&transaction, &name)?;
    }
    transaction
        .open_table(layout_definition())
        .map_err(redb_error)?
        .insert(LAYOUT_KEY, BLOCK_LAYOUT_VERSION)
        .map_err(redb_error)?;
    transaction.commit().map_err(redb_error)
}

fn index_table_names(transaction: &WriteTransaction) -> Result<Vec<String>, StorageError> {
    Ok(transaction
        .list_tables()
        .map_err(redb_error)?
        .map(|table| table.name().to_string())
        .filter(|name| name != LAYOUT_TABLE)
        .collect())
}

/// Rewrites one table of one-entry-per-row layout as blocks (the whole table passes through
/// memory once).
fn convert_row_table(transaction: &WriteTransaction, name: &str) -> Result<(), StorageError> {
    let mut table = transaction.open_table(definition(name)).map_err(redb_error)?;
    let mut rows = Vec::new();
    for item in table.iter().map_err(redb_error)? {
        let (key, value) = item.map_err(redb_error)?;
        let (hash, range_value) = key.value();
        rows.push(Row {
            hash: hash.to_vec(),
            range_value: range_value.to_vec(),
            value: value.value().to_vec(),
        });
    }
    table.retain(|_, _| false).map_err(redb_error)?;
    put_blocks(&mut table, rows)
}

fn owned_key((hash, range_value): Key<'_>) -> OwnedKey {
    (hash.to_vec(), range_value.to_vec())
}

/// The first key of the block where rows at or after `key` start: the last block whose first key
/// is at or before it, else the table's first block; `None` if the table has no blocks.
fn start_block<T>(table: &T, key: Key<'_>) -> Result<Option<OwnedKey>, StorageError>
where
    T: ReadableTable<Key<'static>, &'static [u8]>,
{
    if let Some(item) = table.range::<Key<'_>>(..=key).map_err(redb_error)?.next_back() {
        return Ok(Some(owned_key(item.map_err(redb_error)?.0.value())));
    }
    next_block(table, Bound::Unbounded)
}

/// The first key of the first block after `from`, if any.
fn next_block<T>(table: &T, from: Bound<Key<'_>>) -> Result<Option<OwnedKey>, StorageError>
where
    T: ReadableTable<Key<'static>, &'static [u8]>,
{
    let Some(item) = table.range::<Key<'_>>((from, Bound::Unbounded)).map_err(redb_error)?.next() else {
        return Ok(None);
    };
    Ok(Some(owned_key(item.map_err(redb_error)?.0.value())))
}

/// Stores sorted, unique `rows` as blocks keyed by their first row's key.
fn put_blocks(
    table: &mut redb::Table<'_, Key<'static>, &'static [u8]>,
    rows: Vec<Row>,
) -> Result<(), StorageError> {
    for ((hash, first), bytes) in block::encode_blocks(rows) {
        table.insert((hash.as_slice(), first.as_slice()), bytes.as_slice()).map_err(redb_error)?;
    }
    Ok(())
}

/// Merges sorted, unique `rows` into the table: each run of rows that falls in one block is
/// merged with that block, which is re-split and written back.
fn write_rows(
    table: &mut redb::Table<'_, Key<'static>, &'static [u8]>,
    mut rows: Vec<Row>,
) -> Result<(), StorageError> {
    while !rows.is_empty() {
        let Some((hash, first)) = start_block(table, rows[0].key())? else {
            return put_blocks(table, rows);
        };
        let key: Key<'_> = (&hash, &first);
        let count = match next_block(table, Bound::Excluded(key))? {
            Some((next_hash, next_first)) => rows
                .iter()
                .take_while(|row| row.key() < (next_hash.as_slice(), next_first.as_slice()))
                .count(),
            None => rows.len(),
        };
        let rest = rows.split_off(count);
        let existing = {
            let stored = table.get(key).map_err(redb_error)?.ok_or_else(|| redb_error("block vanished"))?;
            block::decode(key, stored.value())?
        };
        let merged = block::merge(existing, rows);
        if merged[0].key() != key {
            table.remove(key).map_err(redb_error)?;
        }
        put_blocks(table, merged)?;
        rows = rest;
    }
    Ok(())
}

/// Sorts entries by (table, hash, range), keeping the last written of equal keys, and groups them
/// by table.
fn group_entries(mut entries: Vec<IndexEntry>) -> Vec<(String, Vec<Row>)> {
    entries.sort_by(|a, b| {
        (&a.table, &a.hash_value, &a.range_value).cmp(&(&b.table, &b.hash_value, &b.range_value))
    });
    let mut tables: Vec<(String, Vec<Row>)> = Vec::new();
    for entry in entries {
        let row =
            Row { hash: entry.hash_value.into_bytes(), range_value: entry.range_value, value: entry.value };
        match tables.last_mut() {
            Some((name, rows)) if *name == entry.table => match rows.last_mut() {
                Some(last) if last.key() == row.key() => *last = row,
                _ => rows.push(row),
            },
            _ => tables.push((entry.table, vec![row])),
        }
    }
    tables
}

fn write_entries(database: &Database, entries: Vec<IndexEntry>) -> Result<(), StorageError> {
    let tables = group_entries(entries);
    for (name, _) in &tables {
        check_table_name(name)?;
    }
    let transaction = database.begin_write().map_err(redb_error)?;
    for (name, rows) in tables {
        let mut table = transaction.open_table(definition(&name)).map_err(redb_error)?;
        write_rows(&mut table, rows)?;
    }
    transaction.commit().map_err(redb_error)
}

/// A block read by a query, with the first key of the block after it (`None` for the last).
struct CachedBlock {
    table: String,
    first: OwnedKey,
    next: Option<OwnedKey>,
    rows: Arc<block::SearchableBlock>,
}

impl CachedBlock {
    /// Whether rows at or after `key` start in this block.
    fn holds(&self, table: &str, key: Key<'_>) -> bool {
        self.table == table
            && (self.first.0.as_slice(), self.first.1.as_slice()) <= key
            && self.next.as_ref().is_none_or(|next| key < (next.0.as_slice(), next.1.as_slice()))
    }
}

/// A decoded block and the first key of the block after it.
type FoundBlock = (Arc<block::SearchableBlock>, Option<OwnedKey>);

/// Decoded blocks of one `query` call (one read transaction, so they cannot change). The store
/// sends the chunk queries of all matching series in one call, run in key order, so consecutive
/// queries mostly start in the same block: each block is read once per call (and decoded once
/// across calls, see [`decoded`]), and a query starting in a block already read needs no B-tree
/// lookup at all.
struct BlockCache<'a> {
    /// Blocks decoded by any query of this client.
    decoded: &'a decoded::DecodedBlocks,
    /// Most recently used last, and searched from there: consecutive queries mostly start in
    /// the block the previous one ended in.
    blocks: Vec<CachedBlock>,
}

impl<'a> BlockCache<'a> {
    const CAPACITY: usize = 8;

    fn new(decoded: &'a decoded::DecodedBlocks) -> Self {
        Self { decoded, blocks: Vec::new() }
    }

    /// The block where rows at or after `key` start (`None` when the table has no blocks).
    fn holding<T>(&mut self, table: &T, name: &str, key: Key<'_>) -> Result<Option<FoundBlock>, StorageError>
    where
        T: ReadableTable<Key<'static>, &'static [u8]>,
    {
        if let Some(index) = self.blocks.iter().rposition(|block| block.holds(name, key)) {
            return Ok(Some(self.use_cached(index)));
        }
        match start_block(table, key)? {
            Some(first) => self.load(table, name, first).map(Some),
            None => Ok(None),
        }
    }

    /// The block whose first key is `first`.
    fn load<T>(&mut self, table: &T, name: &str, first: OwnedKey) -> Result<FoundBlock, StorageError>
    where
        T: ReadableTable<Key<'static>, &'static [u8]>,
    {
        if let Some(index) = self.blocks.iter().rposition(|block| block.table == name && block.first == first)
        {
            return Ok(self.use_cached(index));
        }
        let key: Key<'_> = (&first.0, &first.1);
        let stored = table.get(key).map_err(redb_error)?.ok_or_else(|| {
            StorageError::corrupt("index block", "a block vanished during a read transaction".to_string())
        })?;
        let rows = self.decoded.get_or_decode(name, &first, stored.value())?;
        let next = next_block(table, Bound::Excluded(key))?;
        if self.blocks.len() == Self::CAPACITY {
            self.blocks.remove(0);
        }
        self.blocks.push(CachedBlock {
            table: name.to_string(),
            first,
            next: next.clone(),
            rows: Arc::clone(&rows),
        });
        Ok((rows, next))
    }

    /// Moves cached block `index` to the most recently used end and returns it.
    fn use_cached(&mut self, index: usize) -> FoundBlock {
        let block = self.blocks.remove(index);
        let found = (Arc::clone(&block.rows), block.next.clone());
        self.blocks.push(block);
        found
    }
}

/// The rows of one query: from the row at its lower bound (found by binary search in the block
/// holding it), forward through the following blocks until keys pass the hash key and the
/// range-key prefix.
fn query_table<T>(
    table: &T,
    query: &IndexQuery,
    cache: &mut BlockCache<'_>,
) -> Result<Vec<IndexRow>, StorageError>
where
    T: ReadableTable<Key<'static>, &'static [u8]>,
{
    let hash = query.hash_value.as_bytes();
    let prefix = query.range_value_prefix.as_deref().unwrap_or_default();
    let start = query.range_value_start.as_deref().unwrap_or_default();
    let lower: Key<'_> = (hash, prefix.max(start));
    // Keys at or after `lower` that are not (hash, prefix…) sort after every wanted row.
    let past = |key: Key<'_>| key >= lower && (key.0 != hash || !key.1.starts_with(prefix));
    let Some((mut block, mut next)) = cache.holding(table, &query.table, lower)? else {
        return Ok(Vec::new());
    };
    let mut rows = Vec::new();
    let mut index = block.first_at_or_after(lower);
    loop {
        while index < block.len() {
            let (row_hash, range_value, value) = block.row(index);
            if past((row_hash, range_value)) {
                return Ok(rows);
            }
            if query.accepts(range_value, value) {
                rows.push(IndexRow { range_value: range_value.to_vec(), value: value.to_vec() });
            }
            index += 1;
        }
        match next {
            Some(first) if !past((&first.0, &first.1)) => {
                (block, next) = cache.load(table, &query.table, first)?;
                index = 0;
            }
            _ => return Ok(rows),
        }
    }
}

/// An index table opened for reading.
type IndexTable = redb::ReadOnlyTable<Key<'static>, &'static [u8]>;

/// The rows of `queries[i]` for each `i` of `order`, in that order. Tables are opened once per
/// run of consecutive queries naming them.
fn run_queries(
    database: &Database,
    decoded: &decoded::DecodedBlocks,
    queries: &[IndexQuery],
    order: &[usize],
) -> Result<Vec<Vec<IndexRow>>, StorageError> {
    let transaction = database.begin_read().map_err(redb_error)?;
    let mut results = Vec::with_capacity(order.len());
    let mut cache = BlockCache::new(decoded);
    // The table of the previous query, by name (`None` when it does not exist).
    let mut open: Option<(&str, Option<IndexTable>)> = None;
    for &index in order {
        let query = &queries[index];
        if query.table == LAYOUT_TABLE {
            results.push(Vec::new());
            continue;
        }
        if open.as_ref().is_none_or(|(name, _)| *name != query.table) {
            let table = match transaction.open_table(definition(&query.table)) {
                Ok(table) => Some(table),
                Err(redb::TableError::TableDoesNotExist(_)) => None,
                Err(err) => return Err(redb_error(err)),
            };
            open = Some((&query.table, table));
        }
        match open.as_ref().and_then(|(_, table)| table.as_ref()) {
            Some(table) => results.push(query_table(table, query, &mut cache)?),
            None => results.push(Vec::new()),
        }
    }
    Ok(results)
}

/// Queries per blocking task: a read that looks up every series' chunks (thousands of queries)
/// is split so that every core works on it.
const QUERIES_PER_TASK: usize = 1024;

#[async_trait]
impl IndexClient for RedbIndexClient {
    async fn batch_write(&self, entries: Vec<IndexEntry>) -> Result<(), StorageError> {
        if entries.is_empty() {
            return Ok(());
        }
        self.blocking_write(move |database| write_entries(database, entries)).await
    }

    async fn query(&self, queries: Vec<IndexQuery>) -> Result<Vec<Vec<IndexRow>>, StorageError> {
        // Run in table and hash-key order, so that consecutive queries read the same blocks and
        // each block is decompressed once; the answers go back in the order asked.
        let mut order: Vec<usize> = (0..queries.len()).collect();
        order.sort_by(|&a, &b| {
            (&queries[a].table, &queries[a].hash_value).cmp(&(&queries[b].table, &queries[b].hash_value))
        });
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let tasks = queries.len().div_ceil(QUERIES_PER_TASK).clamp(1, cores);
        let per_task = order.len().div_ceil(tasks).max(1);
        let queries = Arc::new(queries);
        let mut running = Vec::with_capacity(tasks);
        for part in order.chunks(per_task) {
            let (queries, part) = (Arc::clone(&queries), part.to_vec());
            let decoded = Arc::clone(&self.decoded);
            running.push(self.blocking(move |database| run_queries(database, &decoded, &queries, &part)));
        }
        let mut results = vec![Vec::new(); queries.len()];
        let mut positions = order.iter();
        for answers in futures::future::try_join_all(running).await? {
            for (rows, &position) in answers.into_iter().zip(positions.by_ref()) {
                results[position] = rows;
            }
        }
        Ok(results)
    }

    async fn create_table(&self, name: &str) -> Result<(), StorageError> {
        check_table_name(name)?;
        let name = name.to_string();
        self.blocking_write(move |database| {
            let transaction = database.begin_write().map_err(redb_error)?;
            transaction.open_table(definition(&name)).map_err(redb_error)?;
            transaction.commit().map_err(redb_error)
        })
        .await
    }

    async fn delete_table(&self, name: &str) -> Result<(), StorageError> {
        check_table_name(name)?;
        let name = name.to_string();
        self.blocking_write(move |database| {
            let transaction = database.begin_write().map_err(redb_error)?;
            transaction.delete_table(definition(&name)).map_err(redb_error)?;
            transaction.commit().map_err(redb_error)
        })
        .await
    }

    async fn list_tables(&self) -> Result<Vec<String>, StorageError> {
        self.blocking(|database| {
            let transaction = database.begin_read().map_err(redb_error)?;
            let mut names: Vec<String> = transaction
                .list_tables()
                .map_err(redb_error)?
                .map(|t| t.name().to_string())
                .filter(|name| name != LAYOUT_TABLE)
                .collect();
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

    fn write_generation(&self) -> Option<u64> {
        Some(self.generation.load(Ordering::Acquire))
    }
}

table_client_without_settings!(RedbIndexClient);

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::index::memory::MemoryIndexClient;
    use neocortex_testkit::chunks::noise;

    fn entry(hash: &str, range: &[u8], value: &[u8]) -> IndexEntry {
        IndexEntry {
            table: "index_1".into(),
            hash_value: hash.into(),
            range_value: range.to_vec(),
            value: value.to_vec(),
        }
    }

    fn query(hash: &str) -> IndexQuery {
        IndexQuery { table: "index_1".into(), hash_value: hash.into(), ..Default::default() }
    }

    /// Rows with a unique 40-hex-digit series part (incompressible, like a series id), about
    /// 60 raw bytes each: a few hundred need several blocks.
    fn series_rows(hash: &str, count: usize, prefix: &str) -> Vec<IndexEntry> {
        (0..count as u64)
            .map(|i| {
                let mixed = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xdead_beef;
                let id = format!("{mixed:016x}{:016x}{:08x}", mixed.rotate_left(17), mixed >> 7);
                entry(hash, format!("{prefix}{i:06}\0{id}\0\0").as_bytes(), b"node-exporter")
            })
            .collect()
    }

    /// Every block of the table as (hash, first key, rows), checking the block invariants: rows
    /// sorted, the first row at the block key, every row before the next block.
    fn blocks(client: &RedbIndexClient) -> Vec<(Vec<u8>, Vec<u8>, Vec<Row>)> {
        let transaction = client.database.begin_read().unwrap();
        let mut out: Vec<(Vec<u8>, Vec<u8>, Vec<Row>)> = Vec::new();
        let table = match transaction.open_table(definition("index_1")) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return out,
            Err(err) => panic!("{err}"),
        };
        for item in table.iter().unwrap() {
            let (key, stored) = item.unwrap();
            let rows = block::decode(key.value(), stored.value()).unwrap();
            if let Some((_, _, previous_rows)) = out.last() {
                assert!(previous_rows.last().unwrap().key() < key.value());
            }
            out.push((key.value().0.to_vec(), key.value().1.to_vec(), rows));
        }
        out
    }

    async fn open() -> (tempfile::TempDir, RedbIndexClient) {
        let directory = tempfile::tempdir().unwrap();
        let client = RedbIndexClient::open(directory.path()).unwrap();
        (directory, client)
    }

    #[tokio::test]
    async fn every_change_moves_the_write_generation_and_reads_do_not() {
        let (_directory, client) = open().await;
        let mut seen = vec![client.write_generation().unwrap()];
        client.batch_write(vec![entry("a", b"1", b"x")]).await.unwrap();
        seen.push(client.write_generation().unwrap());
        client.query(vec![query("a")]).await.unwrap();
        client.list_tables().await.unwrap();
        assert_eq!(client.write_generation(), seen.last().copied(), "reads change nothing");
        client.create_table("index_2").await.unwrap();
        seen.push(client.write_generation().unwrap());
        client.delete_table("index_2").await.unwrap();
        seen.push(client.write_generation().unwrap());
        // A clone shares the database, so it shares the generation.
        client.clone().batch_write(vec![entry("b", b"1", b"x")]).await.unwrap();
        seen.push(client.write_generation().unwrap());
        assert!(seen.windows(2).all(|pair| pair[0] < pair[1]), "{seen:?}");
    }

    #[tokio::test]
    async fn conformance() {
        let (_directory, client) = open().await;
        crate::index::conformance::run_index_client_suite(&client).await;
    }

    /// Blocks decoded by one query are kept for the next, but a write that rewrites them is seen.
    #[tokio::test]
    async fn queries_after_a_write_see_the_rewritten_blocks() {
        let (_directory, client) = open().await;
        client.batch_write(series_rows("h", 300, "a")).await.unwrap();
        let mut prefix = query("h");
        prefix.range_value_prefix = Some(b"a".to_vec());
        assert_eq!(client.query(vec![prefix.clone()]).await.unwrap()[0].len(), 300);
        let kept = client.decoded.len();
        assert!(kept > 0, "decoded blocks are kept");
        assert_eq!(client.query(vec![prefix.clone()]).await.unwrap()[0].len(), 300);
        assert_eq!(client.decoded.len(), kept, "the second query decoded nothing new");
        let mut more = series_rows("h", 20, "a");
        for row in &mut more {
            row.range_value.push(b'!');
        }
        client.batch_write(more).await.unwrap();
        let rows = client.query(vec![prefix]).await.unwrap().remove(0);
        assert_eq!(rows.len(), 320);
        assert!(rows.windows(2).all(|pair| pair[0].range_value < pair[1].range_value));
    }

    #[tokio::test]
    async fn survives_reopen() {
        let directory = tempfile::tempdir().unwrap();
        let entry = entry("h", b"r\0", b"v");
        {
            let client = RedbIndexClient::open(directory.path()).unwrap();
            client.batch_write(vec![entry.clone()]).await.unwrap();
        }
        let client = RedbIndexClient::open(directory.path()).unwrap();
        let rows = client.query(vec![query("h")]).await.unwrap();
        assert_eq!(rows[0], vec![IndexRow { range_value: entry.range_value, value: entry.value }]);
    }

    #[tokio::test]
    async fn row_replacing_one_in_the_middle_of_a_block() {
        let (_directory, client) = open().await;
        client.batch_write(series_rows("h", 50, "")).await.unwrap();
        let middle = series_rows("h", 50, "")[25].range_value.clone();
        client.batch_write(vec![entry("h", &middle, b"replaced")]).await.unwrap();
        let rows = client.query(vec![query("h")]).await.unwrap().remove(0);
        assert_eq!(rows.len(), 50);
        assert_eq!(rows[25].value, b"replaced");
        assert!(rows.iter().enumerate().all(|(i, row)| i == 25 || row.value == b"node-exporter"));
        assert_eq!(blocks(&client).len(), 1);
    }

    #[tokio::test]
    async fn writes_split_blocks_and_rows_before_the_first_block_move_its_key() {
        let (_directory, client) = open().await;
        client.batch_write(series_rows("h", 600, "m")).await.unwrap();
        let before = blocks(&client).len();
        assert!(before > 1, "600 rows of ~60 raw bytes need several blocks");
        // Rows in the middle of existing blocks and before the first one, in one batch.
        let mut more = series_rows("h", 600, "n");
        more.extend(series_rows("h", 5, "a"));
        client.batch_write(more).await.unwrap();
        let after = blocks(&client);
        assert!(after.len() > before);
        assert!(after[0].1.starts_with(b"a"), "the first block now starts at the new first row");
        for (_, _, rows) in &after {
            assert!(block::encode(rows).len() <= block::MAX_STORED_BLOCK_BYTES);
        }
        let rows = client.query(vec![query("h")]).await.unwrap().remove(0);
        assert_eq!(rows.len(), 1205);
        assert!(rows.windows(2).all(|pair| pair[0].range_value < pair[1].range_value));
    }

    #[tokio::test]
    async fn prefix_query_spanning_several_blocks_and_start_inside_a_block() {
        let (_directory, client) = open().await;
        let mut rows = series_rows("h", 200, "a");
        rows.extend(series_rows("h", 800, "b"));
        rows.extend(series_rows("h", 200, "c"));
        client.batch_write(rows).await.unwrap();
        let b_blocks = blocks(&client).iter().filter(|(_, key, _)| key.starts_with(b"b")).count();
        assert!(b_blocks >= 2, "the prefix spans several blocks");

        let mut by_prefix = query("h");
        by_prefix.range_value_prefix = Some(b"b".to_vec());
        let mut inside = query("h");
        inside.range_value_start = Some(b"b000123".to_vec());
        inside.range_value_prefix = Some(b"b".to_vec());
        let mut start_only = query("h");
        start_only.range_value_start = Some(b"c000199".to_vec());
        let results = client.query(vec![by_prefix, inside, start_only]).await.unwrap();
        assert_eq!(results[0].len(), 800);
        assert!(results[0].iter().all(|row| row.range_value.starts_with(b"b")));
        assert_eq!(results[1].len(), 800 - 123);
        assert!(results[1][0].range_value.starts_with(b"b000123\0"));
        assert_eq!(results[2].len(), 1);
    }

    #[tokio::test]
    async fn empty_and_neighbouring_hashes() {
        let (_directory, client) = open().await;
        client
            .batch_write(vec![entry("g", b"a", b"1"), entry("h2", b"a", b"2"), entry("", b"z", b"3")])
            .await
            .unwrap();
        let results = client.query(vec![query("h"), query(""), query("h2")]).await.unwrap();
        assert!(results[0].is_empty(), "a hash without rows between two others");
        assert_eq!(results[1], vec![IndexRow { range_value: b"z".to_vec(), value: b"3".to_vec() }]);
        assert_eq!(results[2].len(), 1);
    }

    #[tokio::test]
    async fn layout_table_is_hidden_and_reserved() {
        let (_directory, client) = open().await;
        client.create_table("index_1").await.unwrap();
        assert_eq!(client.list_tables().await.unwrap(), vec!["index_1"]);
        assert!(client.create_table(LAYOUT_TABLE).await.is_err());
        assert!(client.delete_table(LAYOUT_TABLE).await.is_err());
        let mut reserved = entry("h", b"r", b"v");
        reserved.table = LAYOUT_TABLE.into();
        assert!(client.batch_write(vec![reserved]).await.is_err());
    }

    #[tokio::test]
    async fn corrupt_block_is_a_storage_error() {
        let (_directory, client) = open().await;
        {
            let transaction = client.database.begin_write().unwrap();
            transaction
                .open_table(definition("index_1"))
                .unwrap()
                .insert((&b"h"[..], &b"r"[..]), &[7u8, 1][..])
                .unwrap();
            transaction.commit().unwrap();
        }
        let error = client.query(vec![query("h")]).await.unwrap_err();
        assert!(matches!(error, StorageError::Corrupt { .. }), "{error}");
    }

    #[tokio::test]
    async fn converts_a_one_row_per_entry_file() {
        let directory = tempfile::tempdir().unwrap();
        let old_rows = series_rows("h", 500, "a");
        {
            // The layout before blocks: one redb entry per row, no marker.
            let database = Database::create(directory.path().join(INDEX_FILE_NAME)).unwrap();
            let transaction = database.begin_write().unwrap();
            {
                let mut table = transaction.open_table(definition("index_1")).unwrap();
                for row in &old_rows {
                    table
                        .insert((row.hash_value.as_bytes(), row.range_value.as_slice()), row.value.as_slice())
                        .unwrap();
                }
                table.insert((&b"other"[..], &b"r"[..]), &b"v"[..]).unwrap();
                transaction.open_table(definition("index_2")).unwrap();
            }
            transaction.commit().unwrap();
        }
        let client = RedbIndexClient::open(directory.path()).unwrap();
        assert_eq!(client.list_tables().await.unwrap(), vec!["index_1", "index_2"]);
        let stored = blocks(&client);
        assert!(stored.len() > 1 && stored.len() < 20, "{} blocks", stored.len());
        let mut by_prefix = query("h");
        by_prefix.range_value_prefix = Some(b"a000042\0".to_vec());
        let results = client.query(vec![query("h"), query("other"), by_prefix]).await.unwrap();
        let expected: Vec<IndexRow> = old_rows
            .into_iter()
            .map(|row| IndexRow { range_value: row.range_value, value: row.value })
            .collect();
        assert_eq!(results[0], expected);
        assert_eq!(results[1], vec![IndexRow { range_value: b"r".to_vec(), value: b"v".to_vec() }]);
        assert_eq!(results[2].len(), 1);
        drop(client);
        // Reopening finds the marker and leaves the blocks alone.
        let client = RedbIndexClient::open(directory.path()).unwrap();
        assert_eq!(client.query(vec![query("h")]).await.unwrap()[0], expected);
    }

    #[tokio::test]
    async fn many_queries_in_any_order_answer_in_the_order_asked() {
        let (_directory, redb) = open().await;
        let memory = MemoryIndexClient::new();
        let mut entries = Vec::new();
        for series in 0..600u64 {
            let hash = format!("user:d1:{:016x}", noise(5, series));
            for chunk in 0..3 {
                entries.push(entry(&hash, format!("chunk-{chunk}").as_bytes(), b""));
            }
        }
        redb.batch_write(entries.clone()).await.unwrap();
        memory.batch_write(entries).await.unwrap();
        // More queries than one task takes, over two tables (one missing) and hashes without
        // rows, shuffled.
        let mut shuffled: Vec<u64> = (0..QUERIES_PER_TASK as u64 * 2 + 7).collect();
        shuffled.sort_by_key(|&i| noise(9, i));
        let queries: Vec<IndexQuery> = shuffled
            .into_iter()
            .map(|i| {
                let mut query = query(&format!("user:d1:{:016x}", noise(5, i % 700)));
                if i % 5 == 0 {
                    query.table = "missing".into();
                }
                query
            })
            .collect();
        let expected = memory.query(queries.clone()).await.unwrap();
        let actual = redb.query(queries.clone()).await.unwrap();
        assert_eq!(actual.len(), queries.len());
        assert!(actual.iter().filter(|rows| rows.len() == 3).count() > QUERIES_PER_TASK);
        for ((query, expected), actual) in queries.iter().zip(expected).zip(actual) {
            assert_eq!(actual, expected, "{query:?}");
        }
    }

    #[test]
    fn refuses_an_unknown_layout_version() {
        let directory = tempfile::tempdir().unwrap();
        {
            let database = Database::create(directory.path().join(INDEX_FILE_NAME)).unwrap();
            let transaction = database.begin_write().unwrap();
            transaction.open_table(layout_definition()).unwrap().insert(LAYOUT_KEY, 2).unwrap();
            transaction.commit().unwrap();
        }
        let error = RedbIndexClient::open(directory.path()).unwrap_err();
        assert!(matches!(error, StorageError::Config(_)), "{error}");
    }

    fn arbitrary_entry() -> impl Strategy<Value = IndexEntry> {
        let hash = prop::sample::select(vec!["", "g", "h", "h2"]);
        let value = (prop::sample::select(vec![b'x', b'y']), 0usize..2500).prop_map(|(b, n)| vec![b; n]);
        (hash, "[abc]{0,5}", value).prop_map(|(hash, range, value)| entry(hash, range.as_bytes(), &value))
    }

    fn arbitrary_query() -> impl Strategy<Value = IndexQuery> {
        let hash = prop::sample::select(vec!["", "g", "h", "h2", "i"]);
        let value = prop::option::of(
            (prop::sample::select(vec![b'x', b'y']), 0usize..3).prop_map(|(b, n)| vec![b; n]),
        );
        (hash, prop::option::of("[abc]{0,3}"), prop::option::of("[abc]{0,4}"), value).prop_map(
            |(hash, prefix, start, value_equal)| IndexQuery {
                range_value_prefix: prefix.map(String::into_bytes),
                range_value_start: start.map(String::into_bytes),
                value_equal,
                ..query(hash)
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Random batches of writes, then random queries: the redb blocks answer exactly what
        /// the in-memory index answers.
        #[test]
        fn answers_like_the_memory_index(
            batches in prop::collection::vec(prop::collection::vec(arbitrary_entry(), 0..60), 1..5),
            queries in prop::collection::vec(arbitrary_query(), 1..20),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let (_directory, redb) = open().await;
                let memory = MemoryIndexClient::new();
                for batch in batches {
                    redb.batch_write(batch.clone()).await.unwrap();
                    memory.batch_write(batch).await.unwrap();
                }
                blocks(&redb);
                let expected = memory.query(queries.clone()).await.unwrap();
                let actual = redb.query(queries.clone()).await.unwrap();
                for ((query, expected), actual) in queries.iter().zip(expected).zip(actual) {
                    prop_assert_eq!(actual, expected, "{:?}", query);
                }
                Ok(())
            })?;
        }
    }
}
