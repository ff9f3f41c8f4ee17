//! PromQL benchmark: loads the same node-exporter-like workload into Neocortex, Prometheus and
//! VictoriaMetrics on loopback, runs the same range queries against their HTTP APIs several times
//! and prints median latencies, peak RSS and Neocortex's fetch/eval split as markdown.

mod report;
mod servers;
mod timing;
mod workload;

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;

use crate::report::{Cell, QueryResult, Report, ServerMemory};
use crate::servers::{Binaries, Server, Target};
use crate::timing::{engine_timings, median, run_once, RangeQuery};
use crate::workload::Workload;

/// Prometheus's default `--query.max-samples`: combinations whose answer alone holds more points
/// are not run.
const MAX_ANSWER_POINTS: i64 = 50_000_000;
/// Prometheus's limit of points per series in a range query answer.
const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Command-line options.
#[derive(Parser, Debug)]
#[command(about = "PromQL range-query latency of Neocortex, Prometheus and VictoriaMetrics on the same data")]
struct Args {
    /// Distinct jobs.
    #[arg(long, default_value_t = 10)]
    jobs: usize,
    /// Instances per job (9 `x` series each; the first 10 also export a 10-bucket histogram).
    #[arg(long, default_value_t = 100)]
    instances_per_job: usize,
    /// Hours of data, ending now.
    #[arg(long, default_value_t = 24)]
    hours: i64,
    /// Seconds between samples.
    #[arg(long, default_value_t = 15)]
    interval_seconds: i64,
    /// Timed runs per query and server.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Stop repeating a query on a server once its runs took this many seconds (at least one run).
    #[arg(long, default_value_t = 60)]
    budget_seconds: u64,
    /// Servers, comma-separated.
    #[arg(long, default_value = "neocortex,prometheus,victoria-metrics")]
    targets: String,
    /// The neocortex executable.
    #[arg(long, default_value = "neocortex")]
    neocortex: String,
    /// The prometheus executable.
    #[arg(long, default_value = "prometheus")]
    prometheus: String,
    /// The victoria-metrics executable.
    #[arg(long, default_value = "victoria-metrics")]
    victoria_metrics: String,
    /// Pause after loading so a profiler can attach (prints the pids), in seconds.
    #[arg(long, default_value_t = 0)]
    pause_after_load_seconds: u64,
}

/// An expression and how many series its answer has (to skip oversized answers).
struct Expression {
    text: &'static str,
    answer_series: fn(&Workload) -> i64,
}

fn expressions() -> Vec<Expression> {
    vec![
        Expression { text: "sum by (job) (rate(x[5m]))", answer_series: |workload| workload.jobs as i64 },
        Expression {
            text: "histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))",
            answer_series: |_| 1,
        },
        Expression { text: "topk(10, rate(x[5m]))", answer_series: |_| 10 },
        Expression {
            text: "label_replace(rate(x[5m]), \"foo\", \"$1\", \"instance\", \"(.*):.*\")",
            answer_series: |workload| workload.counter_series() as i64,
        },
        Expression {
            text: "{__name__=~\"x|h_bucket\"}",
            answer_series: |workload| workload.series_count() as i64,
        },
    ]
}

fn range_queries(workload: &Workload, skipped: &mut Vec<String>) -> Vec<RangeQuery> {
    let end_ms = workload.end_ms();
    let mut queries = Vec::new();
    for expression in expressions() {
        for (span_name, span_ms) in [("1h", 3_600_000), ("24h", 86_400_000)] {
            for step_ms in [15_000, 60_000] {
                let query = RangeQuery {
                    expression: expression.text.to_owned(),
                    span_name,
                    start_ms: end_ms - span_ms,
                    end_ms,
                    step_ms,
                };
                let answer_points = query.points() * (expression.answer_series)(workload);
                if query.points() > MAX_POINTS_PER_SERIES || answer_points > MAX_ANSWER_POINTS {
                    skipped.push(format!(
                        "`{}` over {span_name} at {}s step ({answer_points} answer points)",
                        expression.text,
                        step_ms / 1000
                    ));
                    continue;
                }
                queries.push(query);
            }
        }
    }
    queries
}

