//! The embedded default index: one redb database file, one redb table per periodic table.
//!
//! Rows are not stored one per redb entry: a redb entry costs hundreds of bytes on disk (B-tree
//! page slack, per-entry headers, the full hash key repeated in every key), several times the
//! row itself. Instead each redb table maps (hash key, first range key of the block) to a
//! [`block`] of rows of that one hash key: the rows sorted by range key whose range key is at or
//! after the block's first key and before the next block's first key of the same hash. Blocks are
//! prefix-compressed and zstd-compressed when that is smaller, and kept below
//! [`block::MAX_RAW_BLOCK_BYTES`] raw bytes, so a metric with many series is many blocks and a
//! write re-encodes only the blocks its rows fall in; a query decodes only the blocks that may
//! hold its range keys.
//!
//! A metadata table ([`LAYOUT_TABLE`], a name no index table can take) records the layout
//! version. A file written before blocks (one entry per row, no marker) is converted on open, all
//! tables in one write transaction.
//!
//! redb is synchronous, so every call runs on the blocking pool.

mod block;

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableHandle, WriteTransaction};

use crate::error::StorageError;
use crate::index::IndexClient;
use crate::schema::entries::{IndexEntry, IndexQuery, IndexRow};

/// File name of the index database inside the configured directory.
pub const INDEX_FILE_NAME: &str = "index.redb";

/// Name of the metadata table holding the layout version. It starts with a NUL byte, which no
/// index table name (a configured prefix plus a period number) contains; the client refuses it as
/// an index table name and leaves it out of `list_tables`.
pub const LAYOUT_TABLE: &str = "\0neocortex-index-layout";

/// The layout this build writes: compressed blocks of rows per hash key. (Layout 1, one redb
/// entry per row, had no marker.)
pub const BLOCK_LAYOUT_VERSION: u64 = 2;

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
                "index file has layout version {other}; this build reads version {BLOCK_LAYOUT_VERSION}"
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
    let mut hashes: Vec<(Vec<u8>, Vec<IndexRow>)> = Vec::new();
    for item in table.iter().map_err(redb_error)? {
        let (key, value) = item.map_err(redb_error)?;
        let (hash, range_value) = key.value();
        let row = IndexRow { range_value: range_value.to_vec(), value: value.value().to_vec() };
        match hashes.last_mut() {
            Some((last, rows)) if last.as_slice() == hash => rows.push(row),
            _ => hashes.push((hash.to_vec(), vec![row])),
        }
    }
    table.retain(|_, _| false).map_err(redb_error)?;
    for (hash, rows) in hashes {
        put_blocks(&mut table, &hash, rows)?;
    }
    Ok(())
}

/// The first key of the block where rows at or after `range_value` of `hash` start: the last
/// block whose first key is at or before it, else the hash's first block; `None` if the hash
/// has no blocks.
fn start_block<T>(table: &T, hash: &[u8], range_value: &[u8]) -> Result<Option<Vec<u8>>, StorageError>
where
    T: ReadableTable<Key<'static>, &'static [u8]>,
{
    let lowest: Key<'_> = (hash, &[]);
    let at: Key<'_> = (hash, range_value);
    if let Some(item) = table.range::<Key<'_>>(lowest..=at).map_err(redb_error)?.next_back() {
        return Ok(Some(item.map_err(redb_error)?.0.value().1.to_vec()));
    }
    next_block(table, hash, Bound::Included(lowest))
}

/// The first key of the first block of `hash` after `from`, if any.
fn next_block<T>(table: &T, hash: &[u8], from: Bound<Key<'_>>) -> Result<Option<Vec<u8>>, StorageError>
where
    T: ReadableTable<Key<'static>, &'static [u8]>,
{
    let Some(item) = table.range::<Key<'_>>((from, Bound::Unbounded)).map_err(redb_error)?.next() else {
        return Ok(None);
    };
    let (key, _) = item.map_err(redb_error)?;
    let (block_hash, first_key) = key.value();
    Ok((block_hash == hash).then(|| first_key.to_vec()))
}

/// Stores sorted, unique `rows` of `hash` as blocks keyed by their first range key.
fn put_blocks(
    table: &mut redb::Table<'_, Key<'static>, &'static [u8]>,
    hash: &[u8],
    rows: Vec<IndexRow>,
) -> Result<(), StorageError> {
    for part in block::split(rows) {
        let key: Key<'_> = (hash, part[0].range_value.as_slice());
        table.insert(key, block::encode(&part).as_slice()).map_err(redb_error)?;
    }
    Ok(())
}

/// Merges sorted, unique `rows` of `hash` into the table: each run of rows that falls in one block
/// is merged with that block, which is re-split and written back.
fn write_hash(
    table: &mut redb::Table<'_, Key<'static>, &'static [u8]>,
    hash: &[u8],
    mut rows: Vec<IndexRow>,
) -> Result<(), StorageError> {
    while !rows.is_empty() {
        let Some(first_key) = start_block(table, hash, &rows[0].range_value)? else {
            return put_blocks(table, hash, rows);
        };
        let next = next_block(table, hash, Bound::Excluded((hash, first_key.as_slice())))?;
        let count = match &next {
            Some(next) => rows.iter().take_while(|row| row.range_value < *next).count(),
            None => rows.len(),
        };
        let rest = rows.split_off(count);
        let key: Key<'_> = (hash, first_key.as_slice());
        let existing = {
            let stored = table.get(key).map_err(redb_error)?.ok_or_else(|| redb_error("block vanished"))?;
            block::decode(&first_key, stored.value())?
        };
        let merged = block::merge(existing, rows);
        if merged[0].range_value != first_key {
            table.remove(key).map_err(redb_error)?;
        }
        put_blocks(table, hash, merged)?;
        rows = rest;
    }
    Ok(())
}

