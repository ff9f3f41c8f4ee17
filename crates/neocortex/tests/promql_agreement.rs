//! Agreement with a real Prometheus 2.42: the same deterministic four hours of data (counters with
//! resets, gauges with NaN samples and gaps, classic histograms, series that stop and restart with
//! and without explicit staleness markers) are remote-written into a scrape-less Prometheus and
//! into the `neocortex` binary, then hundreds of generated queries run against both HTTP APIs as
//! instant queries at several times (the data's edges included) and as range queries at several
//! steps. Answers must be equal: the same series, timestamps, values within 1e-6 relative (NaN
//! equals NaN), and errors of the same `errorType`.
//!
//! Skipped with a message when `prometheus` is not installed, except under `CI=true`, where a
//! missing Prometheus fails the test.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{bail, ensure, Context};
use neocortex_core::STALE_NAN_BITS;
use neocortex_testkit::http::{remote_write_request, send};
use neocortex_testkit::prometheus_storage::binary_available;
use neocortex_testkit::remote_write::{encode_write_request, snappy_compress, RawSeries};
use neocortex_testkit::{NeocortexProcess, PrometheusStorageProcess};
use serde_json::Value;

/// First sample: 2023-11-14T22:00:00Z.
const START_MS: i64 = 1_699_999_200_000;
/// Scrape interval of the generated data.
const INTERVAL_MS: i64 = 15_000;
/// Samples per series slot: four hours.
const SLOTS: i64 = 4 * 3600 * 1000 / INTERVAL_MS;
/// Timestamp of the last slot.
const END_MS: i64 = START_MS + (SLOTS - 1) * INTERVAL_MS;
/// Slots per remote-write request (every series, time-ordered, so Prometheus's head accepts them).
const SLOTS_PER_REQUEST: i64 = 40;
/// Relative tolerance on values.
const RELATIVE_TOLERANCE: f64 = 1e-6;
/// Absolute tolerance for values that should be zero but differ by float rounding.
const ABSOLUTE_TOLERANCE: f64 = 1e-12;

fn neocortex_binary() -> &'static str {
    env!("CARGO_BIN_EXE_neocortex")
}

// ---------------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------------

/// A deterministic pseudo-random sequence (64-bit linear congruential generator).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// One generated series: labels (name first) and `(slot, value)` samples in slot order.
struct GeneratedSeries {
    labels: Vec<(String, String)>,
    samples: Vec<(i64, f64)>,
}

impl GeneratedSeries {
    fn new(name: &str, labels: &[(&str, &str)]) -> GeneratedSeries {
        let mut all = vec![("__name__".to_owned(), name.to_owned())];
        all.extend(labels.iter().map(|(label, value)| ((*label).to_owned(), (*value).to_owned())));
        GeneratedSeries { labels: all, samples: Vec::new() }
    }
}

fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

fn slot_ms(slot: i64) -> i64 {
    START_MS + slot * INTERVAL_MS
}

/// Counters `nc_requests_total{job,instance,code}` with occasional resets.
fn request_counters(rng: &mut Lcg) -> Vec<GeneratedSeries> {
    let mut out = Vec::new();
    for job in ["api", "web"] {
        for instance in ["a:80", "b:80"] {
            for code in ["200", "500"] {
                let mut series = GeneratedSeries::new(
                    "nc_requests_total",
                    &[("job", job), ("instance", instance), ("code", code)],
                );
                let mut value = rng.below(1000) as f64;
                for slot in 0..SLOTS {
                    if rng.below(150) == 0 {
                        value = rng.below(5) as f64;
                    }
                    let step = rng.below(20) as f64;
                    value += if code == "200" { step } else { step * 0.5 };
                    series.samples.push((slot, value));
                }
                out.push(series);
            }
        }
    }
    out
}

/// Gauges `nc_temperature{room}` (NaN samples in the attic, a 15-minute gap in the hall) and
/// `nc_temperature_limit{room}` to match them against.
fn temperatures() -> Vec<GeneratedSeries> {
    let mut out = Vec::new();
    for (index, room) in ["kitchen", "hall", "attic"].iter().enumerate() {
        let mut series = GeneratedSeries::new("nc_temperature", &[("room", room)]);
        let mut limit = GeneratedSeries::new("nc_temperature_limit", &[("room", room)]);
        for slot in 0..SLOTS {
            limit.samples.push((slot, 19.0 + index as f64 + (slot / 240) as f64));
            if *room == "hall" && (200..260).contains(&slot) {
                continue;
            }
            let wave = 20.0 + 5.0 * (slot as f64 / 30.0 + index as f64).sin();
            let mut value = (wave * 10_000.0).round() / 10_000.0;
            if *room == "attic" && slot % 97 == 0 {
                value = f64::NAN;
            }
            series.samples.push((slot, value));
        }
        out.push(series);
        out.push(limit);
    }
    out
}

