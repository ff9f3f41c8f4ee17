//! Every sample survives a restart through the chunk store: the real binary ingests two days of
//! past data (counters and gauges, 240 series locally, 12 or 24 on the emulated clouds, pushed in time order), flushes (`POST
//! /flush?wait=true`), is killed, loses its WAL directory, restarts with empty ingester memory,
//! and answers `query_range`, `series` and remote read with every sample, identical.
//!
//! Each storage backend is one [`BackendCase`]: the `schema:` and `storage:` sections of the YAML
//! config file (`-config.file`) that select it, as a user writes them, and the servers it needs
//! (moto for aws — DynamoDB index with S3 chunks, and with chunks in DynamoDB chunk tables —,
//! cbtemulator + fake-gcs-server for gcp — Bigtable index with GCS chunks, and cbtemulator alone
//! with chunks in Bigtable chunk tables —, Azurite for azure, started by
//! `neocortex-testkit`); the scenario is the same for all of them. A missing emulator skips its
//! case with a notice, or fails it under `CI=true` saying what to install. Cassandra cannot run
//! here: its case checks that the binary accepts the config and refuses to start with a clear
//! connection error.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context};
use neocortex_proto::prometheus::{
    label_matcher, read_request, LabelMatcher, Query, ReadRequest, ReadResponse,
};
use neocortex_testkit::azurite::{
    azurite_binary, AzuriteProcess, AZURITE_ACCOUNT, AZURITE_INSTALL_HINT, AZURITE_KEY,
};
use neocortex_testkit::bigtable_emulator::{
    cbtemulator_binary, BigtableEmulatorProcess, CBTEMULATOR_INSTALL_HINT,
};
use neocortex_testkit::external::require_binary;
use neocortex_testkit::fake_gcs::{fake_gcs_binary, FakeGcsProcess, FAKE_GCS_INSTALL_HINT};
use neocortex_testkit::http::{remote_write_request, send};
use neocortex_testkit::moto::MotoProcess;
use neocortex_testkit::remote_write::{encode_write_request, now_ms, snappy_compress, RawSeries};
use neocortex_testkit::NeocortexProcess;
use prost::Message;

fn neocortex_binary() -> &'static str {
    env!("CARGO_BIN_EXE_neocortex")
}

const MINUTE_MS: i64 = 60_000;
/// The scrape interval of the generated data.
const STEP_MS: i64 = MINUTE_MS;
/// Two days at one sample a minute.
const SAMPLES: i64 = 2 * 24 * 60;
/// The local case's data set: 240 series, 691,200 samples.
const LOCAL_SCALE: usize = 20;
/// The emulated cloud backends' data set: 24 series, 69,120 samples.
const CLOUD_SCALE: usize = 2;
/// moto's DynamoDB Query lists and sorts every item of the table (moto 5.2
/// `Table.query` → `all_items()`), so each Query costs O(table size) and reading back costs
/// O(series²): 12 series, 34,560 samples, every metric and both value kinds still present.
const AWS_SCALE: usize = 1;
/// Overrides [`AWS_SCALE`] for measurements (e.g. `NEOCORTEX_RESTART_AWS_SCALE=4`).
const AWS_SCALE_VAR: &str = "NEOCORTEX_RESTART_AWS_SCALE";
/// Samples per series in one push request: one hour.
const SAMPLES_PER_PUSH: i64 = 60;

/// Labels as a sorted map, the form every API answer is compared in.
type LabelMap = BTreeMap<String, String>;
/// Every series of the data set with its samples.
type DataSet = BTreeMap<LabelMap, Vec<(i64, f64)>>;

/// One storage backend under test: what selects it and the servers it needs.
struct BackendCase {
    /// Shown in failures.
    name: &'static str,
    /// The `schema:` and `storage:` sections of the config file.
    yaml: String,
    /// The size of the data set: `12 * scale` series (see [`dataset`]).
    scale: usize,
    /// Servers that must outlive both processes (a moto server's request log is counted).
    servers: Vec<Box<dyn std::any::Any + Send>>,
}

