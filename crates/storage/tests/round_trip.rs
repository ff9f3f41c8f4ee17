//! Two days of data for several series across two schema periods (v9 then v11) on the local
//! backend: write, reopen from disk, read back identical; the same scenario on memory backends.

use std::sync::Arc;

use neocortex_core::{ErrorCode, Labels, MatchOp, Matcher, Queryable, Sample, SelectHints, Series, TenantId};
use neocortex_storage::index::memory::MemoryIndexClient;
use neocortex_storage::object::memory::MemoryObjectClient;
use neocortex_storage::{
    open_local_store, ChunkStore, PeriodClients, SchemaConfig, SeriesChunks, StorageConfig,
};
use neocortex_testkit::chunks::xor_chunks;

const SCHEMA: &str = r#"
configs:
  - from: 2020-01-01
    store: boltdb
    object_store: filesystem
    schema: v9
    index: {prefix: index_, period: 1w}
  - from: 2020-01-03
    store: redb
    object_store: filesystem
    schema: v11
    index: {prefix: index11_, period: 24h}
    row_shards: 4
"#;

/// 2020-01-02T00:00:00Z.
const START_MS: i64 = 1_577_923_200_000;
const DAY_MS: i64 = 86_400_000;
const STEP_MS: i64 = 60_000;
const SAMPLES: usize = 2 * 1440;
/// Chunks of 100 samples, so one chunk straddles the period boundary at 2020-01-03.
const CHUNK_SAMPLES: usize = 100;

fn series_labels() -> Vec<Labels> {
    let mut all = Vec::new();
    for metric in ["node_cpu_seconds_total", "node_memory_free_bytes"] {
        for instance in ["a:9100", "b:9100", "c:9100"] {
            let mut pairs = vec![("__name__", metric), ("instance", instance), ("job", "node")];
            if instance == "c:9100" {
                pairs.push(("zone", "eu"));
            }
            all.push(Labels::from_pairs(pairs));
        }
    }
    all
}

fn samples_of(index: usize) -> Vec<Sample> {
    (0..SAMPLES)
        .map(|i| Sample {
            timestamp_ms: START_MS + i as i64 * STEP_MS,
            value: (index * 1000 + i) as f64 * 0.25 + if i % 7 == 0 { 0.125 } else { 0.0 },
        })
        .collect()
}

fn expected() -> Vec<Series> {
    let mut all: Vec<Series> = series_labels()
        .into_iter()
        .enumerate()
        .map(|(index, labels)| Series { labels, samples: samples_of(index) })
        .collect();
    all.sort_by(|a, b| a.labels.cmp(&b.labels));
    all
}

async fn write_all(store: &ChunkStore, tenant: &TenantId) {
    let batch: Vec<SeriesChunks> = series_labels()
        .into_iter()
        .enumerate()
        .map(|(index, labels)| SeriesChunks { labels, chunks: xor_chunks(&samples_of(index), CHUNK_SAMPLES) })
        .collect();
    let stats = store.put_many(tenant, &batch).await.unwrap();
    // Each series' chunks of one flush become one object.
    assert_eq!(stats.objects, 6);
    // A replica flushes an overlapping chunk of series 0 with other boundaries: same samples.
    let replica: Vec<Sample> = samples_of(0)[150..260].to_vec();
    store.put(tenant, &batch[0].labels, &xor_chunks(&replica, CHUNK_SAMPLES)).await.unwrap();
}

fn hints(start_ms: i64, end_ms: i64) -> SelectHints {
    SelectHints { start_ms, end_ms }
}