/// Series that stop and restart: `nc_flaky` (a gauge) ends with explicit staleness markers on
/// `a:80` and without on `b:80`; `nc_jobs_total` (a counter) is marked stale and restarts at 0.
fn flaky_series() -> Vec<GeneratedSeries> {
    let mut marked = GeneratedSeries::new("nc_flaky", &[("instance", "a:80")]);
    let mut unmarked = GeneratedSeries::new("nc_flaky", &[("instance", "b:80")]);
    let mut counter = GeneratedSeries::new("nc_jobs_total", &[("instance", "a:80")]);
    for slot in 0..SLOTS {
        let value = (slot % 50) as f64 * 1.5 - 10.0;
        let marked_up = !(300..400).contains(&slot) && !(700..760).contains(&slot);
        if marked_up {
            marked.samples.push((slot, value));
        } else if slot == 300 || slot == 700 {
            marked.samples.push((slot, stale_nan()));
        }
        if !(500..560).contains(&slot) {
            unmarked.samples.push((slot, -value));
        }
        match slot {
            0..600 => counter.samples.push((slot, (slot * 3) as f64)),
            600 => counter.samples.push((slot, stale_nan())),
            640.. => counter.samples.push((slot, ((slot - 640) * 2) as f64)),
            _ => {}
        }
    }
    vec![marked, unmarked, counter]
}

/// Classic histograms `nc_latency_seconds_{bucket,sum,count}` on two instances; `b:80` restarts
/// (all counts back to zero) half-way.
fn latency_histograms(rng: &mut Lcg) -> Vec<GeneratedSeries> {
    const BOUNDS: [&str; 6] = ["0.05", "0.1", "0.25", "0.5", "1", "+Inf"];
    let mut out = Vec::new();
    for instance in ["a:80", "b:80"] {
        let labels = [("job", "api"), ("instance", instance)];
        let mut buckets: Vec<GeneratedSeries> = BOUNDS
            .iter()
            .map(|bound| {
                GeneratedSeries::new(
                    "nc_latency_seconds_bucket",
                    &[("job", "api"), ("instance", instance), ("le", bound)],
                )
            })
            .collect();
        let mut sum = GeneratedSeries::new("nc_latency_seconds_sum", &labels);
        let mut count = GeneratedSeries::new("nc_latency_seconds_count", &labels);
        let mut counts = [0u64; BOUNDS.len()];
        let mut total = 0.0f64;
        for slot in 0..SLOTS {
            if instance == "b:80" && slot == 480 {
                counts = [0; BOUNDS.len()];
                total = 0.0;
            }
            for _ in 0..rng.below(12) {
                let observation = rng.below(1200) as f64 / 1000.0;
                total += observation;
                for (bucket, bound) in BOUNDS.iter().enumerate() {
                    let upper = bound.parse::<f64>().unwrap_or(f64::INFINITY);
                    if observation <= upper {
                        counts[bucket] += 1;
                    }
                }
            }
            for (bucket, series) in buckets.iter_mut().enumerate() {
                series.samples.push((slot, counts[bucket] as f64));
            }
            sum.samples.push((slot, (total * 1000.0).round() / 1000.0));
            count.samples.push((slot, counts[BOUNDS.len() - 1] as f64));
        }
        out.append(&mut buckets);
        out.push(sum);
        out.push(count);
    }
    out
}

/// `nc_info{instance,version} 1` for one-to-many joins.
fn info_series() -> Vec<GeneratedSeries> {
    [("a:80", "1.0"), ("b:80", "2.0")]
        .iter()
        .map(|(instance, version)| {
            let mut series = GeneratedSeries::new("nc_info", &[("instance", instance), ("version", version)]);
            series.samples = (0..SLOTS).map(|slot| (slot, 1.0)).collect();
            series
        })
        .collect()
}

fn dataset() -> Vec<GeneratedSeries> {
    let mut rng = Lcg(20_231_114);
    let mut all = request_counters(&mut rng);
    all.extend(temperatures());
    all.extend(flaky_series());
    all.extend(latency_histograms(&mut rng));
    all.extend(info_series());
    all
}

