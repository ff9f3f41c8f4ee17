//! Shared data of the cloud-backend round trips: a few series over two days, written as
//! 100-sample chunks, and the check that every sample comes back identical.
#![allow(dead_code, unreachable_pub)]

use neocortex_core::{Labels, MatchOp, Matcher, Sample, Series, TenantId};
use neocortex_storage::{ChunkStore, SeriesChunks};
use neocortex_testkit::chunks::{noise, xor_chunks};

/// 2020-01-02T00:00:00Z.
pub const START_MS: i64 = 1_577_923_200_000;
const STEP_MS: i64 = 60_000;
const SAMPLES: usize = 2 * 1440;
const CHUNK_SAMPLES: usize = 100;
/// Just after the last sample.
pub const END_MS: i64 = START_MS + SAMPLES as i64 * STEP_MS;
/// Objects the write puts: one per series (a series' chunks go in one object), plus one
/// timestamps object per instance (the two series of an instance share jittered scrape times).
pub const OBJECTS: usize = 4 + TIMESTAMP_OBJECTS;
/// Timestamps objects the write puts.
pub const TIMESTAMP_OBJECTS: usize = 2;

fn series_labels() -> Vec<Labels> {
    let mut all = Vec::new();
    for metric in ["node_cpu_seconds_total", "node_memory_free_bytes"] {
        for instance in ["a:9100", "b:9100"] {
            all.push(Labels::from_pairs([("__name__", metric), ("instance", instance), ("job", "node")]));
        }
    }
    all
}

/// Series `index`'s samples: scrapes every minute plus 0–3 ms of jitter that both series of
/// an instance share (as one scrape stamps every series of a target).
fn samples_of(index: usize) -> Vec<Sample> {
    let instance = (index % 2) as u64;
    (0..SAMPLES)
        .map(|i| Sample {
            timestamp_ms: START_MS + i as i64 * STEP_MS + (noise(instance, i as u64) % 4) as i64,
            value: (index * 1000 + i) as f64 * 0.5,
        })
        .collect()
}

/// Writes every series' chunks.
pub async fn write_series(store: &ChunkStore, tenant: &TenantId) {
    let batch: Vec<SeriesChunks> = series_labels()
        .into_iter()
        .enumerate()
        .map(|(index, labels)| SeriesChunks { labels, chunks: xor_chunks(&samples_of(index), CHUNK_SAMPLES) })
        .collect();
    let stats = store.put_many(tenant, &batch).await.expect("put_many");
    assert_eq!(stats.objects, OBJECTS);
    assert_eq!(stats.timestamp_objects, TIMESTAMP_OBJECTS);
}

/// Reads every series back, identical, and a narrowed selection.
pub async fn check_series(store: &ChunkStore, tenant: &TenantId) {
    let mut expected: Vec<Series> = series_labels()
        .into_iter()
        .enumerate()
        .map(|(index, labels)| Series { labels, samples: samples_of(index) })
        .collect();
    expected.sort_by(|a, b| a.labels.cmp(&b.labels));
    let name = |metric: &str| Matcher::equal("__name__", metric);
    let cpu =
        store.select(tenant, START_MS, END_MS, &[name("node_cpu_seconds_total")]).await.expect("select");
    assert_eq!(cpu, expected[..2].to_vec(), "every cpu sample back, identical");
    let memory =
        store.select(tenant, START_MS, END_MS, &[name("node_memory_free_bytes")]).await.expect("select");
    assert_eq!(memory, expected[2..].to_vec());
    let only_b = Matcher::new(MatchOp::RegexMatch, "instance", "b:.*").expect("regex");
    let selected = store
        .select(tenant, START_MS, END_MS, &[name("node_cpu_seconds_total"), only_b])
        .await
        .expect("select");
    assert_eq!(selected, expected[1..2].to_vec());
}
