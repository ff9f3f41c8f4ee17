//! Times typical range queries over synthetic data held in the in-memory `TestStorage`.
//!
//! Usage: `cargo run --release -p neocortex-promql --example promql_bench [series] [hours] [step_s]`
//! (`QUERY=...` times that query only; each query runs `RUNS` times, 1 by default, and the median
//! is printed).

use std::time::Instant;

use neocortex_core::{Labels, Sample};
use neocortex_promql::test_storage::TestStorage;
use neocortex_promql::{Engine, EngineOptions, QueryValue};

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let series = args.first().copied().unwrap_or(1000);
    let hours = args.get(1).copied().unwrap_or(24);
    let step_ms = args.get(2).copied().unwrap_or(60) as i64 * 1000;
    let runs: usize = std::env::var("RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(1).max(1);
    let only = std::env::var("QUERY").ok();
    let scrape_ms = 15_000i64;
    let samples_per_series = hours as i64 * 3_600_000 / scrape_ms;
    let storage = TestStorage::new();
    for i in 0..series {
        let labels = Labels::from_pairs([
            ("__name__".to_string(), "http_requests_total".to_string()),
            ("job".to_string(), format!("job{}", i % 10)),
            ("instance".to_string(), format!("instance{i}")),
            ("code".to_string(), if i % 7 == 0 { "500".to_string() } else { "200".to_string() }),
        ]);
        let mut value = 0.0;
        let samples = (0..samples_per_series).map(|n| {
            value += ((n * 7 + i as i64) % 13) as f64;
            Sample { timestamp_ms: n * scrape_ms, value }
        });
        storage.add(labels, samples);
    }
    println!("{series} series x {samples_per_series} samples");
    let engine = Engine::new(EngineOptions::default());
    let end = hours as i64 * 3_600_000;
    let queries = [
        "http_requests_total",
        "rate(http_requests_total[5m])",
        "sum by (job) (rate(http_requests_total[5m]))",
        "sum by (job) (rate(http_requests_total{code=\"500\"}[5m])) / sum by (job) (rate(http_requests_total[5m]))",
        "topk(5, rate(http_requests_total[5m]))",
        "histogram_quantile(0.9, sum by (le) (rate(http_requests_total[5m])))",
        "max_over_time(sum(rate(http_requests_total[5m]))[1h:1m])",
        "count_values(\"x\", http_requests_total % 10)",
    ];
    let queries: Vec<&str> = match &only {
        Some(query) => vec![query.as_str()],
        None => queries.to_vec(),
    };
    for query in queries {
        let mut timings = Vec::new();
        let mut result = None;
        for _ in 0..runs {
            let started = Instant::now();
            result = Some(futures::executor::block_on(engine.range_query_expr(
                &storage,
                &neocortex_promql::parse(query).expect("query parses"),
                0,
                end,
                step_ms,
            )));
            timings.push(started.elapsed());
        }
        timings.sort();
        let elapsed = timings[timings.len() / 2];
        if runs > 1 {
            print!("(min {:>7.1} ms) ", timings[0].as_secs_f64() * 1000.0);
        }
        let result = result.expect("at least one run");
        match result {
            Ok((QueryValue::Matrix(m), stats)) => println!(
                "{:>8.1} ms (fetch {:>6.1}, eval {:>6.1})  {} series out, {} points, fetched {}, peak {}  {query}",
                elapsed.as_secs_f64() * 1000.0,
                stats.fetch_time.as_secs_f64() * 1000.0,
                stats.eval_time.as_secs_f64() * 1000.0,
                m.len(),
                m.iter().map(|s| s.samples.len()).sum::<usize>(),
                stats.fetched_samples,
                stats.peak_samples
            ),
            Ok(_) => println!("unexpected result type for {query}"),
            Err(err) => println!("{:>8.1} ms  error {err}  {query}", elapsed.as_secs_f64() * 1000.0),
        }
    }
}
