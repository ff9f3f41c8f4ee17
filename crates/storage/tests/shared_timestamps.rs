//! Series scraped from one target share their (jittered) timestamps: the store writes such a
//! column once as a timestamps object that the series' objects name. Written, reopened from
//! disk and read back identical; later batches name what earlier ones wrote; a missing or
//! corrupt timestamps object is an error, not a wrong answer; retention removes them.

use std::sync::Arc;

use neocortex_core::{Labels, Matcher, Sample, Series, TenantId};
use neocortex_storage::index::memory::MemoryIndexClient;
use neocortex_storage::object::memory::MemoryObjectClient;
use neocortex_storage::{
    open_local_store, ChunkStore, ObjectClient, SchemaConfig, SeriesChunks, StorageConfig,
};
use neocortex_testkit::chunks::{noise, xor_chunks};

const SCHEMA: &str = "configs: [{from: 2020-01-01, store: redb, object_store: filesystem, schema: v11, \
                      index: {prefix: index_, period: 1w}, row_shards: 4}]";
/// 2020-01-02T06:00:00Z.
const START_MS: i64 = 1_577_944_800_000;
const STEP_MS: i64 = 15_000;
const SAMPLES: i64 = 2_880;
const END_MS: i64 = START_MS + SAMPLES * STEP_MS;

fn labels(metric: &str, instance: &str) -> Labels {
    Labels::from_pairs([("__name__", metric), ("instance", instance), ("job", "node")])
}

/// Every scrape of `instance` at 15 s plus 0–3 ms of random jitter of its own.
fn scrape_times(instance: i64) -> Vec<i64> {
    (0..SAMPLES).map(|i| START_MS + i * STEP_MS + (noise(instance as u64, i as u64) % 4) as i64).collect()
}

fn series(metric: &str, instance: i64, seed: u64) -> (Labels, Vec<Sample>) {
    let samples = scrape_times(instance)
        .into_iter()
        .enumerate()
        .map(|(i, timestamp_ms)| Sample {
            timestamp_ms,
            value: (noise(1_000 + seed, i as u64) % 10_007) as f64 / 100.0,
        })
        .collect();
    (labels(metric, &format!("host-{instance}:9100")), samples)
}

fn batch(series: &[(Labels, Vec<Sample>)]) -> Vec<SeriesChunks> {
    series
        .iter()
        .map(|(labels, samples)| SeriesChunks { labels: labels.clone(), chunks: xor_chunks(samples, 120) })
        .collect()
}

/// Three metrics of instances 0 and 1 (sharing per instance) and one of instance 2 (alone).
fn first_flush() -> Vec<(Labels, Vec<Sample>)> {
    let mut all = Vec::new();
    for (seed, metric) in ["node_load1", "node_load5", "node_load15"].iter().enumerate() {
        for instance in 0..2 {
            all.push(series(metric, instance, seed as u64 * 10 + instance as u64));
        }
    }
    all.push(series("node_load1", 2, 99));
    all
}

async fn read_back(store: &ChunkStore, tenant: &TenantId, expected: &[(Labels, Vec<Sample>)]) {
    for metric in ["node_load1", "node_load5", "node_load15"] {
        let mut want: Vec<Series> = expected
            .iter()
            .filter(|(labels, _)| labels.metric_name() == Some(metric))
            .map(|(labels, samples)| Series { labels: labels.clone(), samples: samples.clone() })
            .collect();
        want.sort_by(|a, b| a.labels.cmp(&b.labels));
        let got =
            store.select(tenant, START_MS, END_MS, &[Matcher::equal("__name__", metric)]).await.unwrap();
        assert_eq!(got, want, "{metric}: every sample back, identical");
    }
}

fn local(directory: &std::path::Path) -> StorageConfig {
    let mut storage = StorageConfig::default();
    storage.redb.directory = directory.join("index").display().to_string();
    storage.filesystem.directory = directory.join("chunks").display().to_string();
    storage
}