async fn load(
    client: &reqwest::Client,
    servers: &[(Target, Server)],
    workload: &Workload,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let urls: Vec<String> = servers.iter().map(|(_, server)| server.write_url()).collect();
    let runtime = tokio::runtime::Handle::current();
    // Bodies are generated on this thread; each is sent to every server concurrently before the
    // next (Prometheus's head only accepts samples within an hour of its newest).
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<u8>>(2);
    let generator_workload = workload.clone();
    let generator = tokio::task::spawn_blocking(move || {
        generator_workload.for_each_body(20, |body| {
            sender.blocking_send(body).context("loader stopped")?;
            Ok(())
        })
    });
    let mut sent = 0usize;
    while let Some(body) = receiver.recv().await {
        let mut tasks = tokio::task::JoinSet::new();
        for url in &urls {
            let request = neocortex_testkit::http::remote_write_request(client, url, body.clone());
            let url = url.clone();
            tasks.spawn_on(
                async move {
                    let (status, text) = neocortex_testkit::http::send(request).await?;
                    if !(200..300).contains(&status) {
                        bail!("remote write to {url} answered {status}: {text}");
                    }
                    Ok(())
                },
                &runtime,
            );
        }
        while let Some(result) = tasks.join_next().await {
            result??;
        }
        sent += 1;
        if sent.is_multiple_of(50) {
            eprintln!("loaded {sent} requests ({:.0?})", started.elapsed());
        }
    }
    generator.await??;
    Ok(started.elapsed())
}

