//! The chunk-store benchmark of issue 4: the load generator's node-exporter-like workload (10k
//! series x 12 h at 15 s = 2,880 samples each, flushed as one object per series from the
//! 120-sample chunks an ingester cuts) written through the `ChunkStore` on the local backend.
//! Reports bytes per sample in chunk objects and in the index (separately), objects and index
//! rows per million samples, 12 h query latency from the store cold and warm, the same queries
//! from ingester memory, and VictoriaMetrics's on-disk bytes per sample for the same data after
//! `/internal/force_merge` (when `/usr/bin/victoria-metrics`, or `$VICTORIA_METRICS`, exists).
//!
//! `cargo run --release -p neocortex-storage --example store_bench -- [series]`
//! (env `NO_VM=1` skips VictoriaMetrics, `RUNS` sets the timed runs per query, default 3).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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
use neocortex_storage::object_format::{self, BodyEncoding};
use neocortex_storage::{open_local_store, ChunkStore, PutStats, SchemaConfig, SeriesChunks, StorageConfig};

const SCHEMA: &str = "configs: [{from: 2020-01-01, store: redb, object_store: filesystem, schema: v11, \
                      index: {prefix: index_, period: 1w}, row_shards: 16}]";
/// 2020-01-02T06:00:00Z: the 12 h stay inside one day, as most flushes do.
const START_MS: i64 = 1_577_944_800_000;
const INTERVAL_MS: i64 = 15_000;
const SAMPLES_PER_SERIES: usize = 2_880;
/// What the ingester cuts (Prometheus's head does the same).
const SAMPLES_PER_CHUNK: usize = 120;

