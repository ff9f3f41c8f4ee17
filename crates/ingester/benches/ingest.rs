//! Ingest benchmark: pushes a node-exporter-like workload (default 100k series x 120 samples,
//! 15 s scrape interval, batches of 1000 series per request) straight into an `Ingester` from
//! a multi-threaded tokio runtime, then prints samples/s and resident memory per series.
//!
//! `cargo bench -p neocortex-ingester --bench ingest` (env: SERIES, SAMPLES, WORKERS, BATCH).

use std::sync::Arc;
use std::time::{Duration, Instant};

use neocortex_core::metrics::DiscardedSamples;
use neocortex_core::{
    Labels, Limits, MatchOp, Matcher, Overrides, PushRequest, PushSeries, QueryableSource, Sample,
    SelectHints, TenantId,
};
use neocortex_ingester::{Ingester, IngesterConfig};
use prometheus_client::registry::Registry;

/// The allocator the `neocortex` binary uses; glibc's malloc spends more time consolidating
/// free lists than the ingester spends ingesting under this churn.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const METRICS: [&str; 25] = [
    "node_cpu_seconds_total",
    "node_cpu_guest_seconds_total",
    "node_memory_MemAvailable_bytes",
    "node_memory_Cached_bytes",
    "node_memory_Buffers_bytes",
    "node_disk_read_bytes_total",
    "node_disk_written_bytes_total",
    "node_disk_io_time_seconds_total",
    "node_disk_reads_completed_total",
    "node_disk_writes_completed_total",
    "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total",
    "node_network_receive_packets_total",
    "node_network_transmit_packets_total",
    "node_network_receive_errs_total",
    "node_filesystem_avail_bytes",
    "node_filesystem_size_bytes",
    "node_filesystem_files_free",
    "node_load1",
    "node_load5",
    "node_context_switches_total",
    "node_intr_total",
    "node_procs_running",
    "node_vmstat_pgfault",
    "node_timex_offset_seconds",
];
const MODES: [&str; 8] = ["idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice"];
const DEVICES: [&str; 4] = ["sda", "sdb", "eth0", "eth1"];
const SERIES_PER_HOST: usize = 200;
const SCRAPE_INTERVAL_MS: i64 = 15_000;
const START_MS: i64 = 1_700_000_000_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A small deterministic generator (xorshift64*), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// One synthetic series: labels plus how its value evolves.
struct SyntheticSeries {
    labels: Labels,
    kind: u8,
    value: f64,
    phase_ms: i64,
}

fn workload(series_count: usize) -> Vec<SyntheticSeries> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..series_count)
        .map(|index| {
            let host = index / SERIES_PER_HOST;
            let within = index % SERIES_PER_HOST;
            let metric = within % METRICS.len();
            let variant = within / METRICS.len();
            let labels = Labels::from_pairs([
                ("__name__", METRICS[metric].to_string()),
                ("instance", format!("10.{}.{}.{}:9100", host / 65536, (host / 256) % 256, host % 256)),
                ("job", "node".to_string()),
                ("cpu", variant.to_string()),
                ("mode", MODES[variant % MODES.len()].to_string()),
                ("device", DEVICES[variant % DEVICES.len()].to_string()),
                ("datacenter", format!("dc-{}", host % 3)),
                ("env", "prod".to_string()),
            ]);
            SyntheticSeries {
                labels,
                kind: (metric % 4) as u8,
                value: (rng.next() % 1_000_000) as f64,
                phase_ms: (host as i64 * 37) % SCRAPE_INTERVAL_MS,
            }
        })
        .collect()
}

