//! The chunks-storage benchmark of issue 4 through the binary, as a user would run it: the load
//! generator's node-exporter-like workload (10k series x 12 h at 15 s by default) is
//! remote-written to one `neocortex` process on the local backend, queried from ingester memory,
//! flushed (`POST /flush?wait=true`), the process SIGKILLed and its WAL removed, restarted with
//! empty ingesters so the store answers, queried cold (first query after a restart with the
//! store's page cache dropped) and warm (repeats: page cache and in-process caches warm). The
//! same bodies go to single-node VictoriaMetrics, measured on disk after `force_merge` and
//! queried cold (restarted, page cache dropped) and warm. Prints a markdown report; every
//! answer's series and sample counts are checked against the generator.

mod disk;
mod load;
mod neocortex;
mod probe;
mod report;
mod victoria;
mod workload;

use std::time::Instant;

use anyhow::{bail, ensure, Context};
use clap::Parser;

use crate::disk::evict_page_cache;
use crate::neocortex::{Neocortex, Phase};
use crate::probe::{Answer, Api, Selector, Target};
use crate::report::{median, ms, query_table, ratio, storage_table, QueryRow, StoreFigures};
use crate::victoria::Victoria;
use crate::workload::BenchWorkload;

/// Command-line options.
#[derive(Parser, Debug)]
#[command(about = "Chunks-storage benchmark of the neocortex binary beside VictoriaMetrics")]
struct Args {
    /// Series of the load generator's workload.
    #[arg(long, default_value_t = 10_000)]
    series: usize,
    /// Samples per series.
    #[arg(long, default_value_t = 2_880)]
    samples: usize,
    /// Seconds between samples.
    #[arg(long, default_value_t = 15)]
    interval_seconds: i64,
    /// Timed runs per query (medians are reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// The neocortex executable.
    #[arg(long, default_value = "neocortex")]
    neocortex: String,
    /// The victoria-metrics executable; `none` skips VictoriaMetrics.
    #[arg(long, default_value = "victoria-metrics")]
    victoria_metrics: String,
}

fn selectors() -> Vec<Selector> {
    vec![
        Selector { name: "node_cpu_seconds_total", label: Some(("mode", "idle")) },
        Selector { name: "node_cpu_seconds_total", label: None },
        Selector { name: "node_memory_MemFree_bytes", label: None },
    ]
}

/// Checks answers against the generator and collects what disagreed.
struct Checker {
    expected: Vec<(usize, usize)>,
    failures: Vec<String>,
}

impl Checker {
    fn check(&mut self, what: &str, selector: usize, answer: &Answer) {
        let (series, samples) = self.expected[selector];
        if (answer.series, answer.samples) != (series, samples) {
            self.failures.push(format!(
                "{what}: {} series / {} samples, want {series} / {samples}",
                answer.series, answer.samples
            ));
        }
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_owned())
}

