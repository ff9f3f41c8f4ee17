//! The markdown report: machine, workload, median latency per query and server, Neocortex's
//! fetch/eval/HTTP split, and resident memory.

use std::fmt::Write as _;
use std::time::Duration;

use crate::servers::Target;
use crate::timing::{EngineTimings, RangeQuery};
use crate::workload::Workload;

/// One server's figures for one query.
pub(crate) struct Cell {
    /// Median latency of the successful runs.
    pub(crate) median: Option<Duration>,
    /// How many runs were timed.
    pub(crate) runs: usize,
    /// Answer size.
    pub(crate) bytes: usize,
    /// The first failure, if the query failed.
    pub(crate) error: Option<String>,
}

/// Every server's figures for one query.
pub(crate) struct QueryResult {
    /// The query.
    pub(crate) query: RangeQuery,
    /// One cell per target, in target order.
    pub(crate) cells: Vec<Cell>,
    /// Neocortex's engine timings (one run with `stats=all`).
    pub(crate) neocortex_timings: Option<EngineTimings>,
}

/// Resident memory of one server.
pub(crate) struct ServerMemory {
    /// Which server.
    pub(crate) target: Target,
    /// RSS once loaded.
    pub(crate) after_load: Option<u64>,
    /// Peak RSS over loading and all queries.
    pub(crate) peak: Option<u64>,
}

/// Everything the run measured.
pub(crate) struct Report {
    /// The data.
    pub(crate) workload: Workload,
    /// Servers, in column order.
    pub(crate) targets: Vec<Target>,
    /// Time to load every server (concurrently).
    pub(crate) load_time: Duration,
    /// Per query.
    pub(crate) results: Vec<QueryResult>,
    /// Per server.
    pub(crate) memory: Vec<ServerMemory>,
    /// Combinations not run and why.
    pub(crate) skipped: Vec<String>,
    /// Timed runs per query and server.
    pub(crate) runs: usize,
}

impl Report {
    /// Renders the report as markdown.
    pub(crate) fn markdown(&self) -> String {
        let mut out = String::new();
        let workload = &self.workload;
        let _ = writeln!(out, "Machine: {} CPUs ({}), {}.", nproc(), cpu_model(), memory_total());
        let _ = writeln!(
            out,
            "Workload: {} series ({} `x` counters over {} jobs × {} instances × 9 modes, {} `h_bucket` series with 10 `le` buckets), \
             {} samples each at {} s ({} h ending at load time), {:.1} M samples, loaded over remote write into all servers concurrently in {:.0?}.",
            workload.series_count(),
            workload.counter_series(),
            workload.jobs,
            workload.instances_per_job,
            workload.bucket_series(),
            workload.slots,
            workload.interval_ms / 1000,
            (workload.slots - 1) * workload.interval_ms / 3_600_000,
            (workload.series_count() as f64 * workload.slots as f64) / 1e6,
            self.load_time
        );
        let _ = writeln!(
            out,
            "Latency: median of up to {} runs per query and server (request to last byte over loopback HTTP, answers streamed and discarded); \
             VictoriaMetrics with `nocache=1`.\n",
            self.runs
        );
        let names: Vec<&str> = self.targets.iter().map(|target| target.name()).collect();
        let _ = writeln!(
            out,
            "| query | range | step | answer | {} | neocortex fetch / eval / http+json |",
            names.join(" | ")
        );
        let _ = writeln!(out, "|---|---|---|---|{}---|", "---:|".repeat(names.len()));
        for result in &self.results {
            let query = &result.query;
            let answer_bytes = result.cells.iter().map(|cell| cell.bytes).max().unwrap_or(0);
            let cells: Vec<String> = result.cells.iter().map(render_cell).collect();
            let split = result.neocortex_timings.as_ref().map_or_else(
                || "–".to_owned(),
                |timings| {
                    format!(
                        "{} / {} / {}",
                        render_duration(timings.fetch),
                        render_duration(timings.eval),
                        render_duration(timings.latency.saturating_sub(timings.total))
                    )
                },
            );
            let _ = writeln!(
                out,
                "| `{}` | {} | {} s | {} pts/series, {} | {} | {} |",
                query.expression.replace('|', "\\|"),
                query.span_name,
                query.step_ms / 1000,
                query.points(),
                render_bytes(answer_bytes as u64),
                cells.join(" | "),
                split
            );
        }
        let _ = writeln!(out, "\n| server | RSS after load | peak RSS (load + queries) |\n|---|---:|---:|");
        for memory in &self.memory {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                memory.target.name(),
                memory.after_load.map_or_else(|| "?".to_owned(), render_bytes),
                memory.peak.map_or_else(|| "?".to_owned(), render_bytes)
            );
        }
        if !self.skipped.is_empty() {
            let _ = writeln!(out, "\nNot run (answer over Prometheus's default 50M `query.max-samples` or 11,000 points per series):");
            for skipped in &self.skipped {
                let _ = writeln!(out, "- {skipped}");
            }
        }
        out
    }
}

fn render_cell(cell: &Cell) -> String {
    match (&cell.median, &cell.error) {
        (Some(median), None) => format!("{} ({}×)", render_duration(*median), cell.runs),
        (_, Some(error)) => {
            format!("error: {}", error.chars().take(80).collect::<String>().replace('|', "\\|"))
        }
        (None, None) => "–".to_owned(),
    }
}

fn render_duration(duration: Duration) -> String {
    let ms = duration.as_secs_f64() * 1000.0;
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

fn render_bytes(bytes: u64) -> String {
    let mib = bytes as f64 / (1024.0 * 1024.0);
    if mib >= 1.0 {
        format!("{mib:.0} MiB")
    } else {
        format!("{:.0} KiB", bytes as f64 / 1024.0)
    }
}

fn nproc() -> usize {
    std::thread::available_parallelism().map_or(0, usize::from)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

fn memory_total() -> String {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let line = info.lines().find(|line| line.starts_with("MemTotal:"))?.to_owned();
            let kilobytes: u64 =
                line.trim_start_matches("MemTotal:").trim().trim_end_matches("kB").trim().parse().ok()?;
            Some(format!("{:.0} GiB RAM", kilobytes as f64 / 1024.0 / 1024.0))
        })
        .unwrap_or_else(|| "unknown RAM".to_owned())
}
