//! The manager over the real local table clients (redb on disk, in-memory): tables appear a
//! grace period ahead, go after the retention, foreign tables stay, rows in kept tables stay.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

use super::*;
use crate::index::memory::MemoryIndexClient;
use crate::index::redb::RedbIndexClient;
use crate::index::IndexClient;
use crate::schema::day::MS_PER_DAY;
use crate::schema::entries::{IndexEntry, IndexQuery};

const WEEK: i64 = 7 * MS_PER_DAY;
const GRACE: i64 = 10 * 60_000;

fn week(n: i64) -> i64 {
    n * WEEK
}

/// Weekly index tables from 2020-01-02, the start of epoch week 2609.
fn schema(store: &str) -> SchemaConfig {
    SchemaConfig::from_yaml(&format!(
        "configs: [{{from: 2020-01-02, store: {store}, schema: v11, index: {{prefix: index_, period: 1w}}}}]"
    ))
    .unwrap()
}

fn config(retention_weeks: u64, deletes: bool) -> TableManagerConfig {
    let mut config = TableManagerConfig::default();
    config.retention_period.0 = Duration::from_secs(retention_weeks * 7 * 86_400);
    config.retention_deletes_enabled = deletes;
    config
}

fn new_manager(
    config: TableManagerConfig,
    schema: SchemaConfig,
    backend: TableBackend,
    client: Arc<dyn TableClient>,
    registry: &mut Registry,
) -> TableManager {
    let clients = BTreeMap::from([(backend, client)]);
    let metrics = TableManagerMetrics::register(registry);
    TableManager::new(config, schema, Duration::from_secs(12 * 3600), clients, metrics).unwrap()
}

fn entry(table: &str) -> IndexEntry {
    IndexEntry {
        table: table.to_string(),
        hash_value: "team-a:d18300".to_string(),
        range_value: b"range".to_vec(),
        value: b"value".to_vec(),
    }
}

async fn rows(index: &dyn IndexClient, table: &str) -> usize {
    let query = IndexQuery {
        table: table.to_string(),
        hash_value: "team-a:d18300".to_string(),
        ..Default::default()
    };
    index.query(vec![query]).await.unwrap()[0].len()
}

#[tokio::test]
async fn redb_tables_created_ahead_and_deleted_after_retention_foreign_tables_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let index = Arc::new(RedbIndexClient::open(dir.path()).unwrap());
    // Foreign tables, one that merely shares the prefix, and data in a table we will keep.
    for table in ["audit_log", "index_archive", "index_2612"] {
        index.batch_write(vec![entry(table)]).await.unwrap();
    }
    let mut registry = Registry::default();
    // The table client is the index client itself, reached through the `IndexClient` the store holds.
    let as_index: Arc<dyn IndexClient> = index.clone();
    let tables = as_index.table_client().expect("redb manages its own tables");
    let manager = new_manager(config(2, true), schema("redb"), TableBackend::Local, tables, &mut registry);

    // Mid-week 2612 with 2 weeks of retention: tables 2610..=2612 are expected.
    let report = manager.sync_tables_at(week(2612) + 3 * MS_PER_DAY).await;
    assert!(report.failures.is_empty(), "{report:?}");
    assert_eq!(report.created, ["index_2610", "index_2611"]);
    assert!(report.deleted.is_empty() && report.updated.is_empty());
    let tables = IndexClient::list_tables(index.as_ref()).await.unwrap();
    assert_eq!(tables, ["audit_log", "index_2610", "index_2611", "index_2612", "index_archive"]);

    // Just inside the grace period before week 2613: its table appears ahead of time.
    let report = manager.sync_tables_at(week(2613) - GRACE).await;
    assert_eq!(report.created, ["index_2613"]);
    assert!(report.deleted.is_empty());

    // At week 2613 the whole of table 2610 is 2 weeks old: it goes, nothing else does.
    let report = manager.sync_tables_at(week(2613)).await;
    assert_eq!(report.deleted, ["index_2610"]);
    assert!(report.created.is_empty());
    let tables = IndexClient::list_tables(index.as_ref()).await.unwrap();
    assert_eq!(tables, ["audit_log", "index_2611", "index_2612", "index_2613", "index_archive"]);
    assert_eq!(rows(index.as_ref(), "index_2612").await, 1, "rows of a kept table survive");
    assert_eq!(rows(index.as_ref(), "audit_log").await, 1, "foreign tables are never touched");

    // A sync with nothing to do does nothing.
    let report = manager.sync_tables_at(week(2613) + 1).await;
    assert_eq!(report, SyncReport::default());

    // And it survives a restart: a new manager over the reopened database agrees.
    drop(manager);
    drop(index);
    let index = Arc::new(RedbIndexClient::open(dir.path()).unwrap());
    let manager = new_manager(
        config(2, true),
        schema("boltdb"),
        TableBackend::Local,
        index.clone(),
        &mut Registry::default(),
    );
    let report = manager.sync_tables_at(week(2614)).await;
    assert_eq!(
        (report.created, report.deleted),
        (vec!["index_2614".to_string()], vec!["index_2611".to_string()])
    );
}