async fn check_reads(store: Arc<ChunkStore>, tenant: &TenantId) {
    let expected = expected();
    let end = START_MS + 2 * DAY_MS;
    let name = |metric: &str| Matcher::equal("__name__", metric);

    let cpu = store.select(tenant, START_MS, end, &[name("node_cpu_seconds_total")]).await.unwrap();
    assert_eq!(cpu, expected[..3].to_vec(), "every sample of every cpu series, merged and deduped");
    let memory = store.select(tenant, START_MS, end, &[name("node_memory_free_bytes")]).await.unwrap();
    assert_eq!(memory, expected[3..].to_vec());

    // A range straddling the period boundary: samples from both periods, trimmed to the range.
    let boundary = START_MS + DAY_MS;
    let (from, to) = (boundary - 30 * STEP_MS, boundary + 30 * STEP_MS);
    let around = store
        .select(tenant, from, to, &[name("node_cpu_seconds_total"), Matcher::equal("instance", "b:9100")])
        .await
        .unwrap();
    assert_eq!(around.len(), 1);
    let want: Vec<Sample> = expected[1]
        .samples
        .iter()
        .filter(|s| s.timestamp_ms >= from && s.timestamp_ms <= to)
        .copied()
        .collect();
    assert_eq!(around[0].samples, want);
    assert_eq!(around[0].samples.len(), 61);

    // Regex, negative and empty-value matchers.
    let regex = Matcher::new(MatchOp::RegexMatch, "instance", "a:.*|c:9100").unwrap();
    let selected =
        store.select(tenant, START_MS, end, &[name("node_memory_free_bytes"), regex]).await.unwrap();
    assert_eq!(
        selected.iter().map(|s| s.labels.get("instance").unwrap()).collect::<Vec<_>>(),
        ["a:9100", "c:9100"]
    );
    let not_a = Matcher::new(MatchOp::NotEqual, "instance", "a:9100").unwrap();
    let selected =
        store.select(tenant, START_MS, end, &[name("node_memory_free_bytes"), not_a]).await.unwrap();
    assert_eq!(selected.len(), 2);
    let no_zone = Matcher::equal("zone", "");
    let selected =
        store.select(tenant, START_MS, end, &[name("node_cpu_seconds_total"), no_zone]).await.unwrap();
    assert_eq!(selected.len(), 2, "zone=\"\" keeps the series without a zone");
    let no_job = [name("node_cpu_seconds_total"), Matcher::equal("job", "x")];
    assert!(store.select(tenant, START_MS, end, &no_job).await.unwrap().is_empty());

    // A regex on the metric name that is an alternation of names is looked up name by name.
    let both = Matcher::new(MatchOp::RegexMatch, "__name__", "node_memory_free_bytes|node_cpu_seconds_total")
        .unwrap();
    let selected = store.select(tenant, START_MS, end, std::slice::from_ref(&both)).await.unwrap();
    let mut want_both = expected.clone();
    want_both.sort_by(|a, b| a.labels.cmp(&b.labels));
    assert_eq!(selected, want_both);
    let other_regex = Matcher::new(MatchOp::RegexMatch, "__name__", "node_.*").unwrap();
    let err = store.select(tenant, START_MS, end, &[other_regex]).await.unwrap_err();
    assert!(err.to_string().contains("query must contain metric name"), "{err}");

    // Other tenants see nothing.
    let other = TenantId::new("team-b").unwrap();
    assert!(store.select(&other, START_MS, end, &[name("node_cpu_seconds_total")]).await.unwrap().is_empty());

    // Through the tenant-scoped Queryable.
    let view = store.for_tenant(tenant.clone());
    let err = view.select(hints(START_MS, end), &[Matcher::equal("job", "node")]).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::BadData);
    assert_eq!(err.message, "query must contain metric name");
    let names = view.label_names(hints(START_MS, end), &[name("node_cpu_seconds_total")]).await.unwrap();
    assert_eq!(names, ["__name__", "instance", "job", "zone"]);
    let values =
        view.label_values(hints(START_MS, end), "instance", &[name("node_cpu_seconds_total")]).await.unwrap();
    assert_eq!(values, ["a:9100", "b:9100", "c:9100"]);
    let series = view.series(hints(boundary + 1, end), &[name("node_memory_free_bytes")]).await.unwrap();
    assert_eq!(series, expected[3..].iter().map(|s| s.labels.clone()).collect::<Vec<_>>());
    let selected = view.select(hints(START_MS, end), &[name("node_cpu_seconds_total")]).await.unwrap();
    assert_eq!(selected, expected[..3].to_vec());
}

#[tokio::test]
async fn local_backend_round_trip_survives_reopen() {
    let directory = tempfile::tempdir().unwrap();
    let mut storage = StorageConfig::default();
    storage.redb.directory = directory.path().join("index").display().to_string();
    storage.filesystem.directory = directory.path().join("chunks").display().to_string();
    let schema = SchemaConfig::from_yaml(SCHEMA).unwrap();
    let tenant = TenantId::new("team-a").unwrap();
    {
        let store = open_local_store(&storage, schema.clone()).unwrap();
        write_all(&store, &tenant).await;
        check_reads(Arc::new(store), &tenant).await;
    }
    let reopened = Arc::new(open_local_store(&storage, schema).unwrap());
    check_reads(reopened, &tenant).await;
    // Objects live under the tenant's directory, named by their external keys.
    let tenant_dir = directory.path().join("chunks").join("team-a");
    let files = std::fs::read_dir(tenant_dir).unwrap().count();
    assert_eq!(files, 6 + 1, "one object per series and flush, plus the replica's");
}

