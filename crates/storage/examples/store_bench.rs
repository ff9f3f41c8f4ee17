//! Writes the load generator's node-exporter-like workload (10k series x 12 h at 15 s = 2,880
//! samples each, one 12 h chunk per series as a `max_chunk_age` flush produces) through the
//! `ChunkStore` on the local backend and reports bytes per sample in chunk objects and in the
//! index, objects and index rows per million samples, and 12 h query latency cold and warm.
//!
//! `cargo run --release -p neocortex-storage --example store_bench -- [series] [samples-per-chunk]`

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use neocortex_chunk::XorChunk;
use neocortex_core::{Labels, Matcher, TenantId};
use neocortex_loadgen::workload::{Workload, WorkloadSpec};
use neocortex_storage::object_format::{self, BodyEncoding};
use neocortex_storage::{open_local_store, ChunkStore, PutStats, SchemaConfig, SeriesChunks, StorageConfig};

const SCHEMA: &str = "configs: [{from: 2020-01-01, store: redb, object_store: filesystem, schema: v11, \
                      index: {prefix: index_, period: 1w}, row_shards: 16}]";
/// 2020-01-02T06:00:00Z: the 12 h stay inside one day, as most flushes do.
const START_MS: i64 = 1_577_944_800_000;
const INTERVAL_MS: i64 = 15_000;

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_size(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

fn build_series(workload: &Workload, samples_per_chunk: usize) -> Vec<SeriesChunks> {
    let spec = workload.spec().clone();
    (0..spec.series)
        .map(|index| {
            let labels = Labels::from_pairs(workload.series_labels(index));
            let values = workload.series_values(index);
            let mut chunks = Vec::new();
            let mut chunk = XorChunk::new();
            for (sample, value) in values.iter().enumerate() {
                if chunk.num_samples() == samples_per_chunk {
                    chunks.push(std::mem::take(&mut chunk));
                }
                chunk.append(workload.timestamp_ms(index, sample), *value).expect("append");
            }
            chunks.push(chunk);
            SeriesChunks { labels, chunks }
        })
        .collect()
}

async fn timed_query(
    store: &ChunkStore,
    tenant: &TenantId,
    matchers: &[Matcher],
    end_ms: i64,
) -> (f64, usize, usize) {
    let started = Instant::now();
    let series = store.select(tenant, START_MS, end_ms, matchers).await.expect("select");
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    let samples = series.iter().map(|s| s.samples.len()).sum();
    (elapsed, series.len(), samples)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let series_count: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let samples_per_chunk: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(2_880);
    let samples_per_series = 2_880;
    let workload = Workload::new(WorkloadSpec {
        series: series_count,
        samples_per_series,
        interval_ms: INTERVAL_MS,
        start_ms: START_MS,
        seed: 42,
    });
    let total_samples = (series_count * samples_per_series) as f64;
    let end_ms = START_MS + samples_per_series as i64 * INTERVAL_MS;

    let started = Instant::now();
    let series = build_series(&workload, samples_per_chunk);
    println!("workload: {series_count} series x {samples_per_series} samples, {samples_per_chunk} samples per chunk (built in {:.1}s)", started.elapsed().as_secs_f64());

    // Encoding alternatives, measured on the same chunks.
    let (mut xor_bytes, mut plain_bytes, mut zstd_bytes, mut label_bytes) = (0usize, 0usize, 0usize, 0usize);
    for one in &series {
        let labels_len: usize =
            one.labels.iter().map(|l| l.name.len() + l.value.len() + 2).sum::<usize>() + 1;
        for chunk in &one.chunks {
            xor_bytes += chunk.bytes().len();
            label_bytes += labels_len;
            plain_bytes += object_format::encode(&one.labels, chunk.bytes(), BodyEncoding::Plain).len();
            zstd_bytes += object_format::encode(&one.labels, chunk.bytes(), BodyEncoding::Zstd).len();
        }
    }
    println!("encoding (bytes/sample): xor chunk alone {:.3}, labels header {:.3}, plain object {:.3}, zstd object {:.3}",
        xor_bytes as f64 / total_samples, label_bytes as f64 / total_samples,
        plain_bytes as f64 / total_samples, zstd_bytes as f64 / total_samples);

    let directory = tempfile::tempdir().expect("tempdir");
    let mut storage = StorageConfig::default();
    storage.redb.directory = directory.path().join("index").display().to_string();
    storage.filesystem.directory = directory.path().join("chunks").display().to_string();
    let schema = SchemaConfig::from_yaml(SCHEMA).expect("schema");
    let tenant = TenantId::new("bench").expect("tenant");

    let store = open_local_store(&storage, schema.clone()).expect("open");
    let started = Instant::now();
    let mut stats = PutStats::default();
    for batch in series.chunks(1_000) {
        let one = store.put_many(&tenant, batch).await.expect("put");
        stats.objects += one.objects;
        stats.object_bytes += one.object_bytes;
        stats.index_rows += one.index_rows;
        stats.index_bytes += one.index_bytes;
    }
    let write_secs = started.elapsed().as_secs_f64();
    drop(store);
    let chunks_on_disk = dir_size(&directory.path().join("chunks"));
    let index_on_disk = dir_size(&directory.path().join("index"));
    let per_million = 1_000_000.0 / total_samples;
    println!("write: {:.1}s ({:.2} M samples/s)", write_secs, total_samples / write_secs / 1e6);
    println!(
        "chunk objects: {} objects, {:.3} bytes/sample (object payloads), {:.3} bytes/sample on disk",
        stats.objects,
        stats.object_bytes as f64 / total_samples,
        chunks_on_disk as f64 / total_samples
    );
    println!(
        "index: {} rows, {:.3} bytes/sample (row keys+values), {:.3} bytes/sample on disk (redb file)",
        stats.index_rows,
        stats.index_bytes as f64 / total_samples,
        index_on_disk as f64 / total_samples
    );
    println!(
        "per million samples: {:.1} objects, {:.1} index rows",
        stats.objects as f64 * per_million,
        stats.index_rows as f64 * per_million
    );

    let store = Arc::new(open_local_store(&storage, schema).expect("reopen"));
    let queries: [(&str, Vec<Matcher>); 2] = [
        (
            "node_cpu_seconds_total{mode=\"idle\"}",
            vec![Matcher::equal("__name__", "node_cpu_seconds_total"), Matcher::equal("mode", "idle")],
        ),
        ("node_cpu_seconds_total", vec![Matcher::equal("__name__", "node_cpu_seconds_total")]),
    ];
    for (text, matchers) in &queries {
        let (cold, series_found, samples) = timed_query(&store, &tenant, matchers, end_ms).await;
        let mut warm = f64::MAX;
        for _ in 0..5 {
            warm = warm.min(timed_query(&store, &tenant, matchers, end_ms).await.0);
        }
        println!("query 12h {text}: {series_found} series, {samples} samples; cold {cold:.1} ms, warm {warm:.1} ms");
    }
}