/// Remote-write bodies (snappy) covering `SLOTS_PER_REQUEST` slots of every series each, in time
/// order.
fn write_bodies(data: &[GeneratedSeries]) -> Vec<Vec<u8>> {
    let mut bodies = Vec::new();
    let mut first_slot = 0;
    while first_slot < SLOTS {
        let last_slot = first_slot + SLOTS_PER_REQUEST;
        let chunk: Vec<RawSeries> = data
            .iter()
            .filter_map(|series| {
                let samples: Vec<(i64, f64)> = series
                    .samples
                    .iter()
                    .filter(|(slot, _)| (first_slot..last_slot).contains(slot))
                    .map(|(slot, value)| (slot_ms(*slot), *value))
                    .collect();
                if samples.is_empty() {
                    return None;
                }
                let labels: Vec<(&str, &str)> =
                    series.labels.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
                Some(RawSeries::new(&labels, &samples))
            })
            .collect();
        bodies.push(snappy_compress(&encode_write_request(&chunk)));
        first_slot = last_slot;
    }
    bodies
}

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// Every query of the comparison, generated from templates × metrics.
fn queries() -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let range_metrics = ["nc_requests_total", "nc_temperature", "nc_flaky", "nc_jobs_total"];
    let range_functions = [
        "rate(M)",
        "increase(M)",
        "delta(M)",
        "irate(M)",
        "idelta(M)",
        "resets(M)",
        "changes(M)",
        "deriv(M)",
        "avg_over_time(M)",
        "min_over_time(M)",
        "max_over_time(M)",
        "sum_over_time(M)",
        "count_over_time(M)",
        "stddev_over_time(M)",
        "stdvar_over_time(M)",
        "last_over_time(M)",
        "present_over_time(M)",
        "absent_over_time(M)",
        "quantile_over_time(0.9, M)",
        "predict_linear(M, 600)",
        "holt_winters(M, 0.5, 0.1)",
    ];
    for template in range_functions {
        for metric in range_metrics {
            for range in ["1m", "5m"] {
                out.push(template.replace('M', &format!("{metric}[{range}]")));
            }
        }
    }
    for template in ["rate(M)", "increase(M)", "resets(M)", "changes(M)", "quantile_over_time(0.1, M)"] {
        for metric in range_metrics {
            out.push(template.replace('M', &format!("{metric}[1h]")));
        }
    }

    let gauges = ["nc_temperature", "nc_flaky"];
    let math = [
        "abs",
        "ceil",
        "floor",
        "exp",
        "ln",
        "log2",
        "log10",
        "sqrt",
        "sgn",
        "sin",
        "cos",
        "tan",
        "asin",
        "acos",
        "atan",
        "sinh",
        "cosh",
        "tanh",
        "asinh",
        "acosh",
        "atanh",
        "deg",
        "rad",
        "timestamp",
    ];
    for function in math {
        for metric in gauges {
            out.push(format!("{function}({metric})"));
        }
    }
    for function in ["asin", "acos", "atanh", "sin", "cos"] {
        out.push(format!("{function}(nc_temperature / 30)"));
    }
    for metric in gauges {
        for template in [
            "round(M)",
            "round(M, 0.5)",
            "round(M, 3)",
            "clamp(M, 18, 22)",
            "clamp(M, 25, 18)",
            "clamp_min(M, 20)",
            "clamp_max(M, 20)",
            "sort(M)",
            "sort_desc(M)",
            "-M",
            "M offset 10m",
            "M offset -5m",
            "M @ 1700003800",
            "M @ start()",
            "M @ end()",
            "timestamp(M @ end())",
            "time() - timestamp(M)",
            "sum(M offset 1h)",
        ] {
            out.push(template.replace('M', metric));
        }
    }
    let date_functions =
        ["hour", "minute", "month", "year", "day_of_month", "day_of_week", "day_of_year", "days_in_month"];
    for function in date_functions {
        out.push(format!("{function}()"));
        out.push(format!("{function}(timestamp(nc_temperature))"));
        out.push(format!("{function}(vector(1709251199))"));
    }

    out.extend(
        [
            "time()",
            "pi()",
            "vector(1)",
            "vector(time())",
            "scalar(sum(nc_temperature))",
            "scalar(nc_temperature)",
            "absent(nc_nonexistent)",
            "absent(nc_temperature{room=\"hall\"})",
            "absent(nc_nonexistent{job=\"x\", instance=~\"y\"})",
            "absent(sum(nc_nonexistent))",
            "absent_over_time(nc_nonexistent{job=\"z\"}[5m])",
            "absent_over_time(nc_flaky{instance=\"a:80\"}[1m])",
            "sort(rate(nc_requests_total[5m]))",
            "sort_desc(sum by (job) (rate(nc_requests_total[5m])))",
            "label_replace(nc_requests_total, \"port\", \"$2\", \"instance\", \"(.*):(.*)\")",
            "label_replace(nc_requests_total, \"instance\", \"\", \"instance\", \".*\")",
            "label_replace(nc_temperature, \"x\", \"$1$1\", \"room\", \"(h)(.*)\")",
            "label_replace(nc_temperature, \"x\", \"y\", \"room\", \"nomatch\")",
            "label_join(nc_requests_total, \"combined\", \"-\", \"job\", \"instance\", \"code\")",
            "label_join(nc_temperature, \"room\", \",\")",
            "rate(nc_latency_seconds_sum[5m]) / rate(nc_latency_seconds_count[5m])",
            "histogram_quantile(0.9, rate(nc_latency_seconds_bucket[5m]))",
            "histogram_quantile(0.5, nc_latency_seconds_bucket)",
            "histogram_quantile(0.9, sum by (instance, le) (rate(nc_latency_seconds_bucket[10m])))",
            "sgn(delta(nc_temperature[5m]))",
            "{__name__=~\"nc_temperature|nc_temperature_limit\"} + 1",
            "{__name__=~\"nc_temp.*\", room!=\"hall\"}",
            "nc_requests_total{job!=\"api\", code=~\"5..\"}",
            "nc_requests_total{instance!~\"a.*\"}",
            "count by (__name__) ({__name__=~\"nc_latency.*\"})",
            "sum by (__name__) (nc_temperature)",
        ]
        .map(str::to_owned),
    );
    for quantile in ["0", "0.25", "0.5", "0.9", "0.99", "1", "-0.1", "1.1"] {
        out.push(format!(
            "histogram_quantile({quantile}, sum by (le) (rate(nc_latency_seconds_bucket[5m])))"
        ));
    }

    let aggregations = [
        "sum",
        "avg",
        "min",
        "max",
        "count",
        "stddev",
        "stdvar",
        "group",
        "topk(2, ",
        "bottomk(2, ",
        "quantile(0.25, ",
        "count_values(\"value\", ",
    ];
    for aggregation in aggregations {
        for grouping in ["", " by (job)", " without (instance)", " by (code, job)"] {
            for input in ["rate(nc_requests_total[5m])", "nc_requests_total"] {
                let (head, parameter) = match aggregation.strip_suffix(", ") {
                    Some(with_parameter) => {
                        let (name, parameter) =
                            with_parameter.split_once('(').unwrap_or((with_parameter, ""));
                        (name.to_owned(), format!("{parameter}, "))
                    }
                    None => (aggregation.to_owned(), String::new()),
                };
                out.push(format!("{head}{grouping} ({parameter}{input})"));
            }
        }
        let (head, parameter) = match aggregation.strip_suffix(", ") {
            Some(with_parameter) => {
                let (name, parameter) = with_parameter.split_once('(').unwrap_or((with_parameter, ""));
                (name.to_owned(), format!("{parameter}, "))
            }
            None => (aggregation.to_owned(), String::new()),
        };
        out.push(format!("{head} ({parameter}nc_temperature)"));
    }

    for operator in ["+", "-", "*", "/", "%", "^", "atan2"] {
        out.push(format!("nc_temperature {operator} 3"));
        out.push(format!("3 {operator} nc_temperature"));
        out.push(format!("nc_temperature {operator} nc_temperature_limit"));
    }
    for operator in ["==", "!=", ">", "<", ">=", "<="] {
        out.push(format!("nc_temperature {operator} 20"));
        out.push(format!("nc_temperature {operator} bool 20"));
        out.push(format!("nc_temperature {operator} nc_temperature_limit"));
        out.push(format!("nc_temperature {operator} bool nc_temperature_limit"));
        out.push(format!("1 {operator} bool 2"));
    }
    out.extend(
        [
            "1 + 2 * 3",
            "2 ^ 3 ^ 2",
            "-2 ^ 2",
            "5 % 3",
            "1 / 0",
            "0 / 0",
            "2 * 3 + nc_temperature / 2 ^ 2",
            "- - nc_temperature",
            "rate(nc_requests_total{code=\"500\"}[5m]) / ignoring(code) rate(nc_requests_total{code=\"200\"}[5m])",
            "rate(nc_requests_total{code=\"500\"}[5m]) / on(job, instance) rate(nc_requests_total{code=\"200\"}[5m])",
            "rate(nc_requests_total[5m]) / on(job, instance) group_left sum by (job, instance) (rate(nc_requests_total[5m]))",
            "rate(nc_requests_total[5m]) * on(instance) group_left(version) nc_info",
            "nc_info * on(instance) group_right(version) rate(nc_requests_total[5m])",
            "nc_requests_total + on(instance) nc_requests_total",
            "nc_info + on(instance) group_left nc_requests_total",
            "nc_requests_total and nc_requests_total{code=\"200\"}",
            "nc_requests_total and on(instance) nc_info{version=\"1.0\"}",
            "nc_temperature or nc_flaky",
            "nc_flaky or on() vector(0)",
            "nc_requests_total unless on(job) nc_requests_total{job=\"api\"}",
            "nc_requests_total unless ignoring(code) nc_requests_total{code=\"500\"}",
            "(nc_temperature > 20) or (nc_temperature < 18)",
            "nc_temperature == bool on(room) nc_temperature_limit",
            "nc_temperature > on(room) group_left nc_temperature_limit",
            "sum(nc_temperature) by (room) / ignoring(room) group_left sum(nc_temperature)",
            "nc_requests_total offset 5m unless nc_requests_total",
        ]
        .map(str::to_owned),
    );

    out.extend(
        [
            "max_over_time(rate(nc_requests_total[5m])[30m:1m])",
            "avg_over_time(nc_temperature[1h:5m])",
            "rate(nc_requests_total[5m])[10m:]",
            "min_over_time(nc_temperature[10m:1m] offset 30m)",
            "max_over_time(nc_temperature[10m:1m] @ 1700002800)",
            "sum_over_time(sum(rate(nc_requests_total[1m]))[15m:30s])",
            "deriv(nc_temperature[30m:1m])",
            "count_over_time(nc_flaky[20m:1m])",
            "increase(nc_requests_total[1h:5m])",
            "quantile_over_time(0.5, rate(nc_requests_total[2m])[30m:2m])",
            "max_over_time(avg_over_time(nc_temperature[5m:1m])[20m:5m])",
            "rate(nc_requests_total[5m] @ 1700006400 offset 5m)",
            "rate(nc_requests_total[5m] offset 1h)",
            "sum(nc_temperature @ end())",
            "nc_temperature @ 1699999200.5",
            "nc_temperature[5m]",
            "nc_flaky[2m] offset 30m",
        ]
        .map(str::to_owned),
    );

    out.extend(
        [
            "\"a string\"",
            "1e3",
            "0x1F",
            "Inf",
            "-Inf",
            "NaN",
            "topk(0, nc_temperature)",
            "topk(-1, nc_temperature)",
            "topk(2.5, nc_temperature)",
            "topk(1, nc_temperature)",
            "bottomk(1, nc_temperature)",
            "quantile(NaN, nc_temperature)",
            "quantile(-1, nc_temperature)",
            "quantile_over_time(NaN, nc_temperature[5m])",
            "count_values(\"room\", nc_temperature)",
            "sum without () (nc_temperature)",
            "max by (le) (nc_latency_seconds_bucket)",
            "scalar(nc_nonexistent)",
            "vector(scalar(nc_temperature{room=\"kitchen\"}))",
            "absent(nc_temperature{room=\"hall\"} offset 1h)",
            "timestamp(timestamp(nc_temperature))",
            "nc_temperature offset 1h @ 1700003800",
            "rate(nc_requests_total[5m:])",
            "increase(nc_requests_total[30s])",
            "irate(nc_flaky[20m])",
            "deriv(nc_flaky[10m])",
            "predict_linear(nc_flaky[1h], -300)",
            "holt_winters(nc_temperature[5m], 0, 1)",
            "label_join(nc_temperature, \"__name__\", \"\", \"room\")",
            "label_replace(nc_temperature, \"x\", \"$1\", \"room\", \"\")",
            "{__name__=\"nc_temperature\"} offset 5m",
            "nc_temperature{__name__=\"nc_temperature\"}",
            "sum_over_time(nc_latency_seconds_bucket{le=\"+Inf\"}[10m])",
            "changes(nc_flaky[30m]) + resets(nc_jobs_total[30m])",
            "avg(nc_temperature) + on() group_left vector(1)",
            "nc_temperature / on(room) group_left nc_temperature_limit offset 1h",
            "count(nc_requests_total) by (job) > bool 3",
            "sum(rate(nc_requests_total[5m])) by (job) / sum(rate(nc_requests_total[5m]))",
            "min_over_time((nc_temperature > 21)[30m:1m])",
            "last_over_time(nc_flaky[10m]) unless nc_flaky",
        ]
        .map(str::to_owned),
    );

    out.extend(
        [
            "rate(nc_temperature)",
            "sum(nc_temperature",
            "histogram_quantile(\"a\", nc_latency_seconds_bucket)",
            "topk(nc_temperature, nc_temperature)",
            "{__name__=~\".*\"}",
            "nc_temperature{room=~\"(\"}",
            "nc_unknown_function(nc_temperature)",
            "label_replace(nc_temperature, \"1bad\", \"x\", \"room\", \".*\")",
            "label_replace(nc_temperature, \"room\", \"x\", \"room\", \".*\")",
            "count_values(\"1bad\", nc_temperature)",
            "quantile_over_time(2, nc_temperature[5m])",
            "label_replace(nc_temperature, \"x\", \"y\", \"room\", \"(\")",
            "nc_temperature[5m:1m:1m]",
            "1 and 2",
        ]
        .map(str::to_owned),
    );
    out
}

