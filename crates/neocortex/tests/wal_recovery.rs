//! Crash recovery of the real `neocortex` binary: several tasks push remote-write load without
//! pause, the process is killed with SIGKILL in the middle, restarted in the same directory,
//! and every sample of every acknowledged (2xx) push must read back through remote read with
//! the same timestamp and value — with and without a checkpoint taken before the kill.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use neocortex_proto::prometheus::{label_matcher, LabelMatcher, Query, ReadRequest, ReadResponse};
use neocortex_testkit::http::{remote_write_request, send};
use neocortex_testkit::remote_write::{encode_write_request, now_ms, snappy_compress, RawSeries};
use neocortex_testkit::NeocortexProcess;
use prost::Message;

/// Concurrent pushing tasks; each owns its series (as Prometheus's remote-write shards do).
const TASKS: usize = 6;
/// Series per task and push.
const SERIES_PER_TASK: usize = 150;
const TENANT: &str = "wal-test";

fn neocortex_binary() -> &'static str {
    env!("CARGO_BIN_EXE_neocortex")
}

fn args(extra: &[&'static str]) -> Vec<&'static str> {
    let mut args = vec![
        "-auth.enabled=true",
        "-distributor.ingestion-rate-limit=1000000000",
        "-distributor.ingestion-burst-size=1000000000",
        "-ingester.max-series-per-metric=0",
        "-ingester.max-series-per-user=0",
    ];
    args.extend_from_slice(extra);
    args
}

fn metric(task: usize) -> String {
    format!("wal_test_task_{task}")
}

/// The value pushed for `series` of `task` in `round`: integers, fractions and large values,
/// so every value encoding of the WAL is exercised.
fn value(task: usize, series: usize, round: i64) -> f64 {
    match series % 4 {
        0 => (round * 7 + series as i64) as f64,
        1 => round as f64 * 0.125 + task as f64 / 3.0,
        2 => 1e15 + round as f64 * 1.5,
        // Not -0.0: remote read (proto3) cannot tell it from 0.
        _ => -(round as f64 + 1.0) / 7.0,
    }
}

/// Acknowledged samples: (task, series) -> timestamp -> value bits.
type Acknowledged = BTreeMap<(usize, usize), BTreeMap<i64, u64>>;

/// Pushes rounds of `SERIES_PER_TASK` samples for `task` until `stop`, returning what was
/// acknowledged with a 2xx.
async fn push_until(
    push_url: String,
    task: usize,
    base_ms: i64,
    stop: Arc<AtomicBool>,
) -> (Acknowledged, u64) {
    let client = reqwest::Client::new();
    let mut acknowledged = Acknowledged::new();
    let mut failed = 0u64;
    let mut round = 0i64;
    while !stop.load(Ordering::Relaxed) {
        let timestamp_ms = base_ms + round * 1000 + task as i64;
        let series: Vec<RawSeries> = (0..SERIES_PER_TASK)
            .map(|series| {
                let name = metric(task);
                let index = series.to_string();
                RawSeries::new(
                    &[("__name__", name.as_str()), ("series", index.as_str())],
                    &[(timestamp_ms, value(task, series, round))],
                )
            })
            .collect();
        let body = snappy_compress(&encode_write_request(&series));
        let request = remote_write_request(&client, &push_url, body).header("X-Scope-OrgID", TENANT);
        match send(request).await {
            Ok((status, _)) if (200..300).contains(&status) => {
                for series in 0..SERIES_PER_TASK {
                    acknowledged
                        .entry((task, series))
                        .or_default()
                        .insert(timestamp_ms, value(task, series, round).to_bits());
                }
            }
            _ => {
                failed += 1;
                // The process is gone (or going); stop hammering a dead port.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        round += 1;
    }
    (acknowledged, failed)
}

/// Reads every sample of `metric` back through remote read.
async fn remote_read(
    client: &reqwest::Client,
    neocortex: &NeocortexProcess,
    metric: &str,
) -> anyhow::Result<BTreeMap<String, BTreeMap<i64, u64>>> {
    let request = ReadRequest {
        queries: vec![Query {
            start_timestamp_ms: 0,
            end_timestamp_ms: now_ms() + 3_600_000,
            matchers: vec![LabelMatcher {
                r#type: label_matcher::Type::Eq as i32,
                name: "__name__".to_owned(),
                value: metric.to_owned(),
            }],
            hints: None,
        }],
        accepted_response_types: Vec::new(),
    };
    let response = client
        .post(format!("{}/read", neocortex.prometheus_api_url()))
        .header("X-Scope-OrgID", TENANT)
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .body(snappy_compress(&request.encode_to_vec()))
        .send()
        .await?;
    ensure!(response.status() == 200, "remote read answered {}", response.status());
    let raw = snap::raw::Decoder::new().decompress_vec(&response.bytes().await?).context("snappy")?;
    let decoded = ReadResponse::decode(raw.as_slice()).context("ReadResponse")?;
    let mut out = BTreeMap::new();
    for series in decoded.results.into_iter().flat_map(|result| result.timeseries) {
        let index =
            series.labels.iter().find(|l| l.name == "series").map(|l| l.value.clone()).unwrap_or_default();
        let samples: BTreeMap<i64, u64> =
            series.samples.iter().map(|s| (s.timestamp, s.value.to_bits())).collect();
        out.insert(index, samples);
    }
    Ok(out)
}

async fn metric_value(
    client: &reqwest::Client,
    neocortex: &NeocortexProcess,
    name: &str,
) -> anyhow::Result<f64> {
    let body = client.get(format!("{}/metrics", neocortex.http_url())).send().await?.text().await?;
    let line =
        body.lines().find(|line| line.starts_with(name)).with_context(|| format!("{name} not exposed"))?;
    line.rsplit(' ').next().and_then(|v| v.parse().ok()).with_context(|| format!("unparsable line {line}"))
}

fn has_checkpoint(dir: &Path) -> bool {
    std::fs::read_dir(dir.join("data/wal")).is_ok_and(|entries| {
        entries.flatten().any(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.starts_with("checkpoint.") && !name.ends_with(".tmp")
        })
    })
}

/// Runs the load, kills the process mid-ingestion, restarts it and checks every acknowledged
/// sample. `extra` are additional flags; `wait_for_checkpoint` keeps the load running until a
/// checkpoint exists.
async fn kill_and_recover(extra: &[&'static str], wait_for_checkpoint: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let args = args(extra);
    let mut neocortex = NeocortexProcess::start_in(neocortex_binary(), dir.path(), &args).await?;
    let client = reqwest::Client::new();
    let stop = Arc::new(AtomicBool::new(false));
    let base_ms = now_ms() - 3_600_000;
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| tokio::spawn(push_until(neocortex.push_url(), task, base_ms, stop.clone())))
        .collect();

    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    if wait_for_checkpoint {
        while !has_checkpoint(dir.path()) {
            ensure!(started.elapsed() < Duration::from_secs(60), "no checkpoint within 60 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        ensure!(
            metric_value(&client, &neocortex, "cortex_ingester_checkpoint_creations_total").await? >= 1.0
        );
        // Keep pushing after the checkpoint so the kill lands between checkpoints.
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let logged = metric_value(&client, &neocortex, "cortex_ingester_wal_records_logged_total").await?;
    ensure!(logged > 0.0, "nothing logged to the WAL before the kill");
    // SIGKILL while the tasks are still pushing.
    neocortex.process().kill();
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged = Acknowledged::new();
    let mut failed = 0;
    for task in tasks {
        let (mine, task_failed) = task.await?;
        acknowledged.extend(mine);
        failed += task_failed;
    }
    let acknowledged_samples: usize = acknowledged.values().map(BTreeMap::len).sum();
    ensure!(
        acknowledged_samples >= TASKS * SERIES_PER_TASK * 3,
        "too little load: {acknowledged_samples} samples"
    );
    ensure!(failed > 0, "the kill did not land during ingestion (no push failed)");

    let mut neocortex = NeocortexProcess::start_in(neocortex_binary(), dir.path(), &args).await?;
    let replay = neocortex.process().find_output_line("WAL replayed").unwrap_or_default();
    let mut missing = 0usize;
    let mut wrong = 0usize;
    let mut example = String::new();
    for task in 0..TASKS {
        let read = remote_read(&client, &neocortex, &metric(task)).await?;
        for series in 0..SERIES_PER_TASK {
            let expected = acknowledged.get(&(task, series)).cloned().unwrap_or_default();
            let got = read.get(&series.to_string()).cloned().unwrap_or_default();
            for (timestamp_ms, bits) in &expected {
                match got.get(timestamp_ms) {
                    None => {
                        missing += 1;
                        if example.is_empty() {
                            example = format!("task {task} series {series} t={timestamp_ms} missing");
                        }
                    }
                    Some(found) if found != bits => {
                        wrong += 1;
                        example =
                            format!("task {task} series {series} t={timestamp_ms}: {found:x} != {bits:x}");
                    }
                    Some(_) => {}
                }
            }
            // Anything beyond the acknowledged samples can only be a push in flight at the kill.
            ensure!(
                got.len() <= expected.len() + 1,
                "task {task} series {series}: {} samples read back, {} acknowledged",
                got.len(),
                expected.len()
            );
        }
    }
    ensure!(
        missing == 0 && wrong == 0,
        "{missing} acknowledged samples missing and {wrong} wrong out of {acknowledged_samples} (e.g. {example}); {replay}"
    );
    println!("{acknowledged_samples} acknowledged samples all recovered; {replay}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_ingestion_loses_no_acknowledged_sample() -> anyhow::Result<()> {
    kill_and_recover(&[], false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_after_a_checkpoint_loses_no_acknowledged_sample() -> anyhow::Result<()> {
    kill_and_recover(&["-ingester.checkpoint-duration=1s"], true).await
}
