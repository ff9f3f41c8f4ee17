//! Differential test against the reference Prometheus 2.42 binary: the same synthetic data is
//! backfilled into a real Prometheus (`promtool tsdb create-blocks-from openmetrics`) and loaded
//! into `TestStorage`; every query's `data` JSON must be byte-identical, errors must have the same
//! `errorType`. Skipped when `prometheus`/`promtool` are not installed.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use neocortex_core::{Labels, Sample};
use neocortex_promql::test_storage::TestStorage;
use neocortex_promql::{Engine, EngineOptions};

const T0: i64 = 1_700_000_000;
const STEPS: i64 = 720;
const SCRAPE_S: i64 = 15;

/// A deterministic pseudo-random sequence (64-bit LCG).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

type Dataset = Vec<(Vec<(&'static str, String)>, Vec<(i64, f64)>)>;

fn dataset() -> Dataset {
    let mut rng = Lcg(42);
    let mut out: Dataset = Vec::new();
    for instance in 0..3 {
        for code in ["200", "500"] {
            let mut value = 0.0f64;
            let mut points = Vec::new();
            for i in 0..STEPS {
                if rng.next().is_multiple_of(100) {
                    value = 0.0;
                }
                value += (rng.next() % 20) as f64 * if code == "200" { 1.0 } else { 0.1 };
                points.push((T0 + i * SCRAPE_S, (value * 1000.0).round() / 1000.0));
            }
            let labels = vec![
                ("__name__", "http_requests_total".to_string()),
                ("code", code.to_string()),
                ("instance", format!("i{instance}")),
                ("job", "api".to_string()),
            ];
            out.push((labels, points));
        }
    }
    for (r, room) in ["a", "b", "c"].iter().enumerate() {
        let mut points = Vec::new();
        for i in 0..STEPS {
            if *room == "b" && (200..260).contains(&i) {
                continue;
            }
            let mut value = 20.0 + 5.0 * (i as f64 / 30.0 + r as f64).sin();
            value = (value * 10_000.0).round() / 10_000.0;
            if *room == "c" && i % 97 == 0 {
                value = f64::NAN;
            }
            points.push((T0 + i * SCRAPE_S, value));
        }
        out.push((vec![("__name__", "temp_celsius".to_string()), ("room", room.to_string())], points));
    }
    let bounds = ["0.05", "0.1", "0.25", "0.5", "1", "+Inf"];
    for instance in 0..2 {
        let mut counts = [0u64; 6];
        let mut series: Vec<Vec<(i64, f64)>> = vec![Vec::new(); bounds.len()];
        for i in 0..STEPS {
            for _ in 0..rng.next() % 10 {
                let observation = (rng.next() % 1000) as f64 / 1000.0;
                for (j, bound) in bounds.iter().enumerate() {
                    if *bound == "+Inf" || observation <= bound.parse::<f64>().unwrap_or(f64::INFINITY) {
                        counts[j] += 1;
                    }
                }
            }
            for (j, points) in series.iter_mut().enumerate() {
                points.push((T0 + i * SCRAPE_S, counts[j] as f64));
            }
        }
        for (bound, points) in bounds.iter().zip(series) {
            let labels = vec![
                ("__name__", "req_dur_seconds_bucket".to_string()),
                ("instance", format!("i{instance}")),
                ("le", bound.to_string()),
            ];
            out.push((labels, points));
        }
    }
    out
}

fn openmetrics(data: &Dataset) -> String {
    let mut text = String::new();
    let mut current = "";
    for (labels, points) in data {
        let name = labels[0].1.as_str();
        if name != current {
            text.push_str(&format!("# TYPE {name} unknown\n"));
            current = name;
        }
        let rendered: Vec<String> = labels[1..].iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        for (t, v) in points {
            let value = if v.is_nan() { "NaN".to_string() } else { format!("{v:?}") };
            text.push_str(&format!("{name}{{{}}} {value} {t}\n", rendered.join(",")));
        }
    }
    text.push_str("# EOF\n");
    text
}

const QUERIES: &[&str] = &[
    "http_requests_total",
    "rate(http_requests_total[5m])",
    "irate(http_requests_total[1m])",
    "increase(http_requests_total[10m])",
    "resets(http_requests_total[1h])",
    "delta(temp_celsius[10m])",
    "deriv(temp_celsius[10m])",
    "predict_linear(temp_celsius[15m], 600)",
    "changes(temp_celsius[30m])",
    "holt_winters(temp_celsius[10m], 0.3, 0.6)",
    "avg_over_time(temp_celsius[10m])",
    "sum_over_time(temp_celsius[10m])",
    "stddev_over_time(temp_celsius[10m])",
    "quantile_over_time(0.3, temp_celsius[10m])",
    "last_over_time(temp_celsius[10m])",
    "absent_over_time(temp_celsius{room=\"b\"}[1m])",
    "sum by (job) (rate(http_requests_total[5m]))",
    "sum without (instance) (rate(http_requests_total[5m]))",
    "avg(temp_celsius)",
    "stddev(temp_celsius)",
    "topk(2, rate(http_requests_total[5m]))",
    "bottomk(2, temp_celsius)",
    "quantile(0.9, temp_celsius)",
    "count_values(\"v\", round(temp_celsius))",
    "histogram_quantile(0.5, sum by (le) (rate(req_dur_seconds_bucket[5m])))",
    "rate(http_requests_total{code=\"500\"}[5m]) / ignoring(code) rate(http_requests_total{code=\"200\"}[5m])",
    "http_requests_total + on(instance) group_left(room) label_replace(temp_celsius, \"instance\", \"i$1\", \"room\", \"(.*)\")",
    "rate(http_requests_total[5m]) > bool 5",
    "temp_celsius < 18 or temp_celsius > 24",
    "temp_celsius unless temp_celsius{room=\"b\"}",
    "-temp_celsius ^ 1.5 % 7",
    "exp(temp_celsius / 10) + ln(temp_celsius) - log2(temp_celsius) * log10(temp_celsius)",
    "sin(temp_celsius) + cos(temp_celsius) + tan(temp_celsius) + atan(temp_celsius)",
    "sinh(temp_celsius / 10) + cosh(temp_celsius / 10) + tanh(temp_celsius - 20)",
    "asin(temp_celsius / 30) + acos(temp_celsius / 30) + asinh(temp_celsius) + acosh(temp_celsius)",
    "1 atan2 temp_celsius",
    "clamp(temp_celsius, 18, 22)",
    "round(temp_celsius, 0.5)",
    "timestamp(temp_celsius)",
    "day_of_week(timestamp(temp_celsius)) + hour() + minute()",
    "sort_desc(rate(http_requests_total[5m]))",
    "max_over_time(rate(http_requests_total[5m])[30m:1m])",
    "avg_over_time(sum(rate(http_requests_total[5m]))[15m:])",
    "sum_over_time(temp_celsius[10m:30s] @ 1700005000 offset 1m)",
    "rate(http_requests_total[5m] offset 10m)",
    "temp_celsius @ end()",
    "exp(temp_celsius * 30)",
    "exp(-temp_celsius * 30)",
    "scalar(sum(temp_celsius))",
    "vector(time())",
    "http_requests_total + on(job) http_requests_total",
    "label_replace(http_requests_total, \"code\", \"\", \"\", \"\")",
    "topk(NaN, temp_celsius)",
    "sort(temp_celsius / 0 * 0)",
    "sum_over_time(rate(http_requests_total[5m])[10m:1m] @ 1700004000)",
    "min_over_time(sum by (code) (http_requests_total)[20m:3m] offset 7m)",
    "sum by (instance) (http_requests_total) > on(instance) group_right(code) http_requests_total",
    "count_values without (instance) (\"v\", round(rate(http_requests_total[5m])))",
    "absent(temp_celsius{room=\"x\", job=\"y\"})",
    "year(vector(1700005000)) + day_of_year(vector(1700005000)) + days_in_month(vector(1700005000))",
];

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_once("\r\n\r\n").map(|(_, body)| body.to_string())
}

struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn on_path(binary: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(binary).is_file()))
}

