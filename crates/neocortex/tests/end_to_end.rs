//! End-to-end tests of the built `neocortex` binary with real clients on 127.0.0.1: a Prometheus
//! 2.42 and a vmagent remote-writing into it, tenancy from headers and from basic auth, and bad
//! input that must be refused with the documented status while the process keeps serving.

use std::time::Duration;

use anyhow::{ensure, Context};
use neocortex_proto::prometheus::{label_matcher, LabelMatcher, Query, ReadRequest, ReadResponse};
use neocortex_testkit::http::{remote_write_request, remote_write_request_with_content_type, send};
use neocortex_testkit::remote_write::{encode_write_request, now_ms, snappy_compress, RawSeries};
use neocortex_testkit::{
    eventually, NeocortexProcess, PrometheusOptions, PrometheusProcess, RemoteWriteTarget, VmagentOptions,
    VmagentProcess,
};
use prost::Message;
use serde_json::Value;

/// How long scraped data may take to travel scrape → remote write → neocortex → read API.
const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(90);

fn neocortex_binary() -> &'static str {
    env!("CARGO_BIN_EXE_neocortex")
}

/// GETs a Prometheus API path of `neocortex` as `tenant` and returns the status and JSON body.
async fn api_get(
    client: &reqwest::Client,
    neocortex: &NeocortexProcess,
    path: &str,
    params: &[(&str, &str)],
    tenant: Option<&str>,
) -> anyhow::Result<(u16, Value)> {
    let mut request = client.get(format!("{}{path}", neocortex.prometheus_api_url())).query(params);
    if let Some(tenant) = tenant {
        request = request.header("X-Scope-OrgID", tenant);
    }
    let (status, body) = send(request).await?;
    Ok((status, serde_json::from_str(&body).unwrap_or(Value::Null)))
}

/// The series matching `selector` for `tenant` (an empty list when the answer is not a 200).
async fn series(
    client: &reqwest::Client,
    neocortex: &NeocortexProcess,
    selector: &str,
    tenant: Option<&str>,
) -> anyhow::Result<Vec<Value>> {
    let (status, body) = api_get(client, neocortex, "/series", &[("match[]", selector)], tenant).await?;
    ensure!(status == 200, "series {selector} as {tenant:?} answered {status}: {body}");
    Ok(body["data"].as_array().cloned().unwrap_or_default())
}

/// The string items of the `data` array of a 200 answer of `path`.
async fn string_list(
    client: &reqwest::Client,
    neocortex: &NeocortexProcess,
    path: &str,
    tenant: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    let (status, body) = api_get(client, neocortex, path, &[], tenant).await?;
    ensure!(status == 200, "{path} as {tenant:?} answered {status}: {body}");
    let items = body["data"].as_array().cloned().unwrap_or_default();
    Ok(items.iter().filter_map(|item| item.as_str().map(str::to_owned)).collect())
}

/// Polls until `selector` has series for `tenant`, and returns them.
async fn wait_for_series(
    client: &reqwest::Client,
    neocortex: &NeocortexProcess,
    selector: &str,
    tenant: Option<&str>,
) -> anyhow::Result<Vec<Value>> {
    let found = eventually(&format!("series {selector} for tenant {tenant:?}"), ARRIVAL_TIMEOUT, || async {
        series(client, neocortex, selector, tenant).await.ok().filter(|found| !found.is_empty())
    })
    .await?;
    Ok(found)
}

