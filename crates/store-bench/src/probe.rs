//! The timed queries: every raw sample of a selector over the 12 h, fetched over HTTP and
//! counted (series and samples), wall-clock from sending the request to the last byte decoded.
//!
//! - [`Api::RawSelector`]: the Prometheus query API, instant query of `selector[12h]`-style
//!   range selector at the end of the data: a matrix of the raw samples, on both servers (a
//!   `query_range` cannot return raw samples here: each instance's scrapes are offset and
//!   jittered, so no step lands on every sample);
//! - [`Api::RemoteRead`]: Prometheus remote read (snappy protobuf, sampled response), Neocortex
//!   only: the least encoding work between the store and the client;
//! - [`Api::Export`]: VictoriaMetrics's `/api/v1/export` (JSON lines of raw samples), its own
//!   raw-sample path, as the library-level benchmark uses.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use neocortex_proto::prometheus::{
    label_matcher, read_request, LabelMatcher, Query, ReadRequest, ReadResponse,
};
use prost::Message;

/// How a query is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Api {
    /// Instant query of a range selector through `/api/v1/query`.
    RawSelector,
    /// Remote read.
    RemoteRead,
    /// VictoriaMetrics `/api/v1/export`.
    Export,
}

impl Api {
    /// The name in the report.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Api::RawSelector => "query API, `sel[12h]`",
            Api::RemoteRead => "remote read",
            Api::Export => "`/api/v1/export`",
        }
    }
}

/// One benchmark query: a selector as PromQL and as matchers.
#[derive(Clone, Debug)]
pub(crate) struct Selector {
    /// Metric name.
    pub(crate) name: &'static str,
    /// An extra equality matcher.
    pub(crate) label: Option<(&'static str, &'static str)>,
}

impl Selector {
    /// The PromQL text of the selector.
    pub(crate) fn promql(&self) -> String {
        match self.label {
            Some((label, value)) => format!("{}{{{label}=\"{value}\"}}", self.name),
            None => self.name.to_owned(),
        }
    }

    fn matchers(&self) -> Vec<LabelMatcher> {
        let equal = |name: &str, value: &str| LabelMatcher {
            r#type: label_matcher::Type::Eq as i32,
            name: name.to_owned(),
            value: value.to_owned(),
        };
        let mut matchers = vec![equal("__name__", self.name)];
        if let Some((label, value)) = self.label {
            matchers.push(equal(label, value));
        }
        matchers
    }
}

/// What one run answered and how long it took.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Answer {
    /// Milliseconds from sending to the last byte decoded.
    pub(crate) ms: f64,
    /// Series in the answer.
    pub(crate) series: usize,
    /// Samples in the answer.
    pub(crate) samples: usize,
}

/// Where and over which time range queries go.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    /// The Prometheus API root (`…/api/v1`).
    pub(crate) api_url: String,
    /// Extra query parameters (VictoriaMetrics: `nocache=1`).
    pub(crate) extra: Vec<(&'static str, &'static str)>,
}

fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// Runs `selector` once over `[start_ms, end_ms)` through `api` against `target`.
pub(crate) async fn run(
    client: &reqwest::Client,
    target: &Target,
    api: Api,
    selector: &Selector,
    start_ms: i64,
    end_ms: i64,
) -> anyhow::Result<Answer> {
    let started = Instant::now();
    let (series, samples) = match api {
        Api::RawSelector => raw_selector(client, target, selector, start_ms, end_ms).await?,
        Api::RemoteRead => remote_read(client, target, selector, start_ms, end_ms).await?,
        Api::Export => export(client, target, selector, start_ms, end_ms).await?,
    };
    Ok(Answer { ms: started.elapsed().as_secs_f64() * 1000.0, series, samples })
}