fn start_prometheus(dir: &Path) -> (Prometheus, u16) {
    let port = free_port();
    std::fs::write(dir.join("prometheus.yml"), "global: {}\n").expect("write config");
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
        .arg("--storage.tsdb.retention.time=100y")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let prometheus = Prometheus(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if http_get(port, "/-/ready").is_some_and(|body| body.contains("Ready")) {
            return (prometheus, port);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("prometheus did not become ready on port {port}");
}

/// Prometheus leaves the order of an instant vector unspecified unless the query sorts it (its
/// aggregations iterate Go maps), so outside `sort`/`sort_desc` two vectors that hold the same
/// elements in another order are equal. `path` is the request path, whose query names `sort` when
/// the order matters.
fn same_ignoring_vector_order(path: &str, theirs: &str, ours: &str) -> bool {
    if path.contains("sort") {
        return false;
    }
    let sorted = |text: &str| -> Option<serde_json::Value> {
        let mut value: serde_json::Value = serde_json::from_str(text).ok()?;
        if value.get("resultType")?.as_str()? != "vector" {
            return None;
        }
        let result = value.get_mut("result")?.as_array_mut()?;
        result.sort_by_key(|element| element.get("metric").map(|m| m.to_string()).unwrap_or_default());
        Some(value)
    };
    match (sorted(theirs), sorted(ours)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The `data` object of a Prometheus API response, or `error:<type>`.
fn prometheus_result(body: &str) -> String {
    if let Some(start) = body.find("\"data\":") {
        return body[start + 7..body.len() - 1].to_string();
    }
    let error_type =
        body.split("\"errorType\":\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap_or("?");
    format!("error:{error_type}")
}

#[test]
fn byte_identical_to_prometheus_2_42() {
    if !on_path("prometheus") || !on_path("promtool") {
        eprintln!("skipping: prometheus/promtool not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dataset();
    std::fs::write(dir.path().join("data.om"), openmetrics(&data)).expect("write openmetrics");
    let status = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(dir.path().join("data.om"))
        .arg(dir.path().join("tsdb"))
        .stdout(Stdio::null())
        .status()
        .expect("run promtool");
    assert!(status.success(), "promtool backfill failed");
    let (_prometheus, port) = start_prometheus(dir.path());

    let storage = TestStorage::new();
    for (labels, points) in &data {
        let labels = Labels::from_pairs(labels.iter().map(|(k, v)| (k.to_string(), v.clone())));
        storage.add(labels, points.iter().map(|&(t, v)| Sample { timestamp_ms: t * 1000, value: v }));
    }
    let engine = Engine::new(EngineOptions::default());
    let mut mismatches = Vec::new();
    let mut compared = 0;
    for query in QUERIES {
        let encoded = url_encode(query);
        let mut cases: Vec<(String, String)> = Vec::new();
        for time in ["1700003000", "1700005123.456", "1700010000"] {
            let ours = futures::executor::block_on(engine.instant_query(
                &storage,
                query,
                (time.parse::<f64>().unwrap_or(0.0) * 1000.0) as i64,
            ));
            let path = format!("/api/v1/query?query={encoded}&time={time}");
            cases.push((
                path,
                ours.map(|v| v.to_json())
                    .unwrap_or_else(|e| format!("error:{}", e.code().prometheus_error_type())),
            ));
        }
        for (start, end, step) in [
            (1_700_000_000_000i64, 1_700_010_000_000i64, 60_000i64),
            (1_700_001_000_500, 1_700_003_000_000, 37_500),
        ] {
            let ours = futures::executor::block_on(engine.range_query(&storage, query, start, end, step));
            let path = format!(
                "/api/v1/query_range?query={encoded}&start={}&end={}&step={}",
                start as f64 / 1000.0,
                end as f64 / 1000.0,
                step as f64 / 1000.0
            );
            cases.push((
                path,
                ours.map(|v| v.to_json())
                    .unwrap_or_else(|e| format!("error:{}", e.code().prometheus_error_type())),
            ));
        }
        for (path, ours) in cases {
            let body = http_get(port, &path).expect("query prometheus");
            let theirs = prometheus_result(&body);
            compared += 1;
            if theirs != ours && !same_ignoring_vector_order(&path, &theirs, &ours) {
                mismatches.push(format!(
                    "{query}\n  path: {path}\n  prometheus: {:.300}\n  neocortex:  {:.300}",
                    theirs, ours
                ));
            }
        }
    }
    println!("compared {compared} results with prometheus, {} differ", mismatches.len());
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