/// One set of query parameters: an instant query at a time, or a range query.
#[derive(Clone, Copy, Debug)]
enum QueryParams {
    Instant { time_ms: i64 },
    Range { start_ms: i64, end_ms: i64, step_ms: i64 },
}

impl QueryParams {
    fn path(self) -> &'static str {
        match self {
            QueryParams::Instant { .. } => "/query",
            QueryParams::Range { .. } => "/query_range",
        }
    }

    fn form(self, query: &str) -> Vec<(&'static str, String)> {
        match self {
            QueryParams::Instant { time_ms } => vec![("query", query.to_owned()), ("time", seconds(time_ms))],
            QueryParams::Range { start_ms, end_ms, step_ms } => vec![
                ("query", query.to_owned()),
                ("start", seconds(start_ms)),
                ("end", seconds(end_ms)),
                ("step", seconds(step_ms)),
            ],
        }
    }
}

/// Instant queries at the data's edges, beyond them and in between; range queries at several steps.
fn all_params() -> Vec<QueryParams> {
    let instants = [
        START_MS - 30_000,
        START_MS,
        START_MS + 4_907_000,
        START_MS + 9_060_000,
        // A NaN sample of the attic, the staleness marker of `nc_flaky{instance="a:80"}`, and a
        // fractional time just after it.
        slot_ms(388),
        slot_ms(300),
        slot_ms(301) + 500,
        END_MS,
        END_MS + 290_000,
        END_MS + 310_000,
    ];
    let mut params: Vec<QueryParams> =
        instants.iter().map(|time_ms| QueryParams::Instant { time_ms: *time_ms }).collect();
    params.push(QueryParams::Range { start_ms: START_MS, end_ms: END_MS, step_ms: 60_000 });
    params.push(QueryParams::Range {
        start_ms: START_MS - 600_000,
        end_ms: START_MS + 3_600_000,
        step_ms: 15_000,
    });
    params.push(QueryParams::Range {
        start_ms: START_MS + 7_200_000,
        end_ms: END_MS + 600_000,
        step_ms: 37_000,
    });
    // Parameter errors: end before start, and more than 11,000 points per series.
    params.push(QueryParams::Range { start_ms: END_MS, end_ms: START_MS, step_ms: 60_000 });
    params.push(QueryParams::Range { start_ms: START_MS, end_ms: END_MS, step_ms: 1_000 });
    params
}