/// One schema period from 2020-01-01, weekly index tables, the given stores.
fn schema_yaml(store: &str, object_store: &str) -> String {
    format!(
        "schema:\n  configs:\n    - from: 2020-01-01\n      store: {store}\n      object_store: {object_store}\n\
         \x20     schema: v11\n      index:\n        prefix: restart_index_\n        period: 168h\n"
    )
}

/// One schema period from 2020-01-01 whose chunks live in the index store's own periodic chunk
/// tables: `object_store` is left out, so (as in Cortex) it is `store` — `aws-dynamo` keeps
/// chunks in DynamoDB, `bigtable` in Bigtable.
fn schema_yaml_with_chunk_tables(store: &str) -> String {
    format!(
        "schema:\n  configs:\n    - from: 2020-01-01\n      store: {store}\n      schema: v11\n\
         \x20     index:\n        prefix: restart_index_\n        period: 168h\n\
         \x20     chunks:\n        prefix: restart_chunks_\n        period: 168h\n"
    )
}

/// The local default spelled out: redb index (Cortex's `boltdb` key) and filesystem chunks
/// under the working directory.
fn local_case() -> BackendCase {
    let yaml = schema_yaml("boltdb", "filesystem")
        + "storage:\n  boltdb:\n    directory: ./data/index\n  filesystem:\n    directory: ./data/chunks\n";
    BackendCase { name: "local", yaml, scale: LOCAL_SCALE, servers: Vec::new() }
}

/// DynamoDB index and S3 chunks on one moto server; `None` when moto is missing outside CI.
async fn aws_case() -> anyhow::Result<Option<BackendCase>> {
    let Some(moto) = MotoProcess::start_or_skip("aws_backend_keeps_every_sample_across_a_restart").await?
    else {
        return Ok(None);
    };
    moto.create_bucket("restart-chunks").await.map_err(anyhow::Error::msg)?;
    let port = moto.port();
    let yaml = schema_yaml("aws-dynamo", "s3")
        + &format!(
            "storage:\n  aws:\n    dynamodb:\n      dynamodb_url: http://test:test@127.0.0.1:{port}\n\
             \x20   s3: http://test:test@127.0.0.1:{port}/restart-chunks\n    s3forcepathstyle: true\n"
        );
    let scale = std::env::var(AWS_SCALE_VAR).ok().and_then(|s| s.parse().ok()).unwrap_or(AWS_SCALE);
    Ok(Some(BackendCase { name: "aws", yaml, scale, servers: vec![Box::new(moto)] }))
}

/// DynamoDB index and chunks in DynamoDB chunk tables on moto, no S3 configured at all.
async fn aws_dynamo_chunks_case() -> anyhow::Result<Option<BackendCase>> {
    let test = "aws_with_chunks_in_dynamodb_keeps_every_sample_across_a_restart";
    let Some(moto) = MotoProcess::start_or_skip(test).await? else {
        return Ok(None);
    };
    let port = moto.port();
    let yaml = schema_yaml_with_chunk_tables("aws-dynamo")
        + &format!(
            "storage:\n  aws:\n    dynamodb:\n      dynamodb_url: http://test:test@127.0.0.1:{port}\n"
        );
    let scale = std::env::var(AWS_SCALE_VAR).ok().and_then(|s| s.parse().ok()).unwrap_or(AWS_SCALE);
    Ok(Some(BackendCase { name: "aws-dynamo chunks", yaml, scale, servers: vec![Box::new(moto)] }))
}

/// Bigtable index and chunks in Bigtable chunk tables on cbtemulator, no GCS configured at all.
async fn gcp_bigtable_chunks_case() -> anyhow::Result<Option<BackendCase>> {
    let test = "gcp_with_chunks_in_bigtable_keeps_every_sample_across_a_restart";
    let Some(cbtemulator) = require_binary(cbtemulator_binary(), test, CBTEMULATOR_INSTALL_HINT) else {
        return Ok(None);
    };
    let bigtable = BigtableEmulatorProcess::start(&cbtemulator).await?;
    let yaml = schema_yaml_with_chunk_tables("bigtable")
        + &format!(
            "storage:\n  bigtable:\n    project: neocortex\n    instance: restart\n    emulator_host: {}\n",
            bigtable.host()
        );
    Ok(Some(BackendCase {
        name: "bigtable chunks",
        yaml,
        scale: CLOUD_SCALE,
        servers: vec![Box::new(bigtable)],
    }))
}

