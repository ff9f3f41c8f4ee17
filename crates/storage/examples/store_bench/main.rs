//! The chunk-store benchmark of issue 4: the load generator's node-exporter-like workload (10k
//! series x 12 h at 15 s = 2,880 samples each, flushed as one object per series from the
//! 120-sample chunks an ingester cuts) written through the `ChunkStore` on the local backend.
//!
//! It reports where the object bytes go per metric family beside the information the samples
//! carry (`profile`, `entropy`); bytes per sample in chunk objects and in the index
//! (separately), objects and index rows per million samples; 12 h query latency from the store
//! cold, warm without caches and warm with the in-process chunk and index-query caches, beside
//! the same select from ingester memory; and VictoriaMetrics on the same data (`victoria`): its
//! on-disk bytes per sample after `/internal/force_merge` and the same raw-sample query through
//! `/api/v1/export`, cold (restarted, page cache dropped) and warm.
//!
//! `cargo run --release -p neocortex-storage --example store_bench -- [series]`
//! (env `NO_VM=1` skips VictoriaMetrics, `VICTORIA_METRICS` names its binary (default
//! `/usr/bin/victoria-metrics`), `RUNS` sets the timed runs per query, default 3).

mod entropy;
mod profile;
mod victoria;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use neocortex_chunk::XorChunk;
use neocortex_core::metrics::DiscardedSamples;
use neocortex_core::{
    Labels, Limits, Matcher, Overrides, PushRequest, PushSeries, QueryableSource, Sample, SelectHints,
    TenantId,
};
use neocortex_ingester::{Ingester, IngesterConfig};
use neocortex_loadgen::workload::{Workload, WorkloadSpec};
use neocortex_storage::cache::config::{CacheConfig, ChunkStoreConfig};
use neocortex_storage::cache::metrics::CacheMetrics;
use neocortex_storage::cache::StoreCaches;
use neocortex_storage::{
    open_local_store, open_local_store_with_caches, ChunkStore, PutStats, SchemaConfig, SeriesChunks,
    StorageConfig,
};

const SCHEMA: &str = "configs: [{from: 2020-01-01, store: redb, object_store: filesystem, schema: v11, \
                      index: {prefix: index_, period: 1w}, row_shards: 16}]";
/// 2020-01-02T06:00:00Z: the 12 h stay inside one day, as most flushes do.
const START_MS: i64 = 1_577_944_800_000;
const INTERVAL_MS: i64 = 15_000;
const SAMPLES_PER_SERIES: usize = 2_880;
/// What the ingester cuts (Prometheus's head does the same).
const SAMPLES_PER_CHUNK: usize = 120;

/// One generated series with all its samples.
pub(crate) struct BenchSeries {
    labels: Labels,
    samples: Vec<Sample>,
}