#[tokio::test]
async fn retention_without_deletes_enabled_only_reports() {
    let index = Arc::new(MemoryIndexClient::new());
    index.batch_write(vec![entry("index_2600")]).await.unwrap();
    let mut registry = Registry::default();
    let manager = new_manager(
        config(2, false),
        schema("inmemory"),
        TableBackend::InMemory,
        index.clone(),
        &mut registry,
    );
    let report = manager.sync_tables_at(week(2613)).await;
    assert_eq!(report.would_delete, ["index_2600"]);
    assert!(report.deleted.is_empty());
    assert_eq!(rows(index.as_ref(), "index_2600").await, 1);
    // Tables older than the retention are not created either (Cortex's behaviour).
    assert_eq!(report.created, ["index_2611", "index_2612", "index_2613"]);
}

#[tokio::test]
async fn sync_metrics_use_cortex_names() {
    let index = Arc::new(MemoryIndexClient::new());
    let mut registry = Registry::default();
    let manager =
        new_manager(config(0, false), schema("inmemory"), TableBackend::InMemory, index, &mut registry);
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let report = manager.sync_tables().await;
    assert!(report.failures.is_empty() && !report.created.is_empty(), "{report:?}");
    let mut text = String::new();
    encode(&mut text, &registry).unwrap();
    assert!(
        text.contains(
            "cortex_table_manager_sync_duration_seconds_count{operation=\"TableManager.SyncTables\",status_code=\"success\"} 1"
        ),
        "{text}"
    );
    let timestamp: f64 = text
        .lines()
        .find_map(|line| line.strip_prefix("cortex_table_manager_sync_success_timestamp_seconds "))
        .expect("success timestamp exported")
        .parse()
        .unwrap();
    assert!(timestamp >= before.floor(), "{timestamp} < {before}");
    assert!(text.contains("cortex_table_manager_create_failures 0"), "{text}");
    // The in-memory index has no capacity: no capacity series are invented for it.
    assert!(!text.contains("cortex_table_capacity_units{"), "{text}");
}

#[test]
fn refuses_a_schema_without_its_table_client_or_with_a_bad_retention() {
    let memory: Arc<dyn TableClient> = Arc::new(MemoryIndexClient::new());
    let clients = BTreeMap::from([(TableBackend::InMemory, memory)]);
    let dynamodb = SchemaConfig::from_yaml(
        "configs: [{from: 2020-01-02, store: aws-dynamo, object_store: s3, schema: v11, index: {prefix: i_, period: 1w}}]",
    )
    .unwrap();
    let err = TableManager::new(
        TableManagerConfig::default(),
        dynamodb,
        Duration::ZERO,
        clients.clone(),
        TableManagerMetrics::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("dynamodb"), "{err}");
    let mut bad = config(0, true);
    bad.retention_period.0 = Duration::from_secs(10 * 86_400);
    let err =
        TableManager::new(bad, schema("inmemory"), Duration::ZERO, clients, TableManagerMetrics::default())
            .unwrap_err()
            .to_string();
    assert!(err.contains("retention period should now be a multiple of periodic table duration"), "{err}");
    assert_eq!(TableManager::backends_needed(&schema("boltdb")), [TableBackend::Local]);
}