#[tokio::test]
async fn memory_backend_round_trip() {
    let schema = SchemaConfig::from_yaml(SCHEMA).unwrap();
    let index = Arc::new(MemoryIndexClient::new());
    let objects = Arc::new(MemoryObjectClient::new());
    let store = ChunkStore::new(schema, index.clone(), objects);
    let tenant = TenantId::new("team-a").unwrap();
    write_all(&store, &tenant).await;
    check_reads(Arc::new(store), &tenant).await;
    // Both schema periods got rows: the weekly v9 table and daily v11 tables.
    let tables = neocortex_storage::IndexClient::list_tables(index.as_ref()).await.unwrap();
    assert_eq!(tables, ["index11_18264", "index_2609"]);
}

#[tokio::test]
async fn corrupt_object_is_an_error_not_a_panic() {
    let schema = SchemaConfig::from_yaml(SCHEMA).unwrap();
    let objects = Arc::new(MemoryObjectClient::new());
    let store = ChunkStore::new(schema, Arc::new(MemoryIndexClient::new()), objects.clone());
    let tenant = TenantId::new("team-a").unwrap();
    let labels = series_labels().remove(0);
    store.put(&tenant, &labels, &xor_chunks(&samples_of(0)[..10], CHUNK_SAMPLES)).await.unwrap();
    let keys = neocortex_storage::ObjectClient::list(objects.as_ref(), "team-a").await.unwrap();
    neocortex_storage::ObjectClient::put(
        objects.as_ref(),
        &keys[0],
        bytes::Bytes::from_static(b"NCCK\x01\x00junk"),
    )
    .await
    .unwrap();
    let err = store
        .select(&tenant, START_MS, START_MS + DAY_MS, &[Matcher::equal("__name__", "node_cpu_seconds_total")])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
}

#[tokio::test]
async fn series_without_metric_name_is_refused() {
    let schema = SchemaConfig::from_yaml(SCHEMA).unwrap();
    let store =
        ChunkStore::new(schema, Arc::new(MemoryIndexClient::new()), Arc::new(MemoryObjectClient::new()));
    let tenant = TenantId::new("team-a").unwrap();
    let labels = Labels::from_pairs([("job", "node")]);
    let err =
        store.put(&tenant, &labels, &xor_chunks(&samples_of(0)[..10], CHUNK_SAMPLES)).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::BadData);
}

#[tokio::test]
async fn each_period_uses_its_own_clients() {
    let schema = SchemaConfig::from_yaml(SCHEMA).unwrap();
    let first = (Arc::new(MemoryIndexClient::new()), Arc::new(MemoryObjectClient::new()));
    let second = (Arc::new(MemoryIndexClient::new()), Arc::new(MemoryObjectClient::new()));
    let clients = vec![
        PeriodClients { index: first.0.clone(), objects: first.1.clone() },
        PeriodClients { index: second.0.clone(), objects: second.1.clone() },
    ];
    assert!(ChunkStore::with_period_clients(schema.clone(), clients[..1].to_vec()).is_err());
    let store = ChunkStore::with_period_clients(schema, clients).unwrap();
    let tenant = TenantId::new("team-a").unwrap();
    write_all(&store, &tenant).await;
    check_reads(Arc::new(store), &tenant).await;
    // The v9 period's rows and objects went to the first pair, the v11 period's to the second;
    // an object spanning the boundary is indexed in both and stored with its first sample.
    let first_tables = neocortex_storage::IndexClient::list_tables(first.0.as_ref()).await.unwrap();
    let second_tables = neocortex_storage::IndexClient::list_tables(second.0.as_ref()).await.unwrap();
    assert_eq!(first_tables, ["index_2609"]);
    assert_eq!(second_tables, ["index11_18264"]);
    let (first_objects, _) = first.1.usage();
    let (second_objects, _) = second.1.usage();
    // Each series' object starts in the first period, so it is stored there.
    assert_eq!((first_objects, second_objects), (6 + 1, 0));
}