/// Bigtable index on cbtemulator and GCS chunks on fake-gcs-server.
async fn gcp_case() -> anyhow::Result<Option<BackendCase>> {
    let test = "gcp_backend_keeps_every_sample_across_a_restart";
    let Some(cbtemulator) = require_binary(cbtemulator_binary(), test, CBTEMULATOR_INSTALL_HINT) else {
        return Ok(None);
    };
    let Some(fake_gcs) = require_binary(fake_gcs_binary(), test, FAKE_GCS_INSTALL_HINT) else {
        return Ok(None);
    };
    let bigtable = BigtableEmulatorProcess::start(&cbtemulator).await?;
    let gcs = FakeGcsProcess::start(&fake_gcs).await?;
    gcs.create_bucket("restart-chunks").await?;
    let yaml = schema_yaml("bigtable", "gcs")
        + &format!(
            "storage:\n  bigtable:\n    project: neocortex\n    instance: restart\n    emulator_host: {}\n\
             \x20 gcs:\n    bucket_name: restart-chunks\n    endpoint: {}\n",
            bigtable.host(),
            gcs.url()
        );
    Ok(Some(BackendCase {
        name: "gcp",
        yaml,
        scale: CLOUD_SCALE,
        servers: vec![Box::new(bigtable), Box::new(gcs)],
    }))
}

/// The embedded redb index and chunks in Azure Blob storage on Azurite.
async fn azure_case() -> anyhow::Result<Option<BackendCase>> {
    let test = "azure_backend_keeps_every_sample_across_a_restart";
    let Some(binary) = require_binary(azurite_binary(), test, AZURITE_INSTALL_HINT) else {
        return Ok(None);
    };
    let azurite = AzuriteProcess::start(&binary).await?;
    azurite.create_container("restart-chunks").await?;
    let yaml = schema_yaml("boltdb", "azure")
        + &format!(
            "storage:\n  boltdb:\n    directory: ./data/index\n  azure:\n    container_name: restart-chunks\n\
             \x20   account_name: {AZURITE_ACCOUNT}\n    account_key: {AZURITE_KEY}\n    endpoint: {}\n",
            azurite.blob_endpoint()
        );
    Ok(Some(BackendCase { name: "azure", yaml, scale: CLOUD_SCALE, servers: vec![Box::new(azurite)] }))
}

/// A small deterministic generator, so values have full-precision fractions.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn labels(pairs: &[(&str, &str)]) -> LabelMap {
    pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect()
}

/// Counters and gauges over `12 * scale` series, one sample a minute from `start_ms` for two days.
fn dataset(start_ms: i64, scale: usize) -> DataSet {
    let mut series: Vec<(LabelMap, bool)> = Vec::new();
    for instance in 0..scale {
        let instance = format!("10.0.0.{instance}:8080");
        for method in ["GET", "POST"] {
            for code in ["200", "500"] {
                let pairs = [
                    ("__name__", "restart_http_requests_total"),
                    ("code", code),
                    ("instance", &instance),
                    ("job", "api"),
                    ("method", method),
                ];
                series.push((labels(&pairs), true));
            }
        }
        for mode in ["idle", "system", "user"] {
            let pairs = [
                ("__name__", "restart_cpu_seconds_total"),
                ("instance", &instance),
                ("job", "node"),
                ("mode", mode),
            ];
            series.push((labels(&pairs), true));
        }
    }
    for instance in 0..3 * scale {
        let instance = format!("10.0.1.{instance}:9100");
        let pairs = [("__name__", "restart_memory_free_bytes"), ("instance", &instance), ("job", "node")];
        series.push((labels(&pairs), false));
    }
    for queue in 0..2 * scale {
        let queue = format!("q{queue}");
        let pairs = [("__name__", "restart_queue_depth"), ("job", "worker"), ("queue", &queue)];
        series.push((labels(&pairs), false));
    }
    let mut out = DataSet::new();
    for (index, (labels, counter)) in series.into_iter().enumerate() {
        let mut noise = Noise(0x9e37_79b9_7f4a_7c15 ^ (index as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d));
        let mut total = 0.0;
        let samples = (0..SAMPLES)
            .map(|i| {
                let value = if counter {
                    total += noise.next() * 50.0;
                    total
                } else {
                    1e6 * (1.0 + ((i as f64) / 90.0 + index as f64).sin()) + noise.next()
                };
                (start_ms + i * STEP_MS, value)
            })
            .collect();
        out.insert(labels, samples);
    }
    out
}