struct BenchSeries {
    labels: Labels,
    samples: Vec<Sample>,
}

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
fn ingester_chunks(series: &BenchSeries) -> SeriesChunks {
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

/// Encodings of the same samples side by side, and the version-2 size per metric family.
fn compare_encodings(series: &[BenchSeries], total_samples: f64) {
    let (mut xor120, mut xor_whole, mut v1, mut v2, mut v2_times) = (0usize, 0usize, 0usize, 0usize, 0usize);
    let mut families: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let started = Instant::now();
    for one in series {
        xor120 += ingester_chunks(one).chunks.iter().map(|c| c.bytes().len()).sum::<usize>();
        let mut whole = XorChunk::new();
        for s in &one.samples {
            whole.append(s.timestamp_ms, s.value).expect("append");
        }
        xor_whole += whole.bytes().len();
        v1 += object_format::encode_xor_v1(&one.labels, whole.bytes(), BodyEncoding::Zstd).len();
        let object = object_format::encode(&one.labels, &one.samples, BodyEncoding::Zstd).len();
        v2 += object;
        let zeros: Vec<Sample> = one.samples.iter().map(|s| Sample { value: 0.0, ..*s }).collect();
        v2_times += object_format::encode(&one.labels, &zeros, BodyEncoding::Zstd).len();
        let family = families.entry(one.labels.metric_name().unwrap_or("").to_string()).or_default();
        family.0 += object;
        family.1 += one.samples.len();
    }
    let per = |bytes: usize| bytes as f64 / total_samples;
    println!("encodings (bytes/sample): XOR 120-sample chunks {:.3}; one XOR chunk per series {:.3}; v1 object (labels + XOR, zstd) {:.3}; v2 object {:.3} (labels + timestamps alone {:.3}); v2 encode {:.1}s",
        per(xor120), per(xor_whole), per(v1), per(v2), per(v2_times), started.elapsed().as_secs_f64());
    let mut ranked: Vec<(String, (usize, usize))> = families.into_iter().collect();
    ranked.sort_by_key(|(_, (bytes, _))| std::cmp::Reverse(*bytes));
    println!("v2 object bytes by metric family (share of all object bytes, bytes/sample within the family):");
    for (name, (bytes, samples)) in ranked.iter().take(15) {
        println!(
            "  {name:<48} {:>5.1}%  {:.2}",
            *bytes as f64 * 100.0 / v2 as f64,
            *bytes as f64 / *samples as f64
        );
    }
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

struct QueryFigures {
    text: &'static str,
    series: usize,
    samples: usize,
    cold_ms: f64,
    warm_ms: f64,
    ingester_ms: f64,
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

/// VictoriaMetrics single-node on a temporary directory and a free port, killed on drop.
struct Victoria {
    child: Child,
    base: String,
    data: PathBuf,
}

impl Drop for Victoria {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn start_victoria(binary: &Path, data: PathBuf) -> Victoria {
    let port = free_port();
    let child = Command::new(binary)
        .arg(format!("-storageDataPath={}", data.display()))
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .arg("-retentionPeriod=100y")
        .arg("-loggerLevel=ERROR")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start victoria-metrics");
    let victoria = Victoria { child, base: format!("http://127.0.0.1:{port}"), data };
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if client.get(format!("{}/health", victoria.base)).send().await.is_ok_and(|r| r.status().is_success())
        {
            return victoria;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("victoria-metrics did not become healthy");
}

async fn metric_sum(client: &reqwest::Client, base: &str, name: &str) -> f64 {
    let text =
        client.get(format!("{base}/metrics")).send().await.expect("metrics").text().await.expect("body");
    text.lines()
        .filter(|line| line.starts_with(name) && line[name.len()..].starts_with(['{', ' ']))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

struct VictoriaFigures {
    data_bytes: u64,
    index_bytes: u64,
    rows: f64,
    import_secs: f64,
}

async fn victoria_bytes(binary: &Path, series: &[BenchSeries]) -> VictoriaFigures {
    let directory = tempfile::tempdir().expect("tempdir");
    let victoria = start_victoria(binary, directory.path().join("vm")).await;
    let client = reqwest::Client::new();
    let started = Instant::now();
    for batch in series.chunks(200) {
        let mut body = String::new();
        for one in batch {
            let metric: BTreeMap<&str, &str> =
                one.labels.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect();
            body.push_str("{\"metric\":");
            body.push_str(&serde_json::to_string(&metric).expect("json"));
            body.push_str(",\"values\":[");
            for (i, s) in one.samples.iter().enumerate() {
                body.push_str(if i == 0 { "" } else { "," });
                body.push_str(&s.value.to_string());
            }
            body.push_str("],\"timestamps\":[");
            for (i, s) in one.samples.iter().enumerate() {
                body.push_str(if i == 0 { "" } else { "," });
                body.push_str(&s.timestamp_ms.to_string());
            }
            body.push_str("]}\n");
        }
        let response =
            client.post(format!("{}/api/v1/import", victoria.base)).body(body).send().await.expect("import");
        assert!(response.status().is_success(), "import answered {}", response.status());
    }
    let base = victoria.base.clone();
    client.get(format!("{base}/internal/force_flush")).send().await.expect("force_flush");
    let import_secs = started.elapsed().as_secs_f64();
    let response = client.get(format!("{base}/internal/force_merge")).send().await.expect("force_merge");
    assert!(response.status().is_success(), "force_merge answered {}", response.status());
    // The merge runs in the background: wait until no merge is running for a few seconds.
    let mut quiet = 0;
    while quiet < 5 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let busy = metric_sum(&client, &base, "vm_active_force_merges").await
            + metric_sum(&client, &base, "vm_active_merges").await
            + metric_sum(&client, &base, "vm_pending_rows").await;
        quiet = if busy == 0.0 { quiet + 1 } else { 0 };
    }
    let rows = metric_sum(&client, &base, "vm_rows").await;
    let figures = VictoriaFigures {
        data_bytes: dir_size(&victoria.data.join("data")),
        index_bytes: dir_size(&victoria.data.join("indexdb")),
        rows,
        import_secs,
    };
    drop(victoria);
    figures
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let series_count: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let runs: usize = std::env::var("RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(3).max(1);
    let total_samples = (series_count * SAMPLES_PER_SERIES) as f64;
    let end_ms = START_MS + SAMPLES_PER_SERIES as i64 * INTERVAL_MS;

    let started = Instant::now();
    let series = build_workload(series_count);
    println!(
        "workload: {series_count} series x {SAMPLES_PER_SERIES} samples = {total_samples} samples (built in {:.1}s)",
        started.elapsed().as_secs_f64()
    );
    compare_encodings(&series, total_samples);

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
    let chunks_on_disk = dir_size(&directory.path().join("chunks"));
    let index_on_disk = dir_size(&directory.path().join("index"));
    let per_million = 1_000_000.0 / total_samples;
    println!(
        "write: {:.1}s ({:.2} M samples/s, encoding included)",
        write_secs,
        total_samples / write_secs / 1e6
    );
    println!(
        "chunk objects: {} objects, {:.3} bytes/sample (object payloads), {:.3} bytes/sample on disk (file sizes)",
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

    // Queries: cold = page cache of the store's files dropped and the store reopened; warm = the
    // same store again (OS page cache and redb's own cache warm; no chunk cache yet).
    let ingester = ingester_with(&series, &tenant);
    let from_ingester = ingester.queryable(&tenant);
    let evicts = evict_page_cache(directory.path());
    let mut figures = Vec::new();
    for (text, matchers) in queries() {
        let mut cold = Vec::new();
        let (mut found, mut samples) = (0, 0);
        for _ in 0..runs {
            evict_page_cache(directory.path());
            let store = open_local_store(&storage, schema.clone()).expect("reopen");
            let (ms, s, n) = store_query(&store, &tenant, &matchers, end_ms).await;
            (found, samples) = (s, n);
            cold.push(ms);
        }
        let store = open_local_store(&storage, schema.clone()).expect("reopen");
        store_query(&store, &tenant, &matchers, end_ms).await;
        let mut warm = Vec::new();
        for _ in 0..runs {
            warm.push(store_query(&store, &tenant, &matchers, end_ms).await.0);
        }
        let hints = SelectHints { start_ms: START_MS, end_ms };
        let mut memory = Vec::new();
        for _ in 0..runs {
            let started = Instant::now();
            let answer = from_ingester.select(hints, &matchers).await.expect("ingester select");
            memory.push(started.elapsed().as_secs_f64() * 1000.0);
            let memory_samples: usize = answer.iter().map(|s| s.samples.len()).sum();
            assert_eq!((answer.len(), memory_samples), (found, samples), "store and ingester disagree");
        }
        let one = QueryFigures {
            text,
            series: found,
            samples,
            cold_ms: median(cold),
            warm_ms: median(warm),
            ingester_ms: median(memory),
        };
        println!(
            "query 12h {}: {} series, {} samples; store cold {:.1} ms, store warm {:.1} ms, ingester memory {:.1} ms (warm/memory {:.2}x)",
            one.text, one.series, one.samples, one.cold_ms, one.warm_ms, one.ingester_ms, one.warm_ms / one.ingester_ms
        );
        figures.push(one);
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
    let vm = victoria_bytes(Path::new(&binary), &series).await;
    println!(
        "victoria-metrics: {} rows after force_merge (import {:.1}s); data {:.3} bytes/sample, indexdb {:.3} bytes/sample, total {:.3} bytes/sample",
        vm.rows,
        vm.import_secs,
        vm.data_bytes as f64 / total_samples,
        vm.index_bytes as f64 / total_samples,
        (vm.data_bytes + vm.index_bytes) as f64 / total_samples
    );
    println!(
        "neocortex total (object payloads + index rows): {:.3} bytes/sample; on disk (files + redb): {:.3} bytes/sample",
        (stats.object_bytes + stats.index_bytes) as f64 / total_samples,
        (chunks_on_disk + index_on_disk) as f64 / total_samples
    );
}
