//! Throughput of the distributor's hot path on realistic remote-write traffic: 100k
//! node-exporter-like series sent as Prometheus batches (500 or 2000 samples per request, one
//! sample per series), decoded, validated and converted by `Distributor::push_http`, with a
//! `Pusher` that drops what it receives. Run with `cargo bench -p neocortex-distributor`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use neocortex_core::metrics::DiscardedSamples;
use neocortex_core::{Limits, Overrides, PushError, PushRequest, Pusher, TenantId};
use neocortex_distributor::{decode_write_request, Distributor, DistributorConfig, PushHeaders};
use neocortex_proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};
use prometheus_client::registry::Registry;
use prost::Message;

/// The allocator the binary is expected to use; the hot path allocates two strings per label.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const HOSTS: usize = 200;
const SERIES_PER_HOST: usize = 500;
const STREAMS: usize = 4;
/// How long each phase runs; `BENCH_SECONDS` overrides it (e.g. under valgrind).
fn measure_for() -> Duration {
    let seconds = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(4.0);
    Duration::from_secs_f64(seconds)
}

/// Accepts and drops everything, so the figure is the distributor's own cost.
struct DroppingPusher;

#[async_trait]
impl Pusher for DroppingPusher {
    async fn push(&self, _tenant: &TenantId, request: PushRequest) -> Result<(), PushError> {
        drop(request);
        Ok(())
    }
}

/// The label sets of one node exporter: cpu, filesystem, network, disk and memory metrics.
fn host_series(host: usize) -> Vec<Vec<(String, String)>> {
    let instance = format!("10.{}.{}.{}:9100", host / 65536 % 256, host / 256 % 256, host % 256);
    let base = |name: &str| {
        vec![
            ("__name__".to_string(), name.to_string()),
            ("instance".to_string(), instance.clone()),
            ("job".to_string(), "node".to_string()),
        ]
    };
    let mut all = Vec::with_capacity(SERIES_PER_HOST);
    for cpu in 0..16 {
        for mode in ["idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"] {
            let mut labels = base("node_cpu_seconds_total");
            labels.push(("cpu".into(), cpu.to_string()));
            labels.push(("mode".into(), mode.into()));
            all.push(labels);
        }
    }
    for device in 0..12 {
        for metric in
            ["node_filesystem_avail_bytes", "node_filesystem_size_bytes", "node_filesystem_files_free"]
        {
            let mut labels = base(metric);
            labels.push(("device".into(), format!("/dev/nvme0n1p{device}")));
            labels.push(("fstype".into(), "ext4".into()));
            labels.push(("mountpoint".into(), format!("/var/lib/data{device}")));
            all.push(labels);
        }
    }
    let mut index = 0;
    while all.len() < SERIES_PER_HOST {
        let metric = [
            "node_network_receive_bytes_total",
            "node_network_transmit_bytes_total",
            "node_disk_io_time_seconds_total",
        ][index % 3];
        let mut labels = base(metric);
        labels.push(("device".into(), format!("eth{}", index / 3)));
        all.push(labels);
        index += 1;
    }
    all.truncate(SERIES_PER_HOST);
    for labels in &mut all {
        labels.sort();
    }
    all
}

/// One scrape round of every series, cut into remote-write bodies of `batch` samples.
fn encode_bodies(batch: usize, timestamp_ms: i64) -> Vec<Bytes> {
    let all: Vec<Vec<(String, String)>> = (0..HOSTS).flat_map(host_series).collect();
    all.chunks(batch)
        .map(|chunk| {
            let timeseries = chunk
                .iter()
                .enumerate()
                .map(|(i, labels)| TimeSeries {
                    labels: labels.iter().map(|(n, v)| Label { name: n.clone(), value: v.clone() }).collect(),
                    samples: vec![Sample { value: i as f64 * 1.5, timestamp: timestamp_ms }],
                    exemplars: vec![],
                })
                .collect();
            let request = WriteRequest { timeseries, metadata: vec![] };
            let compressed =
                snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()).expect("compresses");
            Bytes::from(compressed)
        })
        .collect()
}

/// CPU time used by the whole process so far (user + system), from `/proc/self/stat`; the
/// machine is shared, so throughput per CPU-second is the stable figure.
fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_command = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_command.split_whitespace().collect();
    // Fields 14 and 15 of the file (utime, stime) are the 12th and 13th after the command.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn report(what: &str, samples: usize, wall: Duration, cpu: Option<Duration>) {
    let per_wall = samples as f64 / wall.as_secs_f64() / 1e6;
    let what = format!("{what} [{samples} samples]");
    match cpu {
        Some(cpu) if !cpu.is_zero() => println!(
            "{what}: {per_wall:.2} M samples/s wall, {:.2} M samples per CPU-second ({:.2} CPUs used)",
            samples as f64 / cpu.as_secs_f64() / 1e6,
            cpu.as_secs_f64() / wall.as_secs_f64()
        ),
        _ => println!("{what}: {per_wall:.2} M samples/s wall"),
    }
}

