//! The CQL statements of the cassandra backend, built as plain text so they can be checked
//! without a server. Tables follow Cortex's layout: `(hash text, range blob, value blob,
//! PRIMARY KEY (hash, range))`; chunk objects live in one such table keyed by the chunk key.

use crate::cassandra::config::valid_identifier;
use crate::error::StorageError;
use crate::schema::entries::IndexQuery;

/// The table that holds chunk objects (hash = chunk key, range = one 0 byte, value = object).
pub const CHUNKS_TABLE: &str = "chunks";

/// The range key of every chunk object row.
pub const CHUNK_RANGE: &[u8] = &[0];

/// A keyspace-qualified table name, refused unless both parts are plain CQL identifiers.
pub fn qualified(keyspace: &str, table: &str) -> Result<String, StorageError> {
    if !valid_identifier(keyspace) {
        return Err(StorageError::Config(format!("invalid cassandra keyspace name {keyspace:?}")));
    }
    if !valid_identifier(table) {
        return Err(StorageError::BadQuery(format!(
            "invalid cassandra table name {table:?}: use letters, digits and _, starting with a letter"
        )));
    }
    Ok(format!("{keyspace}.{table}"))
}

/// `CREATE KEYSPACE IF NOT EXISTS` with SimpleStrategy and the configured replication factor.
pub fn create_keyspace(keyspace: &str, replication_factor: u32) -> Result<String, StorageError> {
    if !valid_identifier(keyspace) {
        return Err(StorageError::Config(format!("invalid cassandra keyspace name {keyspace:?}")));
    }
    Ok(format!(
        "CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': {replication_factor}}}"
    ))
}

/// `CREATE TABLE IF NOT EXISTS` with Cortex's columns, plus `WITH <table_options>` when set.
pub fn create_table(keyspace: &str, table: &str, table_options: &str) -> Result<String, StorageError> {
    let name = qualified(keyspace, table)?;
    let mut cql = format!(
        "CREATE TABLE IF NOT EXISTS {name} (hash text, range blob, value blob, PRIMARY KEY (hash, range))"
    );
    let options = table_options.trim();
    if !options.is_empty() {
        cql.push_str(" WITH ");
        cql.push_str(options);
    }
    Ok(cql)
}

/// `DROP TABLE IF EXISTS`.
pub fn drop_table(keyspace: &str, table: &str) -> Result<String, StorageError> {
    Ok(format!("DROP TABLE IF EXISTS {}", qualified(keyspace, table)?))
}

/// The tables of a keyspace (bind the keyspace name).
pub const LIST_TABLES: &str = "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?";

/// Writes (or replaces) one row: bind hash, range, value.
pub fn insert(keyspace: &str, table: &str) -> Result<String, StorageError> {
    Ok(format!("INSERT INTO {} (hash, range, value) VALUES (?, ?, ?)", qualified(keyspace, table)?))
}

/// Reads one chunk object: bind the chunk key.
pub fn select_chunk(keyspace: &str) -> Result<String, StorageError> {
    Ok(format!("SELECT value FROM {} WHERE hash = ?", qualified(keyspace, CHUNKS_TABLE)?))
}

/// Deletes one chunk object: bind the chunk key.
pub fn delete_chunk(keyspace: &str) -> Result<String, StorageError> {
    Ok(format!("DELETE FROM {} WHERE hash = ?", qualified(keyspace, CHUNKS_TABLE)?))
}

/// Every chunk key (a full scan; listing is for tools, not the read path).
pub fn list_chunk_keys(keyspace: &str) -> Result<String, StorageError> {
    Ok(format!("SELECT DISTINCT hash FROM {}", qualified(keyspace, CHUNKS_TABLE)?))
}

/// One index read: the statement and the range bounds to bind after the hash key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectPlan {
    /// The CQL text.
    pub cql: String,
    /// `range >= ?` bound, if any.
    pub lower: Option<Vec<u8>>,
    /// `range < ?` bound, if any.
    pub upper: Option<Vec<u8>>,
}

/// The smallest byte string greater than every string starting with `prefix`; `None` when
/// there is none (the prefix is all 0xff bytes).
pub fn prefix_upper_bound(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut bound = prefix.to_vec();
    while let Some(last) = bound.pop() {
        if last < 0xff {
            bound.push(last + 1);
            return Some(bound);
        }
    }
    None
}