// ---------------------------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------------------------

/// What the two servers answered, reduced to what must agree.
#[derive(Debug)]
enum Answer {
    Error { error_type: String },
    Success { result_type: String, series: Vec<AnswerSeries> },
}

/// One series (or the single point of a scalar or string result).
#[derive(Debug)]
struct AnswerSeries {
    labels: BTreeMap<String, String>,
    points: Vec<(f64, String)>,
}

fn parse_answer(body: &Value) -> anyhow::Result<Answer> {
    match body["status"].as_str() {
        Some("error") => {
            Ok(Answer::Error { error_type: body["errorType"].as_str().unwrap_or_default().to_owned() })
        }
        Some("success") => {
            let data = &body["data"];
            let result_type = data["resultType"].as_str().context("no resultType")?.to_owned();
            let series = match result_type.as_str() {
                "scalar" | "string" => {
                    vec![AnswerSeries { labels: BTreeMap::new(), points: vec![point(&data["result"])?] }]
                }
                "vector" | "matrix" => {
                    let items = data["result"].as_array().context("result is not an array")?;
                    items.iter().map(parse_series).collect::<anyhow::Result<Vec<_>>>()?
                }
                other => bail!("unknown resultType {other}"),
            };
            Ok(Answer::Success { result_type, series })
        }
        _ => bail!("not a Prometheus API answer: {body}"),
    }
}