fn decode_only(bodies: &[Bytes], batch: usize) {
    let headers =
        PushHeaders { content_type: Some("application/x-protobuf"), content_encoding: Some("snappy") };
    let cpu_start = process_cpu_time();
    let start = Instant::now();
    let mut samples = 0usize;
    // At least one full pass, so that short runs (under valgrind) measure something.
    loop {
        for body in bodies {
            let request = decode_write_request(&headers, body, 100 << 20).expect("decodes");
            samples += request.timeseries.len();
        }
        if start.elapsed() >= measure_for() {
            break;
        }
    }
    let cpu = process_cpu_time().zip(cpu_start).map(|(end, start)| end.saturating_sub(start));
    report(&format!("decode only, 1 thread, {batch} samples/request"), samples, start.elapsed(), cpu);
}

/// The same decoding with prost's generated code, for comparison.
fn decode_with_prost(bodies: &[Bytes], batch: usize) {
    let cpu_start = process_cpu_time();
    let start = Instant::now();
    let mut samples = 0usize;
    loop {
        for body in bodies {
            let decompressed = snap::raw::Decoder::new().decompress_vec(body).expect("decompresses");
            let request = WriteRequest::decode(decompressed.as_slice()).expect("decodes");
            samples += request.timeseries.len();
        }
        if start.elapsed() >= measure_for() {
            break;
        }
    }
    let cpu = process_cpu_time().zip(cpu_start).map(|(end, start)| end.saturating_sub(start));
    report(&format!("prost decode, 1 thread, {batch} samples/request"), samples, start.elapsed(), cpu);
}

fn push_http(bodies: &[Bytes], batch: usize) {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let limits = Limits { ingestion_rate: 1e12, ingestion_burst_size: u64::MAX / 4, ..Limits::default() };
    let mut registry = Registry::default();
    let distributor = Arc::new(Distributor::new(
        DistributorConfig::default(),
        Overrides::new(limits),
        Arc::new(DroppingPusher),
        DiscardedSamples::default(),
        &mut registry,
    ));
    let bodies = Arc::new(bodies.to_vec());
    let cpu_start = process_cpu_time();
    let (samples, elapsed) = runtime.block_on(async move {
        let start = Instant::now();
        let tasks: Vec<_> = (0..STREAMS)
            .map(|stream| {
                let distributor = distributor.clone();
                let bodies = bodies.clone();
                tokio::spawn(async move {
                    let tenant = TenantId::new("bench").expect("tenant");
                    let headers = PushHeaders::default();
                    let mut samples = 0usize;
                    loop {
                        for body in bodies.iter().skip(stream).step_by(STREAMS) {
                            distributor.push_http(&tenant, headers, body.clone()).await.expect("accepted");
                            samples += batch;
                        }
                        if start.elapsed() >= measure_for() {
                            break;
                        }
                    }
                    samples
                })
            })
            .collect();
        let mut total = 0;
        for task in tasks {
            total += task.await.expect("joins");
        }
        (total, start.elapsed())
    });
    let cpu = process_cpu_time().zip(cpu_start).map(|(end, start)| end.saturating_sub(start));
    let what = format!(
        "push_http (decode + validate + convert), {STREAMS} streams on 2 workers, {batch} samples/request"
    );
    report(&what, samples, elapsed, cpu);
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent; keep that quick.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).expect("after epoch").as_millis() as i64;
    let batches: Vec<usize> = match std::env::var("BENCH_BATCH") {
        Ok(batch) => batch.split(',').filter_map(|b| b.parse().ok()).collect(),
        Err(_) => vec![500, 2000],
    };
    for batch in batches {
        let bodies = encode_bodies(batch, now_ms);
        let bytes: usize = bodies.iter().map(|body| body.len()).sum();
        println!(
            "{} series, {} requests of {batch} samples, {:.0} bytes compressed per request",
            HOSTS * SERIES_PER_HOST,
            bodies.len(),
            bytes as f64 / bodies.len() as f64
        );
        // `BENCH_ONLY=prost|decode|push` runs one phase, e.g. under `perf stat`.
        let only = std::env::var("BENCH_ONLY").unwrap_or_default();
        if only.is_empty() || only == "prost" {
            decode_with_prost(&bodies, batch);
        }
        if only.is_empty() || only == "decode" {
            decode_only(&bodies, batch);
        }
        if only.is_empty() || only == "push" {
            push_http(&bodies, batch);
        }
    }
}