fn metric_names(data: &DataSet) -> Vec<String> {
    let mut names: Vec<String> = data.keys().map(|l| l["__name__"].clone()).collect();
    names.dedup();
    names
}

fn of_metric(data: &DataSet, metric: &str) -> DataSet {
    data.iter().filter(|(l, _)| l["__name__"] == metric).map(|(l, s)| (l.clone(), s.clone())).collect()
}

/// Pushes the data set one hour at a time, every series in each request, in time order.
async fn ingest(
    client: &reqwest::Client,
    neocortex: &NeocortexProcess,
    data: &DataSet,
) -> anyhow::Result<()> {
    for hour in 0..SAMPLES / SAMPLES_PER_PUSH {
        let range = (hour * SAMPLES_PER_PUSH) as usize..((hour + 1) * SAMPLES_PER_PUSH) as usize;
        let series: Vec<RawSeries> = data
            .iter()
            .map(|(labels, samples)| {
                let pairs: Vec<(&str, &str)> = labels.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                RawSeries::new(&pairs, &samples[range.clone()])
            })
            .collect();
        let body = snappy_compress(&encode_write_request(&series));
        let (status, text) = send(remote_write_request(client, &neocortex.push_url(), body)).await?;
        ensure!(status == 200, "push of hour {hour} answered {status}: {text}");
    }
    Ok(())
}

async fn flush(client: &reqwest::Client, neocortex: &NeocortexProcess) -> anyhow::Result<()> {
    let url = format!("{}/flush?wait=true", neocortex.http_url());
    let (status, text) = send(client.post(url).timeout(Duration::from_secs(600))).await?;
    ensure!(status == 204 || status == 200, "/flush answered {status}: {text}");
    Ok(())
}

/// The value of the unlabelled exposition line of `name`.
async fn gauge(client: &reqwest::Client, neocortex: &NeocortexProcess, name: &str) -> anyhow::Result<f64> {
    let (_, text) = send(client.get(format!("{}/metrics", neocortex.http_url()))).await?;
    let line = text
        .lines()
        .find(|line| line.split([' ', '{']).next() == Some(name))
        .with_context(|| format!("{name} is not exposed"))?;
    line.rsplit(' ').next().and_then(|v| v.parse().ok()).with_context(|| format!("unparsable line {line:?}"))
}

fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

async fn get_json(
    client: &reqwest::Client,
    url: &str,
    query: &[(&str, String)],
) -> anyhow::Result<serde_json::Value> {
    let response = client.get(url).query(query).timeout(Duration::from_secs(300)).send().await?;
    let status = response.status();
    let text = response.text().await?;
    ensure!(status.is_success(), "GET {url} {query:?} answered {status}: {text}");
    let json: serde_json::Value = serde_json::from_str(&text).context("answer is not JSON")?;
    ensure!(json["status"] == "success", "GET {url} {query:?}: {text}");
    Ok(json)
}

fn label_map(value: &serde_json::Value) -> anyhow::Result<LabelMap> {
    let object = value.as_object().context("labels are not an object")?;
    object
        .iter()
        .map(|(name, value)| {
            Ok((name.clone(), value.as_str().context("label value is not a string")?.to_string()))
        })
        .collect()
}

