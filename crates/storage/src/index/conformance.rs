//! The one conformance suite every `IndexClient` backend runs (memory, redb, and later
//! DynamoDB, Bigtable, Cassandra). It panics with a message naming the broken rule.

use crate::index::IndexClient;
use crate::schema::entries::{IndexEntry, IndexQuery, IndexRow};

fn entry(table: &str, hash: &str, range: &[u8], value: &[u8]) -> IndexEntry {
    IndexEntry {
        table: table.into(),
        hash_value: hash.into(),
        range_value: range.to_vec(),
        value: value.to_vec(),
    }
}

fn query(table: &str, hash: &str) -> IndexQuery {
    IndexQuery { table: table.into(), hash_value: hash.into(), ..Default::default() }
}

fn ranges(rows: &[IndexRow]) -> Vec<&[u8]> {
    rows.iter().map(|row| row.range_value.as_slice()).collect()
}

/// Runs every check against `client`, which must start empty.
pub async fn run_index_client_suite(client: &dyn IndexClient) {
    assert!(client.list_tables().await.expect("list_tables").is_empty(), "a new index must have no tables");

    // Writes create tables; rows come back sorted by range key, only for their own hash key.
    let written = vec![
        entry("t_2", "user:d1:up", b"c\x00\x00\x00007\x00", b"-"),
        entry("t_2", "user:d1:up", b"a\x00\x00\x00007\x00", b"-"),
        entry("t_2", "user:d1:up", b"b\x00\x00\x00007\x00", b"-"),
        entry("t_2", "user:d1:upx", b"z\x00", b"-"),
        entry("t_2", "user:d1:u", b"y\x00", b"-"),
        entry("t_1", "user:d1:up", b"q\x00", b"other table"),
        entry("t_2", "user:d1:up:job", b"hash1\x00s1\x00\x00008\x00", b"node"),
        entry("t_2", "user:d1:up:job", b"hash1\x00s2\x00\x00008\x00", b"node"),
        entry("t_2", "user:d1:up:job", b"hash2\x00s3\x00\x00008\x00", b"api"),
        entry("t_2", "user:d1:up:job", b"hash12\x00s4\x00\x00008\x00", b"other"),
    ];
    client.batch_write(written).await.expect("batch_write");
    assert_eq!(client.list_tables().await.expect("list_tables"), vec!["t_1".to_string(), "t_2".to_string()]);

    let results = client
        .query(vec![query("t_2", "user:d1:up"), query("t_1", "user:d1:up"), query("missing", "user:d1:up")])
        .await
        .expect("query");
    assert_eq!(results.len(), 3, "one result per query");
    assert_eq!(
        ranges(&results[0]),
        vec![&b"a\x00\x00\x00007\x00"[..], b"b\x00\x00\x00007\x00", b"c\x00\x00\x00007\x00"],
        "rows of one hash key, sorted, without neighbouring hash keys"
    );
    assert_eq!(results[1], vec![IndexRow { range_value: b"q\x00".to_vec(), value: b"other table".to_vec() }]);
    assert!(results[2].is_empty(), "a missing table has no rows");

    // Range-key prefix, range-key start and value-equality filters.
    let mut by_prefix = query("t_2", "user:d1:up:job");
    by_prefix.range_value_prefix = Some(b"hash1\x00".to_vec());
    let mut by_start = query("t_2", "user:d1:up:job");
    by_start.range_value_start = Some(b"hash12\x00".to_vec());
    let mut by_value = query("t_2", "user:d1:up:job");
    by_value.range_value_start = Some(b"hash1\x00".to_vec());
    by_value.value_equal = Some(b"node".to_vec());
    let mut nothing = query("t_2", "user:d1:up:job");
    nothing.range_value_prefix = Some(b"hash9\x00".to_vec());
    let results = client.query(vec![by_prefix, by_start, by_value, nothing]).await.expect("query");
    assert_eq!(
        ranges(&results[0]),
        vec![&b"hash1\x00s1\x00\x00008\x00"[..], b"hash1\x00s2\x00\x00008\x00"],
        "prefix keeps only range keys starting with it"
    );
    assert_eq!(
        ranges(&results[1]),
        vec![&b"hash12\x00s4\x00\x00008\x00"[..], b"hash2\x00s3\x00\x00008\x00"],
        "start keeps range keys at or after it"
    );
    assert_eq!(results[2].len(), 2, "value filter keeps equal values only");
    assert!(results[2].iter().all(|row| row.value == b"node"));
    assert!(results[3].is_empty());

    // Rewriting a row replaces its value; it is not duplicated.
    client.batch_write(vec![entry("t_1", "user:d1:up", b"q\x00", b"new")]).await.expect("rewrite");
    let results = client.query(vec![query("t_1", "user:d1:up")]).await.expect("query");
    assert_eq!(results[0], vec![IndexRow { range_value: b"q\x00".to_vec(), value: b"new".to_vec() }]);

    // The same row in two tables in one write (v11's label-names row of a chunk that spans a
    // table boundary): both land.
    let spanning = vec![
        entry("t_1", "series-id", b"\x00\x00\x009\x00", b"[\"job\"]"),
        entry("t_2", "series-id", b"\x00\x00\x009\x00", b"[\"job\"]"),
    ];
    client.batch_write(spanning).await.expect("same row in two tables");
    let results =
        client.query(vec![query("t_1", "series-id"), query("t_2", "series-id")]).await.expect("query");
    assert!(results.iter().all(|rows| rows.len() == 1 && rows[0].value == b"[\"job\"]"), "{results:?}");

    // Binary range keys with 0xff bytes and empty values.
    client.batch_write(vec![entry("t_1", "bin", &[0xff, 0x00, 0x01], b"")]).await.expect("binary write");
    let results = client.query(vec![query("t_1", "bin")]).await.expect("query");
    assert_eq!(results[0], vec![IndexRow { range_value: vec![0xff, 0x00, 0x01], value: Vec::new() }]);

    // Table management.
    client.create_table("t_0").await.expect("create_table");
    client.create_table("t_0").await.expect("create_table is idempotent");
    assert_eq!(client.list_tables().await.expect("list"), vec!["t_0", "t_1", "t_2"]);
    client.delete_table("t_1").await.expect("delete_table");
    client.delete_table("never-existed").await.expect("deleting a missing table succeeds");
    assert_eq!(client.list_tables().await.expect("list"), vec!["t_0", "t_2"]);
    let results = client.query(vec![query("t_1", "user:d1:up")]).await.expect("query");
    assert!(results[0].is_empty(), "rows of a deleted table are gone");

    // A large batch (more rows than any backend's single request) lands completely.
    let many: Vec<IndexEntry> =
        (0..3000u32).map(|i| entry("t_big", "row", format!("{i:06}\x00").as_bytes(), b"-")).collect();
    client.batch_write(many).await.expect("large batch");
    let results = client.query(vec![query("t_big", "row")]).await.expect("query");
    assert_eq!(results[0].len(), 3000);
    assert!(results[0].windows(2).all(|pair| pair[0].range_value < pair[1].range_value));
}