/// Runs `selector` through `api` `runs` times after one unmeasured run; returns the times.
#[allow(clippy::too_many_arguments)]
async fn warm_runs(
    client: &reqwest::Client,
    target: &Target,
    api: Api,
    selector: &Selector,
    index: usize,
    bench: &BenchWorkload,
    runs: usize,
    what: &str,
    checker: &mut Checker,
) -> anyhow::Result<Vec<f64>> {
    let mut times = Vec::new();
    for run in 0..=runs {
        let answer = probe::run(client, target, api, selector, bench.start_ms, bench.end_ms)
            .await
            .with_context(|| format!("{what} {}", selector.promql()))?;
        checker.check(&format!("{what} {} {}", selector.promql(), api.name()), index, &answer);
        if run > 0 {
            times.push(answer.ms);
        }
    }
    eprintln!("{what} {} {}: {:.1} ms", selector.promql(), api.name(), median(&times));
    Ok(times)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runs = args.runs.max(1);
    let client = probe::client()?;
    let load_before = load_average();
    let started = Instant::now();
    let bench = BenchWorkload::generate(
        args.series,
        args.samples,
        args.interval_seconds * 1000,
        neocortex_testkit::remote_write::now_ms(),
    );
    let samples = bench.total_samples() as f64;
    eprintln!(
        "workload: {} series x {} samples = {samples} samples, {} requests, {:.1} MB compressed (encoded in {:.1?})",
        args.series,
        args.samples,
        bench.encoded.request_count(),
        bench.encoded.total_bytes as f64 / 1e6,
        started.elapsed()
    );
    let selectors = selectors();
    let expected: Vec<(usize, usize)> = selectors
        .iter()
        .map(|s| {
            let series = bench.matching_series(s.name, s.label);
            (series, series * args.samples)
        })
        .collect();
    let mut checker = Checker { expected: expected.clone(), failures: Vec::new() };
    let neocortex_apis = [Api::RawSelector, Api::RemoteRead];

    // Phase 1: ingest, then query ingester memory.
    let directory = tempfile::Builder::new().prefix("neocortex-store-bench-").tempdir()?;
    let mut neocortex = Neocortex::start(&args.neocortex, directory.path(), Phase::Memory).await?;
    let push_time = load::push_all(&client, &neocortex.push_url()?, &bench.encoded).await?;
    let in_memory = neocortex.metric(&client, "cortex_ingester_memory_series").await?;
    ensure!(in_memory as usize == args.series, "ingester holds {in_memory} series, want {}", args.series);
    let rss_loaded = neocortex.rss();
    eprintln!("neocortex: pushed in {push_time:.1?}, {in_memory} series in memory");
    let target = neocortex.target()?;
    let mut memory = vec![Vec::new(); selectors.len()];
    for (index, selector) in selectors.iter().enumerate() {
        for api in neocortex_apis {
            let times = warm_runs(
                &client,
                &target,
                api,
                selector,
                index,
                &bench,
                runs,
                "ingester memory",
                &mut checker,
            )
            .await?;
            memory[index].push(median(&times));
        }
    }

    // Flush, measure, SIGKILL, drop the WAL, restart with empty ingesters.
    let flush_started = Instant::now();
    neocortex.flush(&client).await?;
    let flush_time = flush_started.elapsed();
    let flush_metrics = neocortex.flush_metrics(&client).await?;
    let failures = neocortex.metric(&client, "cortex_ingester_flush_failures_total").await?;
    ensure!(failures == 0.0, "{failures} flushes failed");
    let (chunks, index) = neocortex.store_sizes();
    eprintln!(
        "neocortex: flushed in {flush_time:.1?}: {flush_metrics:?}, chunks {chunks:?}, index {index:?}"
    );
    neocortex.kill_and_drop_wal()?;
    neocortex.start_again(Phase::Store).await?;
    let in_memory = neocortex.metric(&client, "cortex_ingester_memory_series").await?;
    ensure!(in_memory == 0.0, "ingester memory holds {in_memory} series after the restart");
    let store = StoreFigures { metrics: flush_metrics, chunks, index };

    // Phase 2: the store answers. Cold = restarted, page cache of the store's files dropped.
    let mut evicted = true;
    let mut cold = vec![Vec::new(); selectors.len()];
    let mut warm = vec![Vec::new(); selectors.len()];
    for (index, selector) in selectors.iter().enumerate() {
        for api in neocortex_apis {
            let mut times = Vec::new();
            for _ in 0..runs {
                neocortex.restart(Phase::Store).await?;
                for directory in neocortex.store_directories() {
                    evicted &= evict_page_cache(&directory);
                }
                let answer =
                    probe::run(&client, &neocortex.target()?, api, selector, bench.start_ms, bench.end_ms)
                        .await?;
                checker.check(&format!("store cold {} {}", selector.promql(), api.name()), index, &answer);
                times.push(answer.ms);
            }
            eprintln!("store cold {} {}: {:.1} ms", selector.promql(), api.name(), median(&times));
            cold[index].push(median(&times));
            let target = neocortex.target()?;
            let times =
                warm_runs(&client, &target, api, selector, index, &bench, runs, "store warm", &mut checker)
                    .await?;
            warm[index].push(median(&times));
        }
    }
    let rss_store = neocortex.rss();
    drop(neocortex);

    // VictoriaMetrics on the same bodies.
    let mut victoria_sizes = None;
    let mut victoria_rows = Vec::new();
    let mut victoria_push = None;
    if args.victoria_metrics != "none" {
        let vm_directory = tempfile::Builder::new().prefix("victoria-metrics-store-bench-").tempdir()?;
        let mut vm = Victoria::start(&args.victoria_metrics, vm_directory.path()).await?;
        victoria_push = Some(load::push_all(&client, &vm.write_url(), &bench.encoded).await?);
        let sizes = vm.flush_merge_measure(&client).await?;
        eprintln!("victoria-metrics: {} rows, data {:?}, indexdb {:?}", sizes.rows, sizes.data, sizes.index);
        if sizes.rows != samples {
            checker.failures.push(format!("victoria-metrics holds {} rows, want {samples}", sizes.rows));
        }
        victoria_sizes = Some(sizes);
        for (index, selector) in selectors.iter().enumerate() {
            let mut cells = Vec::new();
            for api in [Api::RawSelector, Api::Export] {
                let mut times = Vec::new();
                for _ in 0..runs {
                    evicted &= evict_page_cache(&vm.data());
                    vm.restart().await?;
                    let answer =
                        probe::run(&client, &vm.target(), api, selector, bench.start_ms, bench.end_ms)
                            .await?;
                    checker.check(
                        &format!("victoria-metrics cold {} {}", selector.promql(), api.name()),
                        index,
                        &answer,
                    );
                    times.push(answer.ms);
                }
                eprintln!(
                    "victoria-metrics cold {} {}: {:.1} ms",
                    selector.promql(),
                    api.name(),
                    median(&times)
                );
                cells.push(ms(median(&times)));
                let warm_times = warm_runs(
                    &client,
                    &vm.target(),
                    api,
                    selector,
                    index,
                    &bench,
                    runs,
                    "victoria-metrics warm",
                    &mut checker,
                )
                .await?;
                cells.push(ms(median(&warm_times)));
            }
            victoria_rows.push(cells);
        }
    }

    // The report.
    let mb = |bytes: Option<u64>| bytes.map_or("?".to_owned(), |b| format!("{:.0} MB", b as f64 / 1e6));
    println!(
        "Workload: {} series x {} samples at {} s = {samples} samples, seed 42, from {} ms to {} ms (Unix). \
         Load average {load_before} before, {} after; {} CPUs.\n",
        args.series,
        args.samples,
        args.interval_seconds,
        bench.start_ms,
        bench.end_ms,
        load_average(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "Neocortex: push {push_time:.1?} ({:.2} M samples/s, 2 connections), flush {flush_time:.1?}, RSS {} after the push, {} after the store queries.{}\n",
        samples / push_time.as_secs_f64() / 1e6,
        mb(rss_loaded),
        mb(rss_store),
        victoria_push.map_or(String::new(), |t| format!(" VictoriaMetrics: push {t:.1?}."))
    );
    println!("{}", storage_table(samples, &store, victoria_sizes.as_ref()));
    let mut columns = Vec::new();
    for api in neocortex_apis {
        for source in ["memory", "store cold", "store warm"] {
            columns.push(format!("{source}, {}", api.name()));
        }
        columns.push(format!("warm / memory, {}", api.name()));
    }
    let rows: Vec<QueryRow> = selectors
        .iter()
        .enumerate()
        .map(|(index, selector)| {
            let mut cells = Vec::new();
            for (position, _) in neocortex_apis.iter().enumerate() {
                let (m, c, w) = (memory[index][position], cold[index][position], warm[index][position]);
                cells.extend([ms(m), ms(c), ms(w), ratio(w, m)]);
            }
            QueryRow {
                selector: selector.promql(),
                series: expected[index].0,
                samples: expected[index].1,
                cells,
            }
        })
        .collect();
    println!(
        "{}",
        query_table(&format!("Neocortex, 12 h of raw samples, median of {runs} runs, ms:"), &columns, &rows)
    );
    if !victoria_rows.is_empty() {
        let columns: Vec<String> = [Api::RawSelector, Api::Export]
            .iter()
            .flat_map(|api| [format!("cold, {}", api.name()), format!("warm, {}", api.name())])
            .collect();
        let rows: Vec<QueryRow> = selectors
            .iter()
            .zip(victoria_rows)
            .enumerate()
            .map(|(index, (selector, cells))| QueryRow {
                selector: selector.promql(),
                series: expected[index].0,
                samples: expected[index].1,
                cells,
            })
            .collect();
        println!(
            "{}",
            query_table(
                &format!("VictoriaMetrics, the same queries, median of {runs} runs, ms:"),
                &columns,
                &rows
            )
        );
    }
    if !evicted {
        println!(
            "note: dropping the page cache failed (python3 missing?): cold runs read a warm page cache\n"
        );
    }
    println!(
        "Every answer checked against the generator: {}.",
        if checker.failures.is_empty() { "all agree" } else { "DISAGREEMENTS below" }
    );
    if !checker.failures.is_empty() {
        for failure in &checker.failures {
            println!("- {failure}");
        }
        bail!("{} answers disagreed with the generator", checker.failures.len());
    }
    Ok(())
}