/// `query_range` of the bare metric with step = scrape interval from the first to the last
/// sample: each step lands on a sample, so the answer is the raw samples.
async fn query_range(
    client: &reqwest::Client,
    neocortex: &NeocortexProcess,
    metric: &str,
    start_ms: i64,
) -> anyhow::Result<DataSet> {
    let url = format!("{}/query_range", neocortex.prometheus_api_url());
    let end_ms = start_ms + (SAMPLES - 1) * STEP_MS;
    let params = [
        ("query", metric.to_string()),
        ("start", seconds(start_ms)),
        ("end", seconds(end_ms)),
        ("step", seconds(STEP_MS)),
    ];
    let json = get_json(client, &url, &params).await?;
    ensure!(json["data"]["resultType"] == "matrix", "{metric}: not a matrix");
    let mut out = DataSet::new();
    for series in json["data"]["result"].as_array().context("no result")? {
        let mut samples = Vec::new();
        for pair in series["values"].as_array().context("no values")? {
            let time = pair[0].as_f64().context("timestamp is not a number")?;
            let value: f64 = pair[1].as_str().context("value is not a string")?.parse()?;
            samples.push(((time * 1000.0).round() as i64, value));
        }
        out.insert(label_map(&series["metric"])?, samples);
    }
    Ok(out)
}

async fn series_api(
    client: &reqwest::Client,
    neocortex: &NeocortexProcess,
    metric: &str,
    start_ms: i64,
) -> anyhow::Result<Vec<LabelMap>> {
    let url = format!("{}/series", neocortex.prometheus_api_url());
    let end_ms = start_ms + (SAMPLES - 1) * STEP_MS;
    let params = [("match[]", metric.to_string()), ("start", seconds(start_ms)), ("end", seconds(end_ms))];
    let json = get_json(client, &url, &params).await?;
    json["data"].as_array().context("data is not a list")?.iter().map(label_map).collect()
}

async fn remote_read(
    client: &reqwest::Client,
    neocortex: &NeocortexProcess,
    metric: &str,
    start_ms: i64,
) -> anyhow::Result<DataSet> {
    let request = ReadRequest {
        queries: vec![Query {
            start_timestamp_ms: start_ms,
            end_timestamp_ms: start_ms + SAMPLES * STEP_MS,
            matchers: vec![LabelMatcher {
                r#type: label_matcher::Type::Eq as i32,
                name: "__name__".to_string(),
                value: metric.to_string(),
            }],
            hints: None,
        }],
        accepted_response_types: vec![read_request::ResponseType::Samples as i32],
    };
    let response = client
        .post(format!("{}/read", neocortex.prometheus_api_url()))
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Read-Version", "0.1.0")
        .body(snappy_compress(&request.encode_to_vec()))
        .timeout(Duration::from_secs(300))
        .send()
        .await?;
    let status = response.status();
    let body = response.bytes().await?;
    ensure!(
        status.is_success(),
        "remote read of {metric} answered {status}: {}",
        String::from_utf8_lossy(&body)
    );
    let decoded = snap::raw::Decoder::new().decompress_vec(&body).context("answer is not snappy")?;
    let answer = ReadResponse::decode(decoded.as_slice()).context("answer is not a ReadResponse")?;
    let mut out = DataSet::new();
    for result in answer.results {
        for series in result.timeseries {
            let labels = series.labels.into_iter().map(|l| (l.name, l.value)).collect();
            out.insert(labels, series.samples.into_iter().map(|s| (s.timestamp, s.value)).collect());
        }
    }
    Ok(out)
}