#[tokio::test]
async fn filesystem_chunks_go_with_the_index_tables_that_point_at_them() {
    use crate::chunk_key::ChunkRef;
    use crate::object::filesystem::FilesystemObjectClient;
    use bytes::Bytes;

    let dir = tempfile::tempdir().unwrap();
    let chunks = Arc::new(FilesystemObjectClient::open(dir.path()).unwrap());
    let key = |from_ms: i64, through_ms: i64| {
        ChunkRef { user: "team-a".into(), fingerprint: 1, from_ms, through_ms, checksum: 2 }.external_key()
    };
    // Ends in week 2610; ends in week 2611 (its rows reach a kept table); in week 2612.
    let (old, spanning, kept) = (
        key(week(2610), week(2610) + MS_PER_DAY),
        key(week(2611) - 3_600_000, week(2611) + 3_600_000),
        key(week(2612), week(2612) + 60_000),
    );
    for chunk in [&old, &spanning, &kept] {
        chunks.put(chunk, Bytes::from_static(b"chunk")).await.unwrap();
    }
    let store: Arc<dyn ObjectClient> = chunks.clone();
    let build = |deletes: bool| {
        new_manager(
            config(2, deletes),
            schema("inmemory"),
            TableBackend::InMemory,
            Arc::new(MemoryIndexClient::new()),
            &mut Registry::default(),
        )
        .with_chunk_stores(vec![store.clone(), store.clone()])
    };

    // Without retention deletes nothing goes.
    let report = build(false).sync_tables_at(week(2613) + MS_PER_DAY).await;
    assert_eq!(report.deleted_chunks, 0);
    assert_eq!(chunks.list("").await.unwrap().len(), 3);

    // Week 2613 + 1 day, 2 weeks of retention: table 2610 goes, 2611 (holding now - 2 weeks) stays,
    // so only the chunk whose rows are all in table 2610 is deleted.
    let manager = build(true);
    let report = manager.sync_tables_at(week(2613) + MS_PER_DAY).await;
    assert!(report.failures.is_empty(), "{report:?}");
    assert_eq!(report.deleted_chunks, 1);
    let mut left = vec![spanning.clone(), kept.clone()];
    left.sort();
    assert_eq!(chunks.list("").await.unwrap(), left);

    // The same cutoff is not walked again; the next table period's is.
    chunks.put(&old, Bytes::from_static(b"chunk")).await.unwrap();
    assert_eq!(manager.sync_tables_at(week(2613) + 2 * MS_PER_DAY).await.deleted_chunks, 0);
    let report = manager.sync_tables_at(week(2614)).await;
    assert_eq!(report.deleted_chunks, 2, "{report:?}");
    assert_eq!(chunks.list("").await.unwrap(), [kept]);
}

#[test]
fn chunk_cutoff_is_the_start_of_the_oldest_kept_index_table() {
    let clock = |retention_weeks: i64, now: i64| PlanClock {
        now_ms: now,
        retention_ms: retention_weeks * WEEK,
        ..PlanClock::new(&TableManagerConfig::default(), Duration::ZERO, now)
    };
    let weekly = schema("inmemory");
    assert_eq!(chunk_retention_cutoff(&weekly, clock(2, week(2613) + 5)), Some(week(2611)));
    assert_eq!(chunk_retention_cutoff(&weekly, clock(0, week(2613))), None, "no retention");
    assert_eq!(chunk_retention_cutoff(&weekly, clock(2, week(2600))), None, "before the first period");
    let single = SchemaConfig::from_yaml(
        "configs: [{from: 2020-01-02, store: inmemory, object_store: filesystem, schema: v11, index: {prefix: index}}]",
    )
    .unwrap();
    assert_eq!(
        chunk_retention_cutoff(&single, clock(2, week(2613))),
        None,
        "a single index table is never deleted"
    );
}
