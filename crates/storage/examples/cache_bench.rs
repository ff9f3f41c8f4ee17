//! 12 h store queries with and without the caches: the load generator's node-exporter-like
//! workload (default 10k series x 12 h at 15 s, one chunk per series) is written to the local
//! backend, then each query runs on a freshly opened store — cold (caches empty) and warm (best
//! of five repeats) — with no cache, with the in-process chunk + index-query caches, and with
//! both caches in memcached (when `memcached` is installed; it is started on a free port).
//!
//! `cargo run --release -p neocortex-storage --example cache_bench -- [series]`

use std::time::{Duration, Instant};

use neocortex_chunk::XorChunk;
use neocortex_core::{Labels, Matcher, TenantId};
use neocortex_loadgen::workload::{Workload, WorkloadSpec};
use neocortex_storage::cache::config::{CacheConfig, ChunkStoreConfig};
use neocortex_storage::cache::metrics::CacheMetrics;
use neocortex_storage::cache::StoreCaches;
use neocortex_storage::{
    open_local_store, open_local_store_with_caches, ChunkStore, SchemaConfig, SeriesChunks, StorageConfig,
};
use neocortex_testkit::memcached::MemcachedProcess;

const SCHEMA: &str = "configs: [{from: 2020-01-01, store: redb, object_store: filesystem, schema: v11, \
                      index: {prefix: index_, period: 1w}, row_shards: 16}]";
/// 2020-01-02T06:00:00Z.
const START_MS: i64 = 1_577_944_800_000;
const INTERVAL_MS: i64 = 15_000;
const SAMPLES: usize = 2_880;

fn build_series(workload: &Workload) -> Vec<SeriesChunks> {
    (0..workload.spec().series)
        .map(|index| {
            let mut chunk = XorChunk::new();
            for (sample, value) in workload.series_values(index).iter().enumerate() {
                chunk.append(workload.timestamp_ms(index, sample), *value).expect("append");
            }
            SeriesChunks { labels: Labels::from_pairs(workload.series_labels(index)), chunks: vec![chunk] }
        })
        .collect()
}

async fn timed(store: &ChunkStore, tenant: &TenantId, matchers: &[Matcher]) -> (f64, usize) {
    let end_ms = START_MS + SAMPLES as i64 * INTERVAL_MS;
    let started = Instant::now();
    let series = store.select(tenant, START_MS, end_ms, matchers).await.expect("select");
    (started.elapsed().as_secs_f64() * 1000.0, series.iter().map(|s| s.samples.len()).sum())
}

/// In-process chunk and index-query caches, index answers about 2020 cached for ever.
fn in_process() -> (CacheConfig, CacheConfig) {
    let mut chunks = CacheConfig { enable_fifocache: true, ..CacheConfig::default() };
    chunks.fifocache.max_size_bytes = "1GB".into();
    let mut index = CacheConfig { enable_fifocache: true, ..CacheConfig::default() };
    index.fifocache.max_size_bytes = "256MB".into();
    (chunks, index)
}

fn memcached(address: &str) -> (CacheConfig, CacheConfig) {
    let mut config = CacheConfig::default();
    config.memcached_client.addresses = address.to_string();
    config.memcached_client.timeout = neocortex_core::duration::GoDuration(Duration::from_secs(1));
    config.background.writeback_goroutines = 0; // stores inline, so "warm" is really warm
    (config.clone(), config)
}

#[tokio::main]
async fn main() {
    let series_count: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let workload = Workload::new(WorkloadSpec {
        series: series_count,
        samples_per_series: SAMPLES,
        interval_ms: INTERVAL_MS,
        start_ms: START_MS,
        seed: 42,
    });
    let directory = tempfile::tempdir().expect("tempdir");
    let mut storage = StorageConfig::default();
    storage.redb.directory = directory.path().join("index").display().to_string();
    storage.filesystem.directory = directory.path().join("chunks").display().to_string();
    let schema = SchemaConfig::from_yaml(SCHEMA).expect("schema");
    let tenant = TenantId::new("bench").expect("tenant");
    {
        let store = open_local_store(&storage, schema.clone()).expect("open");
        for batch in build_series(&workload).chunks(1_000) {
            store.put_many(&tenant, batch).await.expect("put");
        }
    }
    println!("workload: {series_count} series x {SAMPLES} samples at 15s, local backend");

    let memcached_installed = MemcachedProcess::start().await.is_ok();
    if !memcached_installed {
        println!("(memcached not installed: memcached setup skipped)");
    }
    let queries: [(&str, Vec<Matcher>); 2] = [
        (
            "node_cpu_seconds_total{mode=\"idle\"}",
            vec![Matcher::equal("__name__", "node_cpu_seconds_total"), Matcher::equal("mode", "idle")],
        ),
        ("node_cpu_seconds_total", vec![Matcher::equal("__name__", "node_cpu_seconds_total")]),
    ];
    for (text, matchers) in &queries {
        for setup in ["no cache", "in-process chunk+index cache", "memcached chunk+index cache"] {
            // Fresh caches (and a fresh memcached) for every run, so "cold" is cold.
            let server = match setup {
                "memcached chunk+index cache" if memcached_installed => {
                    Some(MemcachedProcess::start_with_memory(1024).await.expect("memcached"))
                }
                "memcached chunk+index cache" => continue,
                _ => None,
            };
            let configs = match (setup, &server) {
                ("no cache", _) => None,
                (_, Some(server)) => Some(memcached(&server.address())),
                (_, None) => Some(in_process()),
            };
            let caches = match configs {
                None => StoreCaches::default(),
                Some((chunk_cache, index_cache)) => {
                    let mut storage = storage.clone();
                    storage.index_queries_cache_config = index_cache;
                    let chunk_store = ChunkStoreConfig {
                        chunk_cache_config: chunk_cache,
                        cache_lookups_older_than: neocortex_core::duration::GoDuration(Duration::from_secs(
                            36 * 3600,
                        )),
                        ..ChunkStoreConfig::default()
                    };
                    StoreCaches::from_config(&storage, &chunk_store, &CacheMetrics::unregistered())
                        .expect("caches")
                }
            };
            let store = open_local_store_with_caches(&storage, schema.clone(), &caches).expect("open");
            let (cold, samples) = timed(&store, &tenant, matchers).await;
            let mut warm = f64::MAX;
            for _ in 0..5 {
                warm = warm.min(timed(&store, &tenant, matchers).await.0);
            }
            println!("12h {text} ({samples} samples), {setup}: cold {cold:.1} ms, warm {warm:.1} ms");
        }
    }
}