/// Compares two data sets exactly (values by their bits), naming the first difference.
fn assert_identical(what: &str, got: &DataSet, want: &DataSet) -> anyhow::Result<()> {
    ensure!(
        got.len() == want.len(),
        "{what}: {} series, want {}; first missing: {:?}",
        got.len(),
        want.len(),
        want.keys().find(|l| !got.contains_key(*l))
    );
    for (labels, samples) in want {
        let got_samples = got.get(labels).with_context(|| format!("{what}: series {labels:?} missing"))?;
        ensure!(
            got_samples.len() == samples.len(),
            "{what}: {labels:?} has {} samples, want {}",
            got_samples.len(),
            samples.len()
        );
        for (got, want) in got_samples.iter().zip(samples) {
            ensure!(
                got.0 == want.0 && got.1.to_bits() == want.1.to_bits(),
                "{what}: {labels:?} has {got:?} where {want:?} was written"
            );
        }
    }
    Ok(())
}

/// Reads every sample back through the three APIs.
async fn read_back(
    client: &reqwest::Client,
    neocortex: &NeocortexProcess,
    data: &DataSet,
    start_ms: i64,
    when: &str,
) -> anyhow::Result<usize> {
    let mut samples = 0;
    for metric in metric_names(data) {
        let want = of_metric(data, &metric);
        samples += want.values().map(Vec::len).sum::<usize>();
        let ranged = query_range(client, neocortex, &metric, start_ms).await?;
        assert_identical(&format!("{when}: query_range {metric}"), &ranged, &want)?;
        let read = remote_read(client, neocortex, &metric, start_ms).await?;
        assert_identical(&format!("{when}: remote read {metric}"), &read, &want)?;
        let series = series_api(client, neocortex, &metric, start_ms).await?;
        let want_series: Vec<LabelMap> = want.keys().cloned().collect();
        ensure!(series == want_series, "{when}: series {metric}: {series:?}, want {want_series:?}");
    }
    Ok(samples)
}

/// The DynamoDB and other (S3) requests moto has logged so far, empty without moto: the index
/// cost of a phase on moto is its Query count times a per-Query cost that grows with the table.
fn moto_counts(case: &mut BackendCase) -> String {
    for keep in case.servers.iter_mut() {
        if let Some(moto) = keep.downcast_mut::<MotoProcess>() {
            let lines = moto.process().output_lines();
            let dynamo = lines.iter().filter(|l| l.contains("\"POST / HTTP")).count();
            let other = lines.iter().filter(|l| l.contains(" HTTP/1.1\"")).count().saturating_sub(dynamo);
            return format!("[moto: {dynamo} dynamodb requests, {other} other]");
        }
    }
    String::new()
}

/// Writes the case's config file into `directory` and returns the flags of both starts.
fn common_args(case: &BackendCase, directory: &Path) -> anyhow::Result<Vec<String>> {
    let config = directory.join("neocortex.yaml");
    std::fs::write(&config, &case.yaml).with_context(|| format!("writing {}", config.display()))?;
    let mut args: Vec<String> = [
        "-auth.enabled=false",
        "-distributor.ingestion-rate-limit=1000000000",
        "-distributor.ingestion-burst-size=1000000000",
        "-querier.query-store-for-labels-enabled=true",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("-config.file={}", config.display()));
    Ok(args)
}

/// The whole scenario for one backend.
async fn ingest_flush_restart_read_back(mut case: BackendCase, directory: &Path) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let args = common_args(&case, directory)?;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // Two days ending an hour ago, on a minute boundary.
    let start_ms = (now_ms() - SAMPLES * STEP_MS - 60 * MINUTE_MS).div_euclid(MINUTE_MS) * MINUTE_MS;
    let data = dataset(start_ms, case.scale);
    let started = std::time::Instant::now();
    let name = case.name;
    let mut phase = |what: &str| {
        let counts = moto_counts(&mut case);
        eprintln!("{name}: {what} after {:.1?} {counts}", started.elapsed())
    };

    let mut first = NeocortexProcess::start_in(neocortex_binary(), directory, &args)
        .await
        .with_context(|| format!("{name}: first start"))?;
    ingest(&client, &first, &data).await.with_context(|| format!("{name}: ingest"))?;
    phase("ingested");
    flush(&client, &first).await.with_context(|| format!("{name}: flush"))?;
    phase("flushed");
    // Flushed chunks are still retained in memory: both sources answer and must agree.
    read_back(&client, &first, &data, start_ms, "before restart")
        .await
        .with_context(|| format!("{name}: read back before restart"))?;
    phase("read back before the restart");
    first.process().kill();
    drop(first);

    let wal = directory.join("data").join("wal");
    if wal.exists() {
        std::fs::remove_dir_all(&wal).with_context(|| format!("removing {}", wal.display()))?;
    }

    let second = NeocortexProcess::start_in(neocortex_binary(), directory, &args)
        .await
        .with_context(|| format!("{name}: restart"))?;
    let in_memory = gauge(&client, &second, "cortex_ingester_memory_series").await?;
    ensure!(in_memory == 0.0, "{name}: ingester memory holds {in_memory} series after the restart");
    phase("restarted");
    let samples = read_back(&client, &second, &data, start_ms, "after restart")
        .await
        .with_context(|| format!("{name}: read back after restart"))?;
    ensure!(samples == data.len() * SAMPLES as usize, "{name}: compared {samples} samples");
    phase(&format!("{} series, {samples} samples read back identical after the restart", data.len()));
    Ok(())
}