#[tokio::test]
async fn shared_columns_are_written_once_and_read_back_after_reopen() {
    let directory = tempfile::tempdir().unwrap();
    let storage = local(directory.path());
    let schema = SchemaConfig::from_yaml(SCHEMA).unwrap();
    let tenant = TenantId::new("team-a").unwrap();
    let mut written = first_flush();
    {
        let store = open_local_store(&storage, schema.clone()).unwrap();
        let stats = store.put_many(&tenant, &batch(&written)).await.unwrap();
        // Seven series objects and one timestamps object per instance with company.
        assert_eq!((stats.objects, stats.timestamp_objects), (9, 2));
        read_back(&store, &tenant, &written).await;

        // A later flush of another series of instance 0 names the object already written.
        let other_job =
            Labels::from_pairs([("__name__", "node_load5"), ("instance", "host-0:9100"), ("job", "other")]);
        let later = vec![(other_job, series("node_load5", 0, 1234).1)];
        let stats = store.put_many(&tenant, &batch(&later)).await.unwrap();
        assert_eq!((stats.objects, stats.timestamp_objects), (1, 0));
        written.extend(later);
    }
    let reopened = open_local_store(&storage, schema).unwrap();
    read_back(&reopened, &tenant, &written).await;
    let files = std::fs::read_dir(directory.path().join("chunks").join("team-a")).unwrap().count();
    assert_eq!(files, 8 + 2, "eight series objects and two timestamps objects");
}

#[tokio::test]
async fn sharing_makes_the_objects_smaller() {
    let schema = SchemaConfig::from_yaml(SCHEMA).unwrap();
    let tenant = TenantId::new("team-a").unwrap();
    let all = first_flush();
    let together = ChunkStore::new(
        schema.clone(),
        Arc::new(MemoryIndexClient::new()),
        Arc::new(MemoryObjectClient::new()),
    );
    let shared = together.put_many(&tenant, &batch(&all)).await.unwrap();
    let alone =
        ChunkStore::new(schema, Arc::new(MemoryIndexClient::new()), Arc::new(MemoryObjectClient::new()));
    let mut inline_bytes = 0;
    for one in batch(&all) {
        let stats = alone.put_many(&tenant, std::slice::from_ref(&one)).await.unwrap();
        assert_eq!(stats.timestamp_objects, 0, "a lone series keeps its timestamps");
        inline_bytes += stats.object_bytes;
    }
    // Four of the six sharing series drop a jittered column of 2,880 timestamps (~700 bytes).
    assert!(
        shared.object_bytes + 4 * 500 < inline_bytes,
        "shared {} vs inline {inline_bytes}",
        shared.object_bytes
    );
    read_back(&together, &tenant, &all).await;
    read_back(&alone, &tenant, &all).await;
}

#[tokio::test]
async fn a_missing_or_corrupt_timestamps_object_is_an_error() {
    let schema = SchemaConfig::from_yaml(SCHEMA).unwrap();
    let tenant = TenantId::new("team-a").unwrap();
    let objects = Arc::new(MemoryObjectClient::new());
    let store = ChunkStore::new(schema, Arc::new(MemoryIndexClient::new()), objects.clone());
    let two = vec![series("node_load1", 0, 1), series("node_load5", 0, 2)];
    store.put_many(&tenant, &batch(&two)).await.unwrap();
    let keys = objects.list("team-a").await.unwrap();
    let mut timestamps_key = None;
    for key in &keys {
        if objects.get(key).await.unwrap().starts_with(b"NCTS") {
            timestamps_key = Some(key.clone());
        }
    }
    let timestamps_key = timestamps_key.expect("one timestamps object");
    let matchers = [Matcher::equal("__name__", "node_load1")];
    let select = || store.select(&tenant, START_MS, END_MS, &matchers);

    let good = objects.get(&timestamps_key).await.unwrap();
    let mut corrupt = good.to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x55;
    objects.put(&timestamps_key, corrupt.into()).await.unwrap();
    let err = select().await.unwrap_err().to_string();
    assert!(err.contains("checksum mismatch") && err.contains("timestamps object"), "{err}");

    objects.delete(&timestamps_key).await.unwrap();
    let err = select().await.unwrap_err().to_string();
    assert!(err.contains("not found") || err.contains("NotFound") || err.contains("no object"), "{err}");

    objects.put(&timestamps_key, good).await.unwrap();
    assert_eq!(select().await.unwrap().len(), 1);
}

#[tokio::test]
async fn retention_removes_timestamps_objects_with_their_chunks() {
    let directory = tempfile::tempdir().unwrap();
    let storage = local(directory.path());
    let schema = SchemaConfig::from_yaml(SCHEMA).unwrap();
    let tenant = TenantId::new("team-a").unwrap();
    let store = open_local_store(&storage, schema).unwrap();
    store.put_many(&tenant, &batch(&first_flush())).await.unwrap();
    let objects = store.period_object_clients().remove(0);
    assert_eq!(objects.list("team-a").await.unwrap().len(), 9);
    // A cutoff inside the data keeps everything; one after its last sample removes everything.
    assert_eq!(objects.delete_chunks_before(START_MS + STEP_MS).await.unwrap(), Some(0));
    assert_eq!(objects.delete_chunks_before(END_MS + 1).await.unwrap(), Some(9));
    assert!(objects.list("team-a").await.unwrap().is_empty());
}