/// The next value of a series: counters with fractional or integer steps, gauges, constants.
fn advance(series: &mut SyntheticSeries, rng: &mut Rng) -> f64 {
    match series.kind {
        0 => series.value += (rng.next() % 1500) as f64 / 100.0,
        1 => series.value += (rng.next() % 100_000) as f64,
        2 => series.value = ((series.value as i64) + (rng.next() % 8192) as i64 - 4096).max(0) as f64,
        _ => {}
    }
    series.value
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// CPU time this thread has run, from the scheduler's accounting (immune to other processes
/// competing for the cores, unlike wall time).
fn thread_cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    Duration::from_nanos(stat.split_whitespace().next().and_then(|ns| ns.parse().ok()).unwrap_or(0))
}

/// CPU time of the whole process (all threads), in clock ticks converted at 100 Hz.
fn process_cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| fields.get(index).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // Fields 14 and 15 of /proc/<pid>/stat (utime, stime) are at 11 and 12 after the name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn main() {
    let series_count = env_usize("SERIES", 100_000);
    let samples_per_series = env_usize("SAMPLES", 120);
    let workers = env_usize("WORKERS", 2).max(1);
    let batch = env_usize("BATCH", 1000).max(1);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("tokio runtime");

    let workload = workload(series_count);
    let batches: Vec<Vec<SyntheticSeries>> = {
        let mut batches = Vec::new();
        let mut current = Vec::with_capacity(batch);
        for series in workload {
            current.push(series);
            if current.len() == batch {
                batches.push(std::mem::replace(&mut current, Vec::with_capacity(batch)));
            }
        }
        if !current.is_empty() {
            batches.push(current);
        }
        batches
    };
    let limits = Limits { max_series_per_user: 0, max_series_per_metric: 0, ..Limits::default() };
    let mut registry = Registry::default();
    let discarded = DiscardedSamples::default();
    let rss_before = rss_bytes();
    let ingester = Ingester::new(IngesterConfig::default(), Overrides::new(limits), discarded, &mut registry);
    let tenant = TenantId::new("bench").expect("valid tenant");

    // Each worker owns a set of batches and pushes its rounds in order, as one remote-write
    // queue shard does; request building time is measured apart from push time.
    let mut owned: Vec<Vec<Vec<SyntheticSeries>>> = (0..workers).map(|_| Vec::new()).collect();
    for (index, batch) in batches.into_iter().enumerate() {
        owned[index % workers].push(batch);
    }
    let started = Instant::now();
    let cpu_started = process_cpu_time();
    let results: Vec<(Duration, Duration, u64)> = runtime.block_on(async {
        let tasks: Vec<_> = owned
            .into_iter()
            .enumerate()
            .map(|(worker, mut batches)| {
                let ingester = Arc::clone(&ingester);
                let tenant = tenant.clone();
                tokio::spawn(async move {
                    let mut rng = Rng(0x1234_5678 + worker as u64);
                    let jitter_every = env_usize("JITTER_EVERY", 10).max(1) as u64;
                    let mut push_time = Duration::ZERO;
                    let mut drop_time = Duration::ZERO;
                    let mut errors = 0u64;
                    for round in 0..samples_per_series as i64 {
                        for batch in batches.iter_mut() {
                            let series = batch
                                .iter_mut()
                                .map(|s| {
                                    // Most scrapes land on the interval; every JITTER_EVERY-th is 1-2 ms late.
                                    let jitter = if rng.next().is_multiple_of(jitter_every) {
                                        1 + (rng.next() % 2) as i64
                                    } else {
                                        0
                                    };
                                    let timestamp_ms =
                                        START_MS + s.phase_ms + round * SCRAPE_INTERVAL_MS + jitter;
                                    let value = advance(s, &mut rng);
                                    PushSeries {
                                        labels: s.labels.clone(),
                                        samples: vec![Sample { timestamp_ms, value }],
                                    }
                                })
                                .collect();
                            let request = PushRequest { series, metadata: Vec::new() };
                            // `Pusher::push` is `push_sync` plus dropping the request; they are
                            // timed apart to show the ingester's own share.
                            let push_started = thread_cpu_time();
                            if ingester.push_sync(&tenant, &request).is_err() {
                                errors += 1;
                            }
                            let pushed = thread_cpu_time();
                            drop(request);
                            push_time += pushed.saturating_sub(push_started);
                            drop_time += thread_cpu_time().saturating_sub(pushed);
                        }
                        tokio::task::yield_now().await;
                    }
                    (push_time, drop_time, errors)
                })
            })
            .collect();
        let mut out = Vec::new();
        for task in tasks {
            out.push(task.await.expect("worker task"));
        }
        out
    });
    let wall = started.elapsed();
    let process_cpu = process_cpu_time().saturating_sub(cpu_started).as_secs_f64();
    let rss_after = rss_bytes();

    let total_samples = (series_count * samples_per_series) as f64;
    let errors: u64 = results.iter().map(|(_, _, e)| e).sum();
    let push_cpu: f64 = results.iter().map(|(d, _, _)| d.as_secs_f64()).sum();
    let drop_cpu: f64 = results.iter().map(|(_, d, _)| d.as_secs_f64()).sum();
    println!("workload: {series_count} series x {samples_per_series} samples, {workers} workers, {batch} series/request");
    println!("failed pushes: {errors}");
    println!("series held: {}", ingester.total_series());
    println!(
        "wall time: {:.3} s -> {:.0} samples/s end to end incl. building requests (wall time suffers when other processes use the cores)",
        wall.as_secs_f64(),
        total_samples / wall.as_secs_f64()
    );
    println!(
        "process cpu: {:.3} s -> {:.0} samples per cpu-second incl. building and dropping requests",
        process_cpu,
        total_samples / process_cpu
    );
    println!(
        "cpu inside Ingester::push_sync (summed over workers): {:.3} s -> {:.0} samples per cpu-second; {:.0} ns per sample",
        push_cpu,
        total_samples / push_cpu,
        push_cpu * 1e9 / total_samples
    );
    println!(
        "cpu dropping the requests afterwards: {:.3} s ({:.0} ns per sample)",
        drop_cpu,
        drop_cpu * 1e9 / total_samples
    );
    println!(
        "rss growth: {:.1} MiB -> {:.0} bytes per series (labels, index, chunks; allocator overhead included)",
        (rss_after.saturating_sub(rss_before)) as f64 / (1024.0 * 1024.0),
        rss_after.saturating_sub(rss_before) as f64 / series_count as f64
    );

    let heap = ingester.heap_bytes(&tenant);
    println!(
        "accounted heap: {:.1} MiB -> {:.0} bytes per series (capacities, without allocator overhead)",
        heap as f64 / (1024.0 * 1024.0),
        heap as f64 / series_count as f64
    );
    let mut chunk_bytes = 0usize;
    let mut chunks = 0usize;
    ingester.for_each_closed_chunks(&tenant, |_, closed| {
        chunks += closed.len();
        chunk_bytes += closed.iter().map(|c| c.data.len()).sum::<usize>();
    });
    println!(
        "closed chunks: {chunks}, {:.0} bytes per chunk on average ({:.2} bytes per sample)",
        chunk_bytes as f64 / chunks.max(1) as f64,
        chunk_bytes as f64 / (chunks.max(1) * neocortex_ingester::SAMPLES_PER_CHUNK) as f64
    );

    let queryable = ingester.queryable(&tenant);
    let matchers = [
        Matcher::equal("__name__", "node_cpu_seconds_total"),
        Matcher::new(MatchOp::RegexMatch, "mode", "idle|user").expect("valid regex"),
    ];
    let query_started = Instant::now();
    let hints = SelectHints { start_ms: i64::MIN, end_ms: i64::MAX };
    let selected = runtime.block_on(queryable.select(hints, &matchers)).expect("select");
    let samples: usize = selected.iter().map(|s| s.samples.len()).sum();
    println!(
        "select {{__name__=\"node_cpu_seconds_total\", mode=~\"idle|user\"}}: {} series, {} samples in {:.1} ms",
        selected.len(),
        samples,
        query_started.elapsed().as_secs_f64() * 1000.0
    );
}