fn parse_series(item: &Value) -> anyhow::Result<AnswerSeries> {
    let labels = item["metric"]
        .as_object()
        .context("no metric")?
        .iter()
        .map(|(name, value)| (name.clone(), value.as_str().unwrap_or_default().to_owned()))
        .collect();
    let points = if let Some(values) = item["values"].as_array() {
        values.iter().map(point).collect::<anyhow::Result<Vec<_>>>()?
    } else {
        vec![point(&item["value"])?]
    };
    Ok(AnswerSeries { labels, points })
}

fn point(pair: &Value) -> anyhow::Result<(f64, String)> {
    let timestamp = pair[0].as_f64().context("timestamp is not a number")?;
    let value = pair[1].as_str().context("value is not a string")?.to_owned();
    Ok((timestamp, value))
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        other => other.parse().ok(),
    }
}

fn values_agree(expected: &str, actual: &str) -> bool {
    if expected == actual {
        return true;
    }
    let (Some(expected), Some(actual)) = (parse_value(expected), parse_value(actual)) else {
        return false;
    };
    if expected.is_nan() || actual.is_nan() {
        return expected.is_nan() && actual.is_nan();
    }
    if expected.is_infinite() || actual.is_infinite() {
        return expected == actual;
    }
    let difference = (expected - actual).abs();
    difference <= ABSOLUTE_TOLERANCE || difference <= RELATIVE_TOLERANCE * expected.abs().max(actual.abs())
}