/// Waits until `count(x)` at the end of the data is the number of `x` series on `server`.
async fn wait_until_queryable(
    client: &reqwest::Client,
    server: &Server,
    workload: &Workload,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(180);
    let expected = workload.counter_series().to_string();
    let time = format!("{}.{:03}", workload.end_ms() / 1000, workload.end_ms() % 1000);
    loop {
        let mut form = vec![("query", "count(x)".to_owned()), ("time", time.clone())];
        form.extend(server.extra_params().iter().map(|(name, value)| (*name, (*value).to_owned())));
        let answer: serde_json::Value = client
            .post(format!("{}/query", server.api_url()))
            .form(&form)
            .send()
            .await?
            .json()
            .await
            .unwrap_or_default();
        if answer["data"]["result"][0]["value"][1].as_str() == Some(expected.as_str()) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("count(x) never reached {expected}: {answer}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until Prometheus has compacted its head down to at most 3 h (what it keeps after
/// compacting), so its background compaction does not run during the timed queries.
async fn wait_for_head_compaction(client: &reqwest::Client, server: &Server) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    let metrics_url = server.api_url().replace("/api/v1", "/metrics");
    loop {
        let text = client.get(&metrics_url).send().await?.text().await?;
        let gauge = |name: &str| {
            text.lines()
                .find(|line| line.starts_with(name) && line[name.len()..].starts_with(' '))
                .and_then(|line| line[name.len()..].trim().parse::<f64>().ok())
        };
        let span_ms = match (gauge("prometheus_tsdb_head_max_time"), gauge("prometheus_tsdb_head_min_time")) {
            (Some(max), Some(min)) => max - min,
            _ => f64::INFINITY,
        };
        if span_ms <= 3.0 * 3_600_000.0 {
            // Let the last compaction's cleanup (head truncation, WAL checkpoint) finish.
            tokio::time::sleep(Duration::from_secs(10)).await;
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("prometheus head still spans {span_ms} ms");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Waits until Neocortex's ingester is in its steady state after the load: series with chunks
/// older than `max_chunk_age` flushed, and the retain period over so flushed chunks have left
/// memory. The timed queries then neither run beside flushes nor read flushed chunks from both
/// the ingester and the store.
async fn wait_for_ingester_flush(client: &reqwest::Client, server: &Server) -> anyhow::Result<()> {
    /// The ingester's default retain period plus its flush period, and a margin: how long after
    /// the last flush the sweep has dropped what it flushed.
    const SETTLED_AFTER: Duration = Duration::from_secs(6 * 60 + 30);
    let deadline = Instant::now() + Duration::from_secs(20 * 60);
    let metrics_url = server.api_url().replace("/prometheus/api/v1", "/metrics");
    let mut last_change: Option<(f64, Instant)> = None;
    loop {
        let text = client.get(&metrics_url).send().await?.text().await?;
        let total = |name: &str| -> f64 {
            text.lines()
                .filter(|line| {
                    line.strip_prefix(name).is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
                })
                .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        // Flushes queued, running or finished: any change restarts the wait.
        let activity = total("cortex_ingester_series_flushed_total")
            + total("cortex_ingester_flush_queue_length")
            + total("cortex_ingester_flush_series_in_progress");
        let now = Instant::now();
        let since = match last_change {
            Some((previous, since)) if previous == activity => since,
            _ => now,
        };
        last_change = Some((activity, since));
        if now - since >= SETTLED_AFTER {
            return Ok(());
        }
        if now > deadline {
            bail!("neocortex ingester never settled: flush activity {activity}");
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let binaries = Binaries {
        neocortex: args.neocortex.clone(),
        prometheus: args.prometheus.clone(),
        victoria_metrics: args.victoria_metrics.clone(),
    };
    let interval_ms = args.interval_seconds * 1000;
    let now_ms = neocortex_testkit::remote_write::now_ms();
    let slots = args.hours * 3_600_000 / interval_ms + 1;
    let end_ms = now_ms / interval_ms * interval_ms - 60_000;
    let workload = Workload {
        jobs: args.jobs,
        instances_per_job: args.instances_per_job,
        interval_ms,
        slots,
        start_ms: end_ms - (slots - 1) * interval_ms,
    };
    let targets = args.targets.split(',').map(Target::parse).collect::<anyhow::Result<Vec<_>>>()?;
    let mut servers = Vec::new();
    for target in &targets {
        servers.push((*target, Server::start(*target, &binaries).await?));
    }
    let client = reqwest::Client::builder().timeout(Duration::from_secs(900)).build()?;
    eprintln!("loading {} series x {} samples into {}", workload.series_count(), slots, args.targets);
    let load_time = load(&client, &servers, &workload).await?;
    for (target, server) in &servers {
        wait_until_queryable(&client, server, &workload).await?;
        match target {
            Target::Prometheus => wait_for_head_compaction(&client, server).await?,
            Target::Neocortex => wait_for_ingester_flush(&client, server).await?,
            Target::VictoriaMetrics => {}
        }
    }
    let memory_after_load: Vec<Option<u64>> =
        servers.iter_mut().map(|(_, server)| server.current_rss()).collect();
    if args.pause_after_load_seconds > 0 {
        for (target, server) in &mut servers {
            eprintln!("{} pid {}", target.name(), server.pid());
        }
        tokio::time::sleep(Duration::from_secs(args.pause_after_load_seconds)).await;
    }

    let mut skipped = Vec::new();
    let queries = range_queries(&workload, &mut skipped);
    let mut results = Vec::new();
    for query in &queries {
        let mut cells = Vec::new();
        for (target, server) in &servers {
            let mut latencies = Vec::new();
            let mut bytes = 0;
            let mut error = None;
            let started = Instant::now();
            for _ in 0..args.runs.max(1) {
                match run_once(&client, &server.api_url(), query, server.extra_params()).await {
                    Ok(run) => {
                        latencies.push(run.latency);
                        bytes = run.bytes;
                    }
                    Err(failure) => {
                        error = Some(failure.to_string());
                        break;
                    }
                }
                if started.elapsed() > Duration::from_secs(args.budget_seconds) {
                    break;
                }
            }
            eprintln!(
                "{} {} {}s {}: {:?} {:?}",
                query.expression,
                query.span_name,
                query.step_ms / 1000,
                target.name(),
                median(&latencies),
                error
            );
            cells.push(Cell { median: median(&latencies), runs: latencies.len(), bytes, error });
        }
        let neocortex_timings = match servers.iter().find(|(target, _)| *target == Target::Neocortex) {
            Some((_, server)) => engine_timings(&client, &server.api_url(), query).await.ok(),
            None => None,
        };
        results.push(QueryResult { query: query.clone(), cells, neocortex_timings });
    }

    let memory = servers
        .iter_mut()
        .zip(memory_after_load)
        .map(|((target, server), after_load)| ServerMemory {
            target: *target,
            after_load,
            peak: server.peak_rss(),
        })
        .collect();
    let report = Report { workload, targets, load_time, results, memory, skipped, runs: args.runs };
    println!("{}", report.markdown());
    Ok(())
}