#[tokio::test]
async fn prometheus_remote_writes_its_own_series_into_neocortex() -> anyhow::Result<()> {
    let mut neocortex = NeocortexProcess::start(neocortex_binary(), &["-auth.enabled=false"]).await?;
    let remote_write = RemoteWriteTarget { url: neocortex.push_url(), basic_auth: None };
    let prometheus = PrometheusProcess::start(&PrometheusOptions {
        remote_write: Some(remote_write),
        ..Default::default()
    })
    .await?;
    let client = reqwest::Client::new();

    let up = wait_for_series(&client, &neocortex, "up{job=\"prometheus\"}", None).await?;
    assert_eq!(up.len(), 1, "one scrape target: {up:?}");
    assert_eq!(up[0]["instance"], prometheus.instance());
    assert_eq!(up[0]["__name__"], "up");

    // Prometheus's own metrics arrive too, with their own label names.
    let head_series = wait_for_series(&client, &neocortex, "prometheus_tsdb_head_series", None).await?;
    assert_eq!(head_series[0]["job"], "prometheus");
    let labels = string_list(&client, &neocortex, "/labels", None).await?;
    for expected in ["__name__", "instance", "job"] {
        assert!(labels.iter().any(|label| label == expected), "{expected} missing from {labels:?}");
    }
    assert!(labels.windows(2).all(|pair| pair[0] < pair[1]), "label names must be sorted: {labels:?}");
    let jobs = string_list(&client, &neocortex, "/label/job/values", None).await?;
    assert_eq!(jobs, ["prometheus"]);
    assert!(neocortex.process().is_running());
    Ok(())
}

#[tokio::test]
async fn basic_auth_user_name_becomes_the_tenant() -> anyhow::Result<()> {
    let neocortex = NeocortexProcess::start(
        neocortex_binary(),
        &["-auth.enabled=true", "-auth.tenant-from-basic-auth=true"],
    )
    .await?;
    let remote_write = RemoteWriteTarget {
        url: neocortex.push_url(),
        basic_auth: Some(("team-a".to_owned(), "team-a-password".to_owned())),
    };
    let _prometheus = PrometheusProcess::start(&PrometheusOptions {
        remote_write: Some(remote_write),
        ..Default::default()
    })
    .await?;
    let client = reqwest::Client::new();

    let up = wait_for_series(&client, &neocortex, "up{job=\"prometheus\"}", Some("team-a")).await?;
    assert_eq!(up.len(), 1);
    assert!(series(&client, &neocortex, "up", Some("team-b")).await?.is_empty(), "team-b must see nothing");
    assert!(string_list(&client, &neocortex, "/labels", Some("team-b")).await?.is_empty());
    assert!(!string_list(&client, &neocortex, "/labels", Some("team-a")).await?.is_empty());

    let (status, _) = api_get(&client, &neocortex, "/series", &[("match[]", "up")], None).await?;
    assert_eq!(status, 401, "no tenant header and no basic auth");
    Ok(())
}

#[tokio::test]
async fn vmagent_writes_as_the_tenant_named_in_its_header() -> anyhow::Result<()> {
    let neocortex = NeocortexProcess::start(neocortex_binary(), &["-auth.enabled=true"]).await?;
    let mut options = VmagentOptions::new(neocortex.push_url());
    options.headers.push(("X-Scope-OrgID".to_owned(), "team-v".to_owned()));
    let vmagent = VmagentProcess::start(&options).await?;
    let client = reqwest::Client::new();

    let up = wait_for_series(&client, &neocortex, "up{job=\"vmagent\"}", Some("team-v")).await?;
    assert_eq!(up[0]["instance"], vmagent.instance());
    let labels = string_list(&client, &neocortex, "/labels", Some("team-v")).await?;
    assert!(labels.iter().any(|label| label == "job"), "{labels:?}");
    let jobs = string_list(&client, &neocortex, "/label/job/values", Some("team-v")).await?;
    assert_eq!(jobs, ["vmagent"]);

    for other in ["team-w", "fake"] {
        assert!(
            series(&client, &neocortex, "up", Some(other)).await?.is_empty(),
            "{other} sees team-v's series"
        );
        assert!(string_list(&client, &neocortex, "/labels", Some(other)).await?.is_empty());
        assert!(string_list(&client, &neocortex, "/label/job/values", Some(other)).await?.is_empty());
    }
    Ok(())
}

/// Pushes `series` as `tenant` with the standard headers and returns the status and body.
async fn push(
    client: &reqwest::Client,
    neocortex: &NeocortexProcess,
    tenant: &str,
    series: &[RawSeries],
) -> anyhow::Result<(u16, String)> {
    let body = snappy_compress(&encode_write_request(series));
    Ok(send(remote_write_request(client, &neocortex.push_url(), body).header("X-Scope-OrgID", tenant))
        .await?)
}