/// Runs the scenario for a case in a fresh directory (the case is `None` when skipped).
async fn run_case(case: Option<BackendCase>) -> anyhow::Result<()> {
    let Some(case) = case else { return Ok(()) };
    let directory = tempfile::Builder::new()
        .prefix(&format!("neocortex-restart-{}-", case.name.replace(' ', "-")))
        .tempdir()?;
    ingest_flush_restart_read_back(case, directory.path()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_backend_keeps_every_sample_across_a_restart() -> anyhow::Result<()> {
    run_case(Some(local_case())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_backend_keeps_every_sample_across_a_restart() -> anyhow::Result<()> {
    run_case(aws_case().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_backend_keeps_every_sample_across_a_restart() -> anyhow::Result<()> {
    run_case(gcp_case().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_with_chunks_in_dynamodb_keeps_every_sample_across_a_restart() -> anyhow::Result<()> {
    run_case(aws_dynamo_chunks_case().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_with_chunks_in_bigtable_keeps_every_sample_across_a_restart() -> anyhow::Result<()> {
    run_case(gcp_bigtable_chunks_case().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_backend_keeps_every_sample_across_a_restart() -> anyhow::Result<()> {
    run_case(azure_case().await?).await
}

/// No Cassandra server can run here: the binary must accept a config naming cassandra and
/// refuse to start with an error naming the node it could not reach.
#[tokio::test]
async fn cassandra_config_is_accepted_and_an_unreachable_cluster_stops_the_start() -> anyhow::Result<()> {
    let directory = tempfile::Builder::new().prefix("neocortex-restart-cassandra-").tempdir()?;
    // A loopback port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let yaml = format!(
        "schema:\n  configs:\n    - from: 2020-01-01\n      store: cassandra\n      schema: v11\n\
         \x20     index: {{prefix: restart_index_, period: 168h}}\n      chunks: {{prefix: restart_chunks_, period: 168h}}\n\
         storage:\n  cassandra:\n    addresses: 127.0.0.1\n    port: {port}\n    keyspace: cortex\n    connect_timeout: 1s\n"
    );
    let config = directory.path().join("neocortex.yaml");
    std::fs::write(&config, yaml)?;
    let child = std::process::Command::new(neocortex_binary())
        .current_dir(directory.path())
        .args([
            "-server.http-listen-address=127.0.0.1",
            "-server.http-listen-port=0",
            "-server.grpc-listen-address=127.0.0.1",
            "-server.grpc-listen-port=0",
        ])
        .arg(format!("-config.file={}", config.display()))
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(|| child.wait_with_output()),
    )
    .await
    .context("the binary kept running against an unreachable Cassandra")???;
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    ensure!(!output.status.success(), "the binary exited successfully: {text}");
    ensure!(!text.contains("unknown field"), "the config was refused: {text}");
    ensure!(text.contains(&format!("cannot connect to 127.0.0.1:{port}")), "no connection error: {text}");
    Ok(())
}
