//! Times range queries over HTTP: wall-clock from sending the request to the last byte of the
//! answer, which is read as a stream and discarded (only its size and status are kept).

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;

/// A range query: expression and time span.
#[derive(Clone, Debug)]
pub(crate) struct RangeQuery {
    /// The PromQL expression.
    pub(crate) expression: String,
    /// Span label in the report (`1h`, `24h`).
    pub(crate) span_name: &'static str,
    /// Start (ms).
    pub(crate) start_ms: i64,
    /// End (ms).
    pub(crate) end_ms: i64,
    /// Step (ms).
    pub(crate) step_ms: i64,
}

impl RangeQuery {
    /// Points per series of the answer.
    pub(crate) fn points(&self) -> i64 {
        (self.end_ms - self.start_ms) / self.step_ms + 1
    }

    fn form(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut form = vec![
            ("query".to_owned(), self.expression.clone()),
            ("start".to_owned(), seconds(self.start_ms)),
            ("end".to_owned(), seconds(self.end_ms)),
            ("step".to_owned(), seconds(self.step_ms)),
        ];
        form.extend(extra.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())));
        form
    }
}

fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// One timed run.
#[derive(Clone, Debug)]
pub(crate) struct Run {
    /// Request to last byte.
    pub(crate) latency: Duration,
    /// Size of the answer.
    pub(crate) bytes: usize,
}

/// Runs `query` against `api_url` once; an answer that is not `"status":"success"` is an error
/// carrying the start of the body.
pub(crate) async fn run_once(
    client: &reqwest::Client,
    api_url: &str,
    query: &RangeQuery,
    extra: &[(&str, &str)],
) -> anyhow::Result<Run> {
    let started = Instant::now();
    let mut response = client.post(format!("{api_url}/query_range")).form(&query.form(extra)).send().await?;
    let status = response.status();
    let mut head = Vec::new();
    let mut bytes = 0usize;
    while let Some(chunk) = response.chunk().await? {
        if head.len() < 512 {
            head.extend_from_slice(&chunk[..chunk.len().min(512 - head.len())]);
        }
        bytes += chunk.len();
    }
    let latency = started.elapsed();
    let head = String::from_utf8_lossy(&head);
    if !status.is_success() || !head.starts_with("{\"status\":\"success\"") {
        bail!("status {status}: {head}");
    }
    Ok(Run { latency, bytes })
}

/// Engine timings Neocortex reports with `stats=all`.
#[derive(Clone, Debug, Default)]
pub(crate) struct EngineTimings {
    /// `queryPreparationTime`: fetching series and samples from storage.
    pub(crate) fetch: Duration,
    /// `innerEvalTime`: evaluation after the fetch.
    pub(crate) eval: Duration,
    /// `execTotalTime`: the whole engine run.
    pub(crate) total: Duration,
    /// Request to last byte, for the HTTP/JSON share (`latency − total`).
    pub(crate) latency: Duration,
}

/// Runs `query` once with `stats=all` and reads the engine's timings from the answer.
pub(crate) async fn engine_timings(
    client: &reqwest::Client,
    api_url: &str,
    query: &RangeQuery,
) -> anyhow::Result<EngineTimings> {
    let started = Instant::now();
    let body = client
        .post(format!("{api_url}/query_range"))
        .form(&query.form(&[("stats", "all")]))
        .send()
        .await?
        .bytes()
        .await?;
    let latency = started.elapsed();
    let parsed: Value = serde_json::from_slice(&body).context("answer is not json")?;
    let timings = &parsed["data"]["stats"]["timings"];
    if !timings.is_object() {
        bail!("no stats in the answer: {}", parsed["error"]);
    }
    let seconds_of = |name: &str| Duration::from_secs_f64(timings[name].as_f64().unwrap_or(0.0).max(0.0));
    Ok(EngineTimings {
        fetch: seconds_of("queryPreparationTime"),
        eval: seconds_of("innerEvalTime"),
        total: seconds_of("execTotalTime"),
        latency,
    })
}

/// The median of `values` (the mean of the middle two for an even count).
pub(crate) fn median(values: &[Duration]) -> Option<Duration> {
    let mut sorted = values.to_vec();
    sorted.sort();
    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        length if length % 2 == 1 => Some(sorted[middle]),
        _ => Some((sorted[middle - 1] + sorted[middle]) / 2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        let ms = Duration::from_millis;
        assert_eq!(median(&[ms(5), ms(1), ms(3)]), Some(ms(3)));
        assert_eq!(median(&[ms(4), ms(1), ms(3), ms(2)]), Some(Duration::from_micros(2500)));
        assert_eq!(median(&[]), None);
    }
}