/// Reads the raw samples of `metric` for `tenant` back through remote read.
async fn remote_read(
    client: &reqwest::Client,
    neocortex: &NeocortexProcess,
    tenant: &str,
    metric: &str,
    start_ms: i64,
    end_ms: i64,
) -> anyhow::Result<Vec<neocortex_proto::prometheus::TimeSeries>> {
    let request = ReadRequest {
        queries: vec![Query {
            start_timestamp_ms: start_ms,
            end_timestamp_ms: end_ms,
            matchers: vec![LabelMatcher {
                r#type: label_matcher::Type::Eq as i32,
                name: "__name__".to_owned(),
                value: metric.to_owned(),
            }],
            hints: None,
        }],
        accepted_response_types: Vec::new(),
    };
    let response = client
        .post(format!("{}/read", neocortex.prometheus_api_url()))
        .header("X-Scope-OrgID", tenant)
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .body(snappy_compress(&request.encode_to_vec()))
        .send()
        .await?;
    ensure!(response.status() == 200, "remote read answered {}", response.status());
    let compressed = response.bytes().await?;
    let raw =
        snap::raw::Decoder::new().decompress_vec(&compressed).context("remote read body is not snappy")?;
    let decoded = ReadResponse::decode(raw.as_slice()).context("remote read body is not a ReadResponse")?;
    Ok(decoded.results.into_iter().flat_map(|result| result.timeseries).collect())
}