fn series_agree(expected: &AnswerSeries, actual: &AnswerSeries) -> bool {
    expected.points.len() == actual.points.len()
        && expected.points.iter().zip(&actual.points).all(
            |((expected_time, expected_value), (time, value))| {
                (expected_time - time).abs() < 1e-6 && values_agree(expected_value, value)
            },
        )
}

/// Whether the answers agree; `ordered` demands the same series order (results of `sort`), up to
/// ties in value.
fn answers_agree(expected: &Answer, actual: &Answer, ordered: bool) -> bool {
    match (expected, actual) {
        (Answer::Error { error_type: expected }, Answer::Error { error_type: actual }) => expected == actual,
        (
            Answer::Success { result_type: expected_type, series: expected },
            Answer::Success { result_type: actual_type, series: actual },
        ) => {
            if expected_type != actual_type || expected.len() != actual.len() {
                return false;
            }
            if ordered {
                let same_values = expected.iter().zip(actual).all(|(expected, actual)| {
                    expected
                        .points
                        .iter()
                        .zip(&actual.points)
                        .all(|(left, right)| values_agree(&left.1, &right.1))
                });
                if !same_values {
                    return false;
                }
            }
            let by_labels: BTreeMap<&BTreeMap<String, String>, &AnswerSeries> =
                actual.iter().map(|series| (&series.labels, series)).collect();
            by_labels.len() == actual.len()
                && expected.iter().all(|series| {
                    by_labels.get(&series.labels).is_some_and(|candidate| series_agree(series, candidate))
                })
        }
        _ => false,
    }
}

fn is_ordered_query(query: &str, params: QueryParams) -> bool {
    matches!(params, QueryParams::Instant { .. })
        && (query.starts_with("sort(") || query.starts_with("sort_desc("))
}

fn non_empty(answer: &Answer) -> bool {
    matches!(answer, Answer::Success { series, .. } if !series.is_empty())
}

async fn run_query(
    client: &reqwest::Client,
    api_url: &str,
    query: &str,
    params: QueryParams,
) -> anyhow::Result<(Value, Answer)> {
    let request = client.post(format!("{api_url}{}", params.path())).form(&params.form(query));
    let (status, text) = send(request).await?;
    let body: Value =
        serde_json::from_str(&text).with_context(|| format!("status {status}, not JSON: {text}"))?;
    let answer = parse_answer(&body).with_context(|| format!("query {query:?} {params:?}"))?;
    Ok((body, answer))
}

async fn load(client: &reqwest::Client, url: &str, bodies: &[Vec<u8>]) -> anyhow::Result<()> {
    for body in bodies {
        let (status, text) = send(remote_write_request(client, url, body.clone())).await?;
        ensure!((200..300).contains(&status), "remote write to {url} answered {status}: {text}");
    }
    Ok(())
}