/// Apparent size and allocated size (whole file-system blocks) of every file under `path`.
pub(crate) fn dir_size(path: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(path) else { return (0, 0) };
    entries.flatten().fold((0, 0), |(len, allocated), entry| match entry.metadata() {
        Ok(meta) if meta.is_dir() => {
            let (l, a) = dir_size(&entry.path());
            (len + l, allocated + a)
        }
        Ok(meta) => (len + meta.len(), allocated + meta.blocks() * 512),
        Err(_) => (len, allocated),
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn build_workload(series_count: usize) -> Vec<BenchSeries> {
    let workload = Workload::new(WorkloadSpec {
        series: series_count,
        samples_per_series: SAMPLES_PER_SERIES,
        interval_ms: INTERVAL_MS,
        start_ms: START_MS,
        seed: 42,
    });
    (0..series_count)
        .map(|index| {
            let labels = Labels::from_pairs(workload.series_labels(index));
            let samples = workload
                .series_values(index)
                .into_iter()
                .enumerate()
                .map(|(sample, value)| Sample { timestamp_ms: workload.timestamp_ms(index, sample), value })
                .collect();
            BenchSeries { labels, samples }
        })
        .collect()
}

/// The closed chunks an ingester would hand the flusher for one series.
pub(crate) fn ingester_chunks(series: &BenchSeries) -> SeriesChunks {
    let mut chunks = Vec::new();
    let mut chunk = XorChunk::new();
    for sample in &series.samples {
        if chunk.num_samples() == SAMPLES_PER_CHUNK {
            chunks.push(std::mem::take(&mut chunk));
        }
        chunk.append(sample.timestamp_ms, sample.value).expect("append");
    }
    chunks.push(chunk);
    SeriesChunks { labels: series.labels.clone(), chunks }
}

/// Drops the OS page cache of every file under `dir` (fsync, then `POSIX_FADV_DONTNEED`), so the
/// next read comes from disk. Returns false when that is not possible here.
fn evict_page_cache(dir: &Path) -> bool {
    const SCRIPT: &str = "import os,sys\nfor r,_,fs in os.walk(sys.argv[1]):\n for f in fs:\n  fd=os.open(os.path.join(r,f),os.O_RDONLY)\n  os.fsync(fd)\n  os.posix_fadvise(fd,0,0,os.POSIX_FADV_DONTNEED)\n  os.close(fd)\n";
    Command::new("python3").arg("-c").arg(SCRIPT).arg(dir).status().is_ok_and(|s| s.success())
}

async fn store_query(
    store: &ChunkStore,
    tenant: &TenantId,
    matchers: &[Matcher],
    end_ms: i64,
) -> (f64, usize, usize) {
    let started = Instant::now();
    let series = store.select(tenant, START_MS, end_ms, matchers).await.expect("select");
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    (elapsed, series.len(), series.iter().map(|s| s.samples.len()).sum())
}

fn queries() -> Vec<(&'static str, Vec<Matcher>)> {
    vec![
        (
            "node_cpu_seconds_total{mode=\"idle\"}",
            vec![Matcher::equal("__name__", "node_cpu_seconds_total"), Matcher::equal("mode", "idle")],
        ),
        ("node_cpu_seconds_total", vec![Matcher::equal("__name__", "node_cpu_seconds_total")]),
        ("node_memory_MemFree_bytes", vec![Matcher::equal("__name__", "node_memory_MemFree_bytes")]),
    ]
}

fn ingester_with(series: &[BenchSeries], tenant: &TenantId) -> Arc<Ingester> {
    let limits = Limits { max_series_per_user: 0, max_series_per_metric: 0, ..Limits::default() };
    let mut registry = prometheus_client::registry::Registry::default();
    let ingester = Ingester::new(
        IngesterConfig::default(),
        Overrides::new(limits),
        DiscardedSamples::default(),
        &mut registry,
    );
    for batch in series.chunks(100) {
        let request = PushRequest {
            series: batch
                .iter()
                .map(|s| PushSeries { labels: s.labels.clone(), samples: s.samples.clone() })
                .collect(),
            metadata: Vec::new(),
        };
        ingester.push_sync(tenant, &request).expect("ingester push");
    }
    ingester
}

/// In-process chunk and index-query caches (1 GB and 256 MB), index answers about 2020 cached.
fn in_process_caches(storage: &StorageConfig) -> StoreCaches {
    let mut chunk_cache = CacheConfig { enable_fifocache: true, ..CacheConfig::default() };
    chunk_cache.fifocache.max_size_bytes = "1GB".into();
    let mut index_cache = CacheConfig { enable_fifocache: true, ..CacheConfig::default() };
    index_cache.fifocache.max_size_bytes = "256MB".into();
    let mut storage = storage.clone();
    storage.index_queries_cache_config = index_cache;
    let chunk_store = ChunkStoreConfig {
        chunk_cache_config: chunk_cache,
        cache_lookups_older_than: neocortex_core::duration::GoDuration(Duration::from_secs(36 * 3600)),
        ..ChunkStoreConfig::default()
    };
    StoreCaches::from_config(&storage, &chunk_store, &CacheMetrics::unregistered()).expect("caches")
}

fn per_sample(bytes: u64, samples: f64) -> String {
    format!("{:.3}", bytes as f64 / samples)
}

#[tokio::main]
async fn main() {
    let series_count: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let runs: usize = std::env::var("RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(3).max(1);
    let total_samples = (series_count * SAMPLES_PER_SERIES) as f64;
    let end_ms = START_MS + SAMPLES_PER_SERIES as i64 * INTERVAL_MS;

    let started = Instant::now();
    let series = build_workload(series_count);
    println!(
        "workload: {series_count} series x {SAMPLES_PER_SERIES} samples = {total_samples} samples (built in {:.1}s)",
        started.elapsed().as_secs_f64()
    );
    if std::env::var("NO_PROFILE").is_err() {
        profile::print_profile(&series, total_samples);
    }

    // Write: each series' 24 chunks of 120 samples, as one flush hands them over.
    let directory = tempfile::tempdir().expect("tempdir");
    let mut storage = StorageConfig::default();
    storage.redb.directory = directory.path().join("index").display().to_string();
    storage.filesystem.directory = directory.path().join("chunks").display().to_string();
    let schema = SchemaConfig::from_yaml(SCHEMA).expect("schema");
    let tenant = TenantId::new("bench").expect("tenant");
    let store = open_local_store(&storage, schema.clone()).expect("open");
    let flushes: Vec<SeriesChunks> = series.iter().map(ingester_chunks).collect();
    let started = Instant::now();
    let mut stats = PutStats::default();
    for batch in flushes.chunks(1_000) {
        let one = store.put_many(&tenant, batch).await.expect("put");
        stats.objects += one.objects;
        stats.object_bytes += one.object_bytes;
        stats.index_rows += one.index_rows;
        stats.index_bytes += one.index_bytes;
    }
    let write_secs = started.elapsed().as_secs_f64();
    drop(flushes);
    drop(store);
    let (chunks_len, chunks_allocated) = dir_size(&directory.path().join("chunks"));
    let (index_len, index_allocated) = dir_size(&directory.path().join("index"));
    let per_million = 1_000_000.0 / total_samples;
    println!(
        "write: {write_secs:.1}s ({:.2} M samples/s, encoding included)",
        total_samples / write_secs / 1e6
    );
    println!(
        "chunk objects: {} objects, {} bytes/sample (object payloads), files {} apparent / {} allocated",
        stats.objects,
        per_sample(stats.object_bytes as u64, total_samples),
        per_sample(chunks_len, total_samples),
        per_sample(chunks_allocated, total_samples),
    );
    println!(
        "index: {} rows, {} bytes/sample (row keys + values), redb file {} apparent / {} allocated",
        stats.index_rows,
        per_sample(stats.index_bytes as u64, total_samples),
        per_sample(index_len, total_samples),
        per_sample(index_allocated, total_samples),
    );
    println!(
        "per million samples: {:.1} objects, {:.1} index rows",
        stats.objects as f64 * per_million,
        stats.index_rows as f64 * per_million
    );
    println!(
        "neocortex total: {} bytes/sample (object payloads + index rows), files {} apparent / {} allocated",
        per_sample((stats.object_bytes + stats.index_bytes) as u64, total_samples),
        per_sample(chunks_len + index_len, total_samples),
        per_sample(chunks_allocated + index_allocated, total_samples),
    );

    // Queries: cold = page cache of the store's files dropped and the store reopened; warm = the
    // same store again (OS page cache and redb's cache warm), without and with the in-process
    // chunk and index-query caches; memory = the same select from an ingester holding the data.
    let ingester = ingester_with(&series, &tenant);
    let from_ingester = ingester.queryable(&tenant);
    let evicts = evict_page_cache(directory.path());
    let mut answers = Vec::new();
    println!("\n12 h queries, median of {runs} runs, ms:\n");
    println!("| query | series | samples | store cold | store warm, no cache | store warm, caches | ingester memory | warm with caches / memory |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (text, matchers) in queries() {
        let mut cold = Vec::new();
        let mut answer = (0, 0);
        for _ in 0..runs {
            evict_page_cache(directory.path());
            let store = open_local_store(&storage, schema.clone()).expect("reopen");
            let (ms, found, samples) = store_query(&store, &tenant, &matchers, end_ms).await;
            answer = (found, samples);
            cold.push(ms);
        }
        let store = open_local_store(&storage, schema.clone()).expect("reopen");
        store_query(&store, &tenant, &matchers, end_ms).await;
        let mut warm = Vec::new();
        for _ in 0..runs {
            warm.push(store_query(&store, &tenant, &matchers, end_ms).await.0);
        }
        drop(store); // redb allows one open handle per file
        let cached = open_local_store_with_caches(&storage, schema.clone(), &in_process_caches(&storage))
            .expect("reopen with caches");
        store_query(&cached, &tenant, &matchers, end_ms).await;
        let mut warm_cached = Vec::new();
        for _ in 0..runs {
            let (ms, found, samples) = store_query(&cached, &tenant, &matchers, end_ms).await;
            assert_eq!((found, samples), answer, "cached store answered differently");
            warm_cached.push(ms);
        }
        let hints = SelectHints { start_ms: START_MS, end_ms };
        let mut memory = Vec::new();
        for _ in 0..runs {
            let started = Instant::now();
            let result = from_ingester.select(hints, &matchers).await.expect("ingester select");
            memory.push(started.elapsed().as_secs_f64() * 1000.0);
            let memory_samples: usize = result.iter().map(|s| s.samples.len()).sum();
            assert_eq!((result.len(), memory_samples), answer, "store and ingester disagree");
        }
        let (warm_cached, memory) = (median(warm_cached), median(memory));
        println!(
            "| `{text}` | {} | {} | {:.1} | {:.1} | {warm_cached:.1} | {memory:.1} | {:.2}x |",
            answer.0,
            answer.1,
            median(cold),
            median(warm),
            warm_cached / memory
        );
        drop(cached);
        answers.push((text, answer));
    }
    if !evicts {
        println!("note: could not drop the page cache (python3 missing?): cold runs read from a warm OS page cache");
    }
    drop(from_ingester);
    drop(ingester);

    let binary =
        std::env::var("VICTORIA_METRICS").unwrap_or_else(|_| "/usr/bin/victoria-metrics".to_string());
    if std::env::var("NO_VM").is_ok() || !Path::new(&binary).exists() {
        println!("victoria-metrics: skipped (NO_VM set or {binary} missing)");
        return;
    }
    let vm_directory = tempfile::tempdir().expect("tempdir");
    let mut vm = victoria::Victoria::start(Path::new(&binary), vm_directory.path().join("vm")).await;
    let import_secs = vm.import(&series).await;
    let sizes = vm.force_merge().await;
    println!(
        "\nvictoria-metrics: {} rows after force_merge (import {import_secs:.1}s); data {} apparent / {} allocated bytes/sample, \
         indexdb {} / {}, total {} / {}",
        sizes.rows,
        per_sample(sizes.data.0, total_samples),
        per_sample(sizes.data.1, total_samples),
        per_sample(sizes.index.0, total_samples),
        per_sample(sizes.index.1, total_samples),
        per_sample(sizes.data.0 + sizes.index.0, total_samples),
        per_sample(sizes.data.1 + sizes.index.1, total_samples),
    );
    println!(
        "\nvictoria-metrics, the same 12 h raw samples through /api/v1/export, median of {runs} runs, ms:\n"
    );
    println!("| query | series | samples | cold (restarted, page cache dropped) | warm |");
    println!("|---|---:|---:|---:|---:|");
    for (text, expected) in answers {
        let mut cold = Vec::new();
        for _ in 0..runs {
            evict_page_cache(vm.data());
            vm.restart().await;
            let (ms, found, samples) = vm.export(text, START_MS, end_ms).await;
            assert_eq!((found, samples), expected, "victoria-metrics answered differently");
            cold.push(ms);
        }
        vm.export(text, START_MS, end_ms).await;
        let mut warm = Vec::new();
        for _ in 0..runs {
            warm.push(vm.export(text, START_MS, end_ms).await.0);
        }
        println!(
            "| `{text}` | {} | {} | {:.1} | {:.1} |",
            expected.0,
            expected.1,
            median(cold),
            median(warm)
        );
    }
}