#[tokio::test]
async fn bad_input_is_refused_while_accepted_data_stays_readable() -> anyhow::Result<()> {
    let max_body = 100 * 1024;
    let mut neocortex = NeocortexProcess::start(
        neocortex_binary(),
        &["-auth.enabled=true", &format!("-distributor.max-recv-msg-size={max_body}")],
    )
    .await?;
    let client = reqwest::Client::new();
    let tenant = "team-bad-input";
    let now = now_ms();
    let good =
        |name: &str, value: f64| RawSeries::new(&[("__name__", name), ("job", "e2e")], &[(now, value)]);

    // Accepted first; must survive everything below.
    assert_eq!(push(&client, &neocortex, tenant, &[good("e2e_first", 1.0)]).await?.0, 200);

    let valid_body = snappy_compress(&encode_write_request(&[good("e2e_content_type", 2.0)]));
    let truncated = valid_body[..valid_body.len() / 2].to_vec();
    let url = neocortex.push_url();
    let with_tenant =
        |body: Vec<u8>| remote_write_request(&client, &url, body).header("X-Scope-OrgID", tenant);

    let (status, body) = send(with_tenant(truncated)).await?;
    assert_eq!(status, 400, "truncated snappy: {body}");

    // 0x0f is field 1 with wire type 7, which does not exist.
    let (status, body) = send(with_tenant(snappy_compress(b"\x0f\xffnot a protobuf message"))).await?;
    assert_eq!(status, 400, "not protobuf: {body}");

    // Cortex ignores the content type of a remote-write 1.0 body; one naming remote write 2.0 is refused.
    let with_content_type = |body: Vec<u8>, content_type: &str| {
        remote_write_request_with_content_type(&client, &url, body, content_type)
            .header("X-Scope-OrgID", tenant)
    };
    let (status, body) = send(with_content_type(valid_body.clone(), "text/plain")).await?;
    assert_eq!(status, 200, "content type text/plain: {body}");
    let remote_write_v2 = "application/x-protobuf;proto=io.prometheus.write.v2.Request";
    let (status, body) = send(with_content_type(valid_body, remote_write_v2)).await?;
    assert_eq!(status, 400, "remote write 2.0 content type: {body}");

    let oversized: Vec<RawSeries> = (0..4_000)
        .map(|index| {
            let value = format!("{:x}", (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            RawSeries::new(&[("__name__", "e2e_oversized"), ("id", &value)], &[(now, 1.0)])
        })
        .collect();
    let (status, body) = push(&client, &neocortex, tenant, &oversized).await?;
    assert_eq!(status, 413, "body over {max_body} bytes: {body}");

    let names: Vec<String> = (0..3_000).map(|index| format!("label_{index:04}")).collect();
    let mut many_labels: Vec<(&str, &str)> = vec![("__name__", "e2e_many_labels")];
    many_labels.extend(names.iter().map(|name| (name.as_str(), "v")));
    let (status, body) =
        push(&client, &neocortex, tenant, &[RawSeries::new(&many_labels, &[(now, 1.0)])]).await?;
    assert_eq!(status, 400, "3000 labels: {body}");

    let mut invalid_utf8 = good("e2e_invalid_utf8", 1.0);
    invalid_utf8.labels.push((b"note".to_vec(), vec![0xc3, 0x28]));
    let (status, body) = push(&client, &neocortex, tenant, &[invalid_utf8]).await?;
    assert_eq!(status, 400, "invalid utf-8: {body}");

    // An empty label value means "no such label": accepted, stored without it.
    let empty_value =
        RawSeries::new(&[("__name__", "e2e_empty_value"), ("job", "e2e"), ("gone", "")], &[(now, 1.0)]);
    let (status, body) = push(&client, &neocortex, tenant, &[empty_value]).await?;
    assert_eq!(status, 200, "empty label value: {body}");

    let (status, body) = push(&client, &neocortex, tenant, &[]).await?;
    assert_eq!(status, 200, "empty request: {body}");

    let special: Vec<RawSeries> =
        [("nan", f64::NAN), ("pos_inf", f64::INFINITY), ("neg_inf", f64::NEG_INFINITY)]
            .iter()
            .map(|(kind, value)| {
                RawSeries::new(&[("__name__", "e2e_special"), ("kind", kind)], &[(now, *value)])
            })
            .collect();
    let (status, body) = push(&client, &neocortex, tenant, &special).await?;
    assert_eq!(status, 200, "NaN and infinities: {body}");

    let next_day = now + 24 * 3600 * 1000;
    let future = RawSeries::new(&[("__name__", "e2e_future")], &[(next_day, 1.0)]);
    let (status, body) = push(&client, &neocortex, tenant, &[future]).await?;
    assert_eq!(status, 400, "timestamp a day ahead: {body}");

    let no_tenant = snappy_compress(&encode_write_request(&[good("e2e_no_tenant", 1.0)]));
    let (status, body) = send(remote_write_request(&client, &url, no_tenant)).await?;
    assert_eq!(status, 401, "missing tenant: {body}");

    // The process survived all of it and still serves what it accepted.
    assert!(neocortex.process().is_running(), "neocortex died: {}", neocortex.process().output());
    let (status, _) = send(client.get(format!("{}/ready", neocortex.http_url()))).await?;
    assert_eq!(status, 200);
    assert_eq!(series(&client, &neocortex, "e2e_first", Some(tenant)).await?.len(), 1);
    assert_eq!(series(&client, &neocortex, "e2e_content_type", Some(tenant)).await?.len(), 1);
    for refused in ["e2e_oversized", "e2e_many_labels", "e2e_invalid_utf8", "e2e_future", "e2e_no_tenant"] {
        assert!(series(&client, &neocortex, refused, Some(tenant)).await?.is_empty(), "{refused} was stored");
    }
    let empty_value = series(&client, &neocortex, "e2e_empty_value", Some(tenant)).await?;
    assert_eq!(empty_value.len(), 1);
    assert!(empty_value[0].get("gone").is_none(), "empty label kept: {empty_value:?}");

    let mut special =
        remote_read(&client, &neocortex, tenant, "e2e_special", now - 60_000, now + 60_000).await?;
    special.sort_by_key(|series| {
        series.labels.iter().find(|label| label.name == "kind").map(|l| l.value.clone())
    });
    let values: Vec<(String, f64)> = special
        .iter()
        .map(|series| {
            let kind =
                series.labels.iter().find(|label| label.name == "kind").map(|label| label.value.clone());
            (kind.unwrap_or_default(), series.samples.first().map_or(0.0, |sample| sample.value))
        })
        .collect();
    assert_eq!(values.len(), 3, "{values:?}");
    assert!(values[0].0 == "nan" && values[0].1.is_nan(), "{values:?}");
    assert_eq!(values[1], ("neg_inf".to_owned(), f64::NEG_INFINITY));
    assert_eq!(values[2], ("pos_inf".to_owned(), f64::INFINITY));
    Ok(())
}
