//! The run summary: throughput, latency percentiles and errors, as text or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::send::SendOutcome;

/// Request latency percentiles in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest request.
    pub max_ms: f64,
}

impl LatencySummary {
    /// Nearest-rank percentiles of `latencies`; all zero when there are none.
    pub fn from_latencies(latencies: &[Duration]) -> LatencySummary {
        let mut sorted: Vec<Duration> = latencies.to_vec();
        sorted.sort_unstable();
        let percentile = |fraction: f64| -> f64 {
            if sorted.is_empty() {
                return 0.0;
            }
            let rank = (fraction * sorted.len() as f64).ceil() as usize;
            let index = rank.clamp(1, sorted.len()) - 1;
            sorted[index].as_secs_f64() * 1000.0
        };
        LatencySummary {
            p50_ms: percentile(0.50),
            p90_ms: percentile(0.90),
            p99_ms: percentile(0.99),
            max_ms: percentile(1.0),
        }
    }
}

/// Everything a run reports; serialised as-is by `--json`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The push URL.
    pub url: String,
    /// Distinct series in the workload.
    pub series: usize,
    /// Samples per series.
    pub samples_per_series: usize,
    /// Parallel connections.
    pub connections: usize,
    /// Requests sent.
    pub requests: usize,
    /// Samples sent.
    pub samples_sent: u64,
    /// Samples in 2xx-answered requests.
    pub samples_accepted: u64,
    /// Compressed request bytes sent.
    pub bytes_sent: u64,
    /// Seconds spent preparing the requests (not part of the measurement).
    pub encode_seconds: f64,
    /// Seconds of the timed phase.
    pub elapsed_seconds: f64,
    /// Accepted samples per second of the timed phase.
    pub samples_per_second: f64,
    /// Request latency percentiles.
    pub latency: LatencySummary,
    /// Answers per status code (`"transport"` for requests with no answer).
    pub status_counts: BTreeMap<String, u64>,
    /// Requests not answered with 2xx.
    pub failed_requests: u64,
    /// The first few error answers.
    pub error_examples: Vec<String>,
}

/// The run's parameters that the report repeats next to the measurements.
#[derive(Clone, Debug)]
pub struct RunDescription {
    /// The push URL.
    pub url: String,
    /// Distinct series.
    pub series: usize,
    /// Samples per series.
    pub samples_per_series: usize,
    /// Parallel connections.
    pub connections: usize,
    /// Compressed bytes of all requests.
    pub bytes_sent: u64,
    /// Time spent encoding.
    pub encode_time: Duration,
}

impl Report {
    /// Summarises `outcome` for the run described by `run`.
    pub fn new(run: RunDescription, outcome: &SendOutcome) -> Report {
        let elapsed_seconds = outcome.elapsed.as_secs_f64();
        let failed_requests = outcome
            .status_counts
            .iter()
            .filter(|(status, _)| !status.starts_with('2'))
            .map(|(_, count)| count)
            .sum();
        Report {
            url: run.url,
            series: run.series,
            samples_per_series: run.samples_per_series,
            connections: run.connections,
            requests: outcome.latencies.len(),
            samples_sent: outcome.samples_sent,
            samples_accepted: outcome.samples_accepted,
            bytes_sent: run.bytes_sent,
            encode_seconds: run.encode_time.as_secs_f64(),
            elapsed_seconds,
            samples_per_second: if elapsed_seconds > 0.0 {
                outcome.samples_accepted as f64 / elapsed_seconds
            } else {
                0.0
            },
            latency: LatencySummary::from_latencies(&outcome.latencies),
            status_counts: outcome.status_counts.clone(),
            failed_requests,
            error_examples: outcome.error_examples.clone(),
        }
    }

    /// A human-readable multi-line summary.
    pub fn render_text(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(text, "target:           {}", self.url);
        let _ = writeln!(
            text,
            "workload:         {} series x {} samples over {} connections, {} requests, {:.1} MiB",
            self.series,
            self.samples_per_series,
            self.connections,
            self.requests,
            self.bytes_sent as f64 / (1024.0 * 1024.0)
        );
        let _ = writeln!(
            text,
            "samples:          {} sent, {} accepted",
            self.samples_sent, self.samples_accepted
        );
        let _ = writeln!(
            text,
            "elapsed:          {:.3} s (encoding took {:.3} s, not counted)",
            self.elapsed_seconds, self.encode_seconds
        );
        let _ = writeln!(text, "throughput:       {:.0} samples/s", self.samples_per_second);
        let _ = writeln!(
            text,
            "latency:          p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.latency.p50_ms, self.latency.p90_ms, self.latency.p99_ms, self.latency.max_ms
        );
        let statuses: Vec<String> =
            self.status_counts.iter().map(|(status, count)| format!("{status}: {count}")).collect();
        let _ = writeln!(text, "responses:        {}", statuses.join(", "));
        for example in &self.error_examples {
            let _ = writeln!(text, "error example:    {example}");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let latencies: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let summary = LatencySummary::from_latencies(&latencies);
        assert_eq!(summary, LatencySummary { p50_ms: 50.0, p90_ms: 90.0, p99_ms: 99.0, max_ms: 100.0 });
        assert_eq!(LatencySummary::from_latencies(&[]), LatencySummary::default());
    }

    #[test]
    fn failed_requests_count_every_non_2xx_answer() {
        let mut outcome =
            SendOutcome { elapsed: Duration::from_secs(2), samples_accepted: 1_000, ..Default::default() };
        outcome.status_counts.insert("200".to_owned(), 10);
        outcome.status_counts.insert("400".to_owned(), 2);
        outcome.status_counts.insert("transport".to_owned(), 1);
        let run = RunDescription {
            url: "http://127.0.0.1:1/api/v1/push".to_owned(),
            series: 1,
            samples_per_series: 1,
            connections: 1,
            bytes_sent: 0,
            encode_time: Duration::ZERO,
        };
        let report = Report::new(run, &outcome);
        assert_eq!(report.failed_requests, 3);
        assert_eq!(report.samples_per_second, 500.0);
        assert!(report.render_text().contains("400: 2"));
    }
}