/// Sorts entries by (table, hash, range), keeping the last written of equal keys, and groups them
/// as table → hash → rows.
fn group_entries(mut entries: Vec<IndexEntry>) -> Vec<(String, Vec<(String, Vec<IndexRow>)>)> {
    entries.sort_by(|a, b| {
        (&a.table, &a.hash_value, &a.range_value).cmp(&(&b.table, &b.hash_value, &b.range_value))
    });
    let mut tables: Vec<(String, Vec<(String, Vec<IndexRow>)>)> = Vec::new();
    for entry in entries {
        if tables.last().is_none_or(|(name, _)| *name != entry.table) {
            tables.push((entry.table, Vec::new()));
        }
        let hashes = &mut tables.last_mut().expect("pushed above").1;
        if hashes.last().is_none_or(|(hash, _)| *hash != entry.hash_value) {
            hashes.push((entry.hash_value, Vec::new()));
        }
        let rows = &mut hashes.last_mut().expect("pushed above").1;
        let row = IndexRow { range_value: entry.range_value, value: entry.value };
        match rows.last_mut() {
            Some(last) if last.range_value == row.range_value => *last = row,
            _ => rows.push(row),
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
    for (name, hashes) in tables {
        let mut table = transaction.open_table(definition(&name)).map_err(redb_error)?;
        for (hash, rows) in hashes {
            write_hash(&mut table, hash.as_bytes(), rows)?;
        }
    }
    transaction.commit().map_err(redb_error)
}

/// The rows of one query: from the block that may hold its lower bound, forward through the
/// hash's blocks until range keys pass the prefix.
fn query_table<T>(table: &T, query: &IndexQuery) -> Result<Vec<IndexRow>, StorageError>
where
    T: ReadableTable<Key<'static>, &'static [u8]>,
{
    let hash = query.hash_value.as_bytes();
    let prefix = query.range_value_prefix.as_deref().unwrap_or_default();
    let start = query.range_value_start.as_deref().unwrap_or_default();
    let lower = prefix.max(start);
    let Some(first_key) = start_block(table, hash, lower)? else {
        return Ok(Vec::new());
    };
    let mut rows = Vec::new();
    let from: Key<'_> = (hash, first_key.as_slice());
    for item in table.range::<Key<'_>>(from..).map_err(redb_error)? {
        let (key, stored) = item.map_err(redb_error)?;
        let (block_hash, block_key) = key.value();
        if block_hash != hash || (block_key >= lower && !block_key.starts_with(prefix)) {
            break;
        }
        for row in block::decode(block_key, stored.value())? {
            if row.range_value.as_slice() < lower {
                continue;
            }
            if !row.range_value.starts_with(prefix) {
                return Ok(rows);
            }
            if query.accepts(&row.range_value, &row.value) {
                rows.push(row);
            }
        }
    }
    Ok(rows)
}

fn run_queries(database: &Database, queries: &[IndexQuery]) -> Result<Vec<Vec<IndexRow>>, StorageError> {
    let transaction = database.begin_read().map_err(redb_error)?;
    let mut results = Vec::with_capacity(queries.len());
    for query in queries {
        if query.table == LAYOUT_TABLE {
            results.push(Vec::new());
            continue;
        }
        match transaction.open_table(definition(&query.table)) {
            Ok(table) => results.push(query_table(&table, query)?),
            Err(redb::TableError::TableDoesNotExist(_)) => results.push(Vec::new()),
            Err(err) => return Err(redb_error(err)),
        }
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
        check_table_name(name)?;
        let name = name.to_string();
        self.blocking(move |database| {
            let transaction = database.begin_write().map_err(redb_error)?;
            transaction.open_table(definition(&name)).map_err(redb_error)?;
            transaction.commit().map_err(redb_error)
        })
        .await
    }

    async fn delete_table(&self, name: &str) -> Result<(), StorageError> {
        check_table_name(name)?;
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
}

table_client_without_settings!(RedbIndexClient);

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::index::memory::MemoryIndexClient;

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
    /// sorted, the first row at the block key, every row before the next block of its hash.
    fn blocks(client: &RedbIndexClient) -> Vec<(Vec<u8>, Vec<u8>, Vec<IndexRow>)> {
        let transaction = client.database.begin_read().unwrap();
        let mut out: Vec<(Vec<u8>, Vec<u8>, Vec<IndexRow>)> = Vec::new();
        let table = match transaction.open_table(definition("index_1")) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return out,
            Err(err) => panic!("{err}"),
        };
        for item in table.iter().unwrap() {
            let (key, stored) = item.unwrap();
            let (hash, first_key) = key.value();
            let rows = block::decode(first_key, stored.value()).unwrap();
            if let Some((previous_hash, _, previous_rows)) = out.last() {
                if previous_hash.as_slice() == hash {
                    assert!(previous_rows.last().unwrap().range_value.as_slice() < first_key);
                }
            }
            out.push((hash.to_vec(), first_key.to_vec(), rows));
        }
        out
    }

    async fn open() -> (tempfile::TempDir, RedbIndexClient) {
        let directory = tempfile::tempdir().unwrap();
        let client = RedbIndexClient::open(directory.path()).unwrap();
        (directory, client)
    }

    #[tokio::test]
    async fn conformance() {
        let (_directory, client) = open().await;
        crate::index::conformance::run_index_client_suite(&client).await;
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
            assert!(block::encode(rows).len() <= block::MAX_RAW_BLOCK_BYTES + 16);
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
        assert!(stored.len() > 2 && stored.len() < 20, "{} blocks", stored.len());
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