async fn raw_selector(
    client: &reqwest::Client,
    target: &Target,
    selector: &Selector,
    start_ms: i64,
    end_ms: i64,
) -> anyhow::Result<(usize, usize)> {
    // At the last millisecond of the span, looking back over all of it (whole seconds, so both
    // servers parse the duration the same way).
    let time_ms = end_ms - 1;
    let range_seconds = (time_ms - start_ms) / 1000 + 1;
    let mut form =
        vec![("query", format!("{}[{range_seconds}s]", selector.promql())), ("time", seconds(time_ms))];
    form.extend(target.extra.iter().map(|(name, value)| (*name, (*value).to_owned())));
    let response = client.post(format!("{}/query", target.api_url)).form(&form).send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    ensure!(status.is_success(), "query answered {status}: {}", String::from_utf8_lossy(&body));
    let json: serde_json::Value = serde_json::from_slice(&body).context("query answer is not JSON")?;
    ensure!(json["data"]["resultType"] == "matrix", "not a matrix: {}", String::from_utf8_lossy(&body));
    let result = json["data"]["result"].as_array().context("no result")?;
    let samples = result.iter().map(|series| series["values"].as_array().map_or(0, Vec::len)).sum();
    Ok((result.len(), samples))
}

async fn remote_read(
    client: &reqwest::Client,
    target: &Target,
    selector: &Selector,
    start_ms: i64,
    end_ms: i64,
) -> anyhow::Result<(usize, usize)> {
    let request = ReadRequest {
        queries: vec![Query {
            start_timestamp_ms: start_ms,
            end_timestamp_ms: end_ms - 1,
            matchers: selector.matchers(),
            hints: None,
        }],
        accepted_response_types: vec![read_request::ResponseType::Samples as i32],
    };
    let body = snap::raw::Encoder::new().compress_vec(&request.encode_to_vec())?;
    let response = client
        .post(format!("{}/read", target.api_url))
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Read-Version", "0.1.0")
        .body(body)
        .send()
        .await?;
    let status = response.status();
    let body = response.bytes().await?;
    if !status.is_success() {
        bail!("remote read answered {status}: {}", String::from_utf8_lossy(&body));
    }
    let decoded = snap::raw::Decoder::new().decompress_vec(&body).context("answer is not snappy")?;
    let answer = ReadResponse::decode(decoded.as_slice()).context("answer is not a ReadResponse")?;
    let series: Vec<_> = answer.results.into_iter().flat_map(|result| result.timeseries).collect();
    Ok((series.len(), series.iter().map(|s| s.samples.len()).sum()))
}

async fn export(
    client: &reqwest::Client,
    target: &Target,
    selector: &Selector,
    start_ms: i64,
    end_ms: i64,
) -> anyhow::Result<(usize, usize)> {
    let response = client
        .get(format!("{}/export", target.api_url))
        .query(&[("match[]", selector.promql()), ("start", seconds(start_ms)), ("end", seconds(end_ms - 1))])
        .send()
        .await?;
    let status = response.status();
    let body = response.bytes().await?;
    ensure!(status.is_success(), "export answered {status}: {}", String::from_utf8_lossy(&body));
    let (mut series, mut samples) = (0, 0);
    for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let parsed: serde_json::Value = serde_json::from_slice(line).context("export line is not JSON")?;
        series += 1;
        samples += parsed["values"].as_array().map_or(0, Vec::len);
    }
    Ok((series, samples))
}

/// A client for the timed queries: no pooled-connection surprises, generous timeout.
pub(crate) fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().timeout(Duration::from_secs(900)).build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_render_as_promql_and_matchers() {
        let idle = Selector { name: "node_cpu_seconds_total", label: Some(("mode", "idle")) };
        assert_eq!(idle.promql(), "node_cpu_seconds_total{mode=\"idle\"}");
        assert_eq!(idle.matchers().len(), 2);
        let all = Selector { name: "up", label: None };
        assert_eq!(all.promql(), "up");
        assert_eq!(all.matchers()[0].value, "up");
        assert_eq!(seconds(1_500), "1.500");
    }
}