/// The SELECT of an index query: the range-key prefix becomes `range >= prefix AND range <
/// next(prefix)`, a start `range >= start` (the larger lower bound wins when both are set). The
/// value condition is checked by the caller (`IndexQuery::accepts`), avoiding ALLOW FILTERING.
pub fn select_rows(keyspace: &str, query: &IndexQuery) -> Result<SelectPlan, StorageError> {
    let name = qualified(keyspace, &query.table)?;
    let prefix = query.range_value_prefix.as_deref().filter(|p| !p.is_empty());
    let start = query.range_value_start.as_deref().filter(|s| !s.is_empty());
    let lower = match (prefix, start) {
        (Some(p), Some(s)) => Some(p.max(s).to_vec()),
        (Some(p), None) => Some(p.to_vec()),
        (None, Some(s)) => Some(s.to_vec()),
        (None, None) => None,
    };
    let upper = prefix.and_then(prefix_upper_bound);
    let mut cql = format!("SELECT range, value FROM {name} WHERE hash = ?");
    if lower.is_some() {
        cql.push_str(" AND range >= ?");
    }
    if upper.is_some() {
        cql.push_str(" AND range < ?");
    }
    Ok(SelectPlan { cql, lower, upper })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(prefix: Option<&[u8]>, start: Option<&[u8]>) -> IndexQuery {
        IndexQuery {
            table: "index_2609".into(),
            hash_value: "h".into(),
            range_value_prefix: prefix.map(<[u8]>::to_vec),
            range_value_start: start.map(<[u8]>::to_vec),
            value_equal: None,
        }
    }

    #[test]
    fn ddl_statements() {
        assert_eq!(
            create_keyspace("cortex", 3).unwrap(),
            "CREATE KEYSPACE IF NOT EXISTS cortex WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}"
        );
        assert_eq!(
            create_table("cortex", "index_2609", "").unwrap(),
            "CREATE TABLE IF NOT EXISTS cortex.index_2609 (hash text, range blob, value blob, PRIMARY KEY (hash, range))"
        );
        assert_eq!(
            create_table("cortex", "chunks", " compaction = {'class': 'LeveledCompactionStrategy'} ").unwrap(),
            "CREATE TABLE IF NOT EXISTS cortex.chunks (hash text, range blob, value blob, PRIMARY KEY (hash, range)) WITH compaction = {'class': 'LeveledCompactionStrategy'}"
        );
        assert_eq!(drop_table("cortex", "index_1").unwrap(), "DROP TABLE IF EXISTS cortex.index_1");
        assert_eq!(insert("ks", "t1").unwrap(), "INSERT INTO ks.t1 (hash, range, value) VALUES (?, ?, ?)");
        assert_eq!(select_chunk("ks").unwrap(), "SELECT value FROM ks.chunks WHERE hash = ?");
        assert_eq!(delete_chunk("ks").unwrap(), "DELETE FROM ks.chunks WHERE hash = ?");
        assert_eq!(list_chunk_keys("ks").unwrap(), "SELECT DISTINCT hash FROM ks.chunks");
    }

    #[test]
    fn names_that_could_inject_cql_are_refused() {
        assert!(matches!(create_table("ks", "t; DROP KEYSPACE ks", ""), Err(StorageError::BadQuery(_))));
        assert!(matches!(insert("ks", "index-1"), Err(StorageError::BadQuery(_))));
        assert!(matches!(create_keyspace("a b", 1), Err(StorageError::Config(_))));
        assert!(matches!(qualified("1ks", "t"), Err(StorageError::Config(_))));
    }

    #[test]
    fn selects_per_query_shape() {
        let all = select_rows("ks", &query(None, None)).unwrap();
        assert_eq!(all.cql, "SELECT range, value FROM ks.index_2609 WHERE hash = ?");
        assert_eq!((all.lower, all.upper), (None, None));

        let by_prefix = select_rows("ks", &query(Some(b"ab\0"), None)).unwrap();
        assert_eq!(
            by_prefix.cql,
            "SELECT range, value FROM ks.index_2609 WHERE hash = ? AND range >= ? AND range < ?"
        );
        assert_eq!(by_prefix.lower.as_deref(), Some(&b"ab\0"[..]));
        assert_eq!(by_prefix.upper.as_deref(), Some(&b"ab\x01"[..]));

        let by_start = select_rows("ks", &query(None, Some(b"x"))).unwrap();
        assert_eq!(by_start.cql, "SELECT range, value FROM ks.index_2609 WHERE hash = ? AND range >= ?");
        assert_eq!(by_start.lower.as_deref(), Some(&b"x"[..]));

        let both = select_rows("ks", &query(Some(b"a"), Some(b"ab"))).unwrap();
        assert_eq!(both.lower.as_deref(), Some(&b"ab"[..]), "the larger lower bound");
        assert_eq!(both.upper.as_deref(), Some(&b"b"[..]));
    }

    #[test]
    fn prefix_bounds() {
        assert_eq!(prefix_upper_bound(b"a\xff\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_upper_bound(b"\xff\xff"), None);
        assert_eq!(prefix_upper_bound(b""), None);
        // Every key with the prefix sorts below the bound; the next key outside does not.
        let bound = prefix_upper_bound(b"hash1\0").unwrap();
        assert!(b"hash1\0\xff\xff".as_slice() < bound.as_slice());
        assert!(b"hash1\x01".as_slice() >= bound.as_slice());
    }
}