fn prometheus_binary() -> String {
    std::env::var("PROMETHEUS").unwrap_or_else(|_| "prometheus".to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promql_answers_agree_with_prometheus() -> anyhow::Result<()> {
    let prometheus_binary = prometheus_binary();
    if !binary_available(&prometheus_binary) {
        let in_ci = std::env::var("CI").is_ok_and(|value| value == "true");
        assert!(!in_ci, "CI=true but {prometheus_binary} is not installed; scripts/test.sh installs it");
        eprintln!("SKIPPED promql_answers_agree_with_prometheus: {prometheus_binary} is not installed");
        return Ok(());
    }
    let prometheus = PrometheusStorageProcess::start(&prometheus_binary, &[]).await?;
    let neocortex = NeocortexProcess::start(
        neocortex_binary(),
        &[
            "-auth.enabled=false",
            "-distributor.ingestion-rate-limit=1000000000",
            "-distributor.ingestion-burst-size=1000000000",
            // This test is about PromQL, and the data sits in ingester memory. The store would be
            // asked for its (2023) time range too, and refuse selectors without a metric name
            // (`{__name__=~"…"}`) as Cortex's does; not asking it for anything newer than ten
            // years keeps every answer coming from the ingesters.
            "-querier.query-store-after=87600h",
        ],
    )
    .await?;
    let client = reqwest::Client::new();

    let data = dataset();
    let bodies = write_bodies(&data);
    load(&client, &prometheus.write_url(), &bodies).await?;
    load(&client, &neocortex.push_url(), &bodies).await?;

    let queries = queries();
    let params = all_params();
    let prometheus_api = prometheus.api_url();
    let neocortex_api = neocortex.prometheus_api_url();
    let (mut equal, mut non_empty_answers) = (0usize, 0usize);
    let mut differences = String::new();
    let mut different = 0usize;
    for query in &queries {
        for one in &params {
            let (expected, actual) = tokio::join!(
                run_query(&client, &prometheus_api, query, *one),
                run_query(&client, &neocortex_api, query, *one),
            );
            let (expected_body, expected) = expected?;
            let (actual_body, actual) = actual?;
            if non_empty(&expected) {
                non_empty_answers += 1;
            }
            if answers_agree(&expected, &actual, is_ordered_query(query, *one)) {
                equal += 1;
                continue;
            }
            different += 1;
            let _ = writeln!(
                differences,
                "\nquery {query:?} {one:?}\n  prometheus: {}\n  neocortex:  {}",
                truncate(&expected_body.to_string()),
                truncate(&actual_body.to_string())
            );
        }
    }
    let total = queries.len() * params.len();
    println!(
        "promql agreement: {} queries x {} parameter sets = {total} runs, {equal} equal, {different} different, \
         {non_empty_answers} non-empty Prometheus answers",
        queries.len(),
        params.len()
    );
    ensure!(queries.len() >= 300, "only {} queries generated", queries.len());
    ensure!(
        non_empty_answers * 3 > total,
        "too few non-empty answers ({non_empty_answers} of {total}): loading failed?"
    );
    ensure!(different == 0, "{different} of {total} answers differ:{differences}");
    Ok(())
}

fn truncate(text: &str) -> String {
    const LIMIT: usize = 1500;
    if text.len() <= LIMIT {
        return text.to_owned();
    }
    let mut end = LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

#[test]
fn comparison_tolerates_rounding_and_nan_but_not_real_differences() {
    assert!(values_agree("NaN", "NaN"));
    assert!(values_agree("1.0000000001", "1"));
    assert!(values_agree("1e-17", "0"));
    assert!(!values_agree("1.001", "1"));
    assert!(!values_agree("NaN", "0"));
    assert!(!values_agree("+Inf", "1e308"));

    let vector = |labels: &[(&str, &str)], value: &str| {
        let body = serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": labels.iter().map(|(k, v)| ((*k).to_owned(), Value::from(*v))).collect::<serde_json::Map<_, _>>(),
             "value": [1_700_000_000.5, value]}]}});
        parse_answer(&body).expect("valid answer")
    };
    let reference = vector(&[("room", "hall")], "20.5");
    assert!(answers_agree(&reference, &vector(&[("room", "hall")], "20.5"), false));
    assert!(!answers_agree(&reference, &vector(&[("room", "attic")], "20.5"), false));
    assert!(!answers_agree(&reference, &vector(&[("room", "hall")], "21"), false));
    let error = |error_type: &str| {
        parse_answer(&serde_json::json!({"status": "error", "errorType": error_type, "error": "x"}))
            .expect("valid answer")
    };
    assert!(answers_agree(&error("bad_data"), &error("bad_data"), false));
    assert!(!answers_agree(&error("bad_data"), &error("execution"), false));
    assert!(!answers_agree(&error("bad_data"), &reference, false));
}

#[test]
fn generated_data_has_resets_gaps_nan_and_staleness_markers() {
    let data = dataset();
    let samples: Vec<f64> =
        data.iter().flat_map(|series| series.samples.iter().map(|(_, value)| *value)).collect();
    assert!(samples.iter().any(|value| value.to_bits() == STALE_NAN_BITS));
    assert!(samples.iter().any(|value| value.is_nan() && value.to_bits() != STALE_NAN_BITS));
    let counter_resets = data
        .iter()
        .filter(|series| series.labels[0].1 == "nc_requests_total")
        .flat_map(|series| series.samples.windows(2).filter(|pair| pair[1].1 < pair[0].1))
        .count();
    assert!(counter_resets > 0);
    assert!(queries().len() >= 300);
}
