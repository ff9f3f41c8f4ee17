//! The distributor end to end over its public API, with a recording in-memory `Pusher`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use neocortex_core::metrics::DiscardedSamples;
use neocortex_core::{ErrorCode, Limits, Overrides, PushError, PushRequest, Pusher, TenantId};
use neocortex_distributor::{Distributor, DistributorConfig, InstanceLimits, PushHeaders};
use neocortex_proto::prometheus::{
    self as prompb, Exemplar, Label, MetricMetadata, Sample, TimeSeries, WriteRequest,
};
use parking_lot::Mutex;
use prometheus_client::registry::Registry;
use prost::Message;

/// Records every push; can be told to fail or to wait.
#[derive(Default)]
struct RecordingPusher {
    pushes: Mutex<Vec<(String, PushRequest)>>,
    error: Mutex<Option<PushError>>,
    delay: Mutex<Option<Duration>>,
}

#[async_trait]
impl Pusher for RecordingPusher {
    async fn push(&self, tenant: &TenantId, request: PushRequest) -> Result<(), PushError> {
        let delay = *self.delay.lock();
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        self.pushes.lock().push((tenant.to_string(), request));
        match self.error.lock().clone() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

impl RecordingPusher {
    fn pushed(&self) -> Vec<(String, PushRequest)> {
        self.pushes.lock().clone()
    }
}

struct Harness {
    distributor: Arc<Distributor>,
    pusher: Arc<RecordingPusher>,
    overrides: Overrides,
    registry: Registry,
}

fn harness_with(config: DistributorConfig, limits: Limits) -> Harness {
    let pusher = Arc::new(RecordingPusher::default());
    let overrides = Overrides::new(limits);
    let mut registry = Registry::default();
    let discarded = DiscardedSamples::default();
    registry.register(
        "cortex_discarded_samples",
        "The total number of samples that were discarded.",
        discarded.clone(),
    );
    let distributor = Distributor::new(config, overrides.clone(), pusher.clone(), discarded, &mut registry);
    Harness { distributor: Arc::new(distributor), pusher, overrides, registry }
}

fn harness() -> Harness {
    harness_with(DistributorConfig::default(), Limits::default())
}

impl Harness {
    async fn push(&self, request: &WriteRequest) -> Result<(), PushError> {
        self.push_body(compress(&request.encode_to_vec())).await
    }

    async fn push_body(&self, body: Vec<u8>) -> Result<(), PushError> {
        let headers =
            PushHeaders { content_type: Some("application/x-protobuf"), content_encoding: Some("snappy") };
        self.distributor.push_http(&tenant(), headers, Bytes::from(body)).await
    }

    fn metrics(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("encodes");
        text
    }

    /// The value of the metric line starting with `prefix` (name and labels), if present.
    fn metric(&self, prefix: &str) -> Option<f64> {
        self.metrics()
            .lines()
            .find(|line| line.starts_with(prefix))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse().ok())
    }

    fn discarded(&self, reason: &str) -> Option<f64> {
        self.metric(&format!("cortex_discarded_samples_total{{reason=\"{reason}\",user=\"user-1\"}}"))
    }
}

fn tenant() -> TenantId {
    TenantId::new("user-1").expect("valid tenant")
}

fn compress(bytes: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(bytes).expect("compresses")
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after epoch").as_millis() as i64
}

fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: pairs.iter().map(|(n, v)| Label { name: n.to_string(), value: v.to_string() }).collect(),
        samples: samples.iter().map(|&(timestamp, value)| Sample { value, timestamp }).collect(),
        exemplars: vec![],
    }
}

fn request(timeseries: Vec<TimeSeries>) -> WriteRequest {
    WriteRequest { timeseries, metadata: vec![] }
}

fn label_pairs(request: &PushRequest, index: usize) -> Vec<(String, String)> {
    request.series[index].labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect()
}

#[tokio::test]
async fn valid_series_reach_the_pusher_sorted() {
    let h = harness();
    let now = now_ms();
    let input = request(vec![
        series(
            &[("job", "node"), ("__name__", "up"), ("instance", "a:9100")],
            &[(now - 1000, 1.0), (now, 0.0)],
        ),
        series(&[("__name__", "node_load1"), ("instance", "a:9100")], &[(now, 0.25)]),
    ]);
    h.push(&input).await.expect("accepted");

    let pushed = h.pusher.pushed();
    assert_eq!(pushed.len(), 1);
    let (tenant, request) = &pushed[0];
    assert_eq!(tenant, "user-1");
    assert_eq!(request.series.len(), 2);
    let expected: Vec<(String, String)> = [("__name__", "up"), ("instance", "a:9100"), ("job", "node")]
        .map(|(n, v)| (n.into(), v.into()))
        .into();
    assert_eq!(label_pairs(request, 0), expected);
    assert_eq!(request.series[0].samples.len(), 2);
    assert_eq!(request.series[0].samples[0].timestamp_ms, now - 1000);
    assert_eq!(request.series[0].samples[1].value, 0.0);

    assert_eq!(h.metric("cortex_distributor_received_samples_total{user=\"user-1\"}"), Some(3.0));
    assert_eq!(h.metric("cortex_distributor_samples_in_total{user=\"user-1\"}"), Some(3.0));
    assert_eq!(h.metric("cortex_distributor_requests_in_total{user=\"user-1\"}"), Some(1.0));
    let latest =
        h.metric("cortex_distributor_latest_seen_sample_timestamp_seconds{user=\"user-1\"}").unwrap();
    assert!((latest - now as f64 / 1000.0).abs() < 1e-3, "{latest}");
}

#[tokio::test]
async fn an_empty_request_succeeds_without_pushing() {
    let h = harness();
    h.push(&WriteRequest::default()).await.expect("accepted");
    h.push_body(Vec::new()).await.expect_err("an empty body is not a snappy block");
    assert!(h.pusher.pushed().is_empty());
}

#[tokio::test]
async fn invalid_series_are_dropped_and_the_rest_stored() {
    let h = harness();
    let now = now_ms();
    let input = request(vec![
        series(&[("__name__", "good")], &[(now, 1.0)]),
        series(&[("job", "no-name")], &[(now, 1.0), (now + 1, 2.0)]),
        series(&[("__name__", "up"), ("bad-label", "x")], &[(now, 1.0)]),
        series(&[("__name__", "also_good")], &[(now, 1.0)]),
    ]);
    let error = h.push(&input).await.expect_err("partially refused");
    assert_eq!(error.code, ErrorCode::BadData);
    assert_eq!(error.message, "sample missing metric name");

    let pushed = h.pusher.pushed();
    assert_eq!(pushed.len(), 1);
    let names: Vec<_> =
        pushed[0].1.series.iter().map(|s| s.labels.metric_name().unwrap().to_string()).collect();
    assert_eq!(names, ["good", "also_good"]);
    assert_eq!(h.discarded("missing_metric_name"), Some(2.0));
    assert_eq!(h.discarded("label_invalid"), Some(1.0));
    assert_eq!(h.metric("cortex_distributor_received_samples_total{user=\"user-1\"}"), Some(2.0));
    assert_eq!(h.metric("cortex_distributor_samples_in_total{user=\"user-1\"}"), Some(5.0));
}

#[tokio::test]
async fn a_request_with_only_invalid_series_is_refused_without_pushing() {
    let h = harness();
    let input = request(vec![series(&[("__name__", "bad name")], &[(now_ms(), 1.0)])]);
    let error = h.push(&input).await.expect_err("refused");
    assert_eq!(error.code, ErrorCode::BadData);
    assert_eq!(error.message, r#"sample invalid metric name: "bad name""#);
    assert!(h.pusher.pushed().is_empty());
    assert_eq!(h.discarded("metric_name_invalid"), Some(1.0));
}

#[tokio::test]
async fn every_label_rule_is_enforced() {
    let limits = Limits {
        max_label_names_per_series: 3,
        max_label_name_length: 10,
        max_label_value_length: 10,
        ..Limits::default()
    };
    let h = harness_with(DistributorConfig::default(), limits);
    let now = now_ms();
    let cases: Vec<(TimeSeries, &str)> = vec![
        (
            series(&[("__name__", "m"), ("a", "1"), ("b", "2"), ("c", "3")], &[(now, 1.0)]),
            "max_label_names_per_series",
        ),
        (series(&[("__name__", "m"), ("a_very_long_name", "1")], &[(now, 1.0)]), "label_name_too_long"),
        (series(&[("__name__", "m"), ("a", "a very long value")], &[(now, 1.0)]), "label_value_too_long"),
        (series(&[("__name__", "m"), ("a", "1"), ("a", "2")], &[(now, 1.0)]), "duplicate_label_names"),
        (series(&[("__name__", "m"), ("1a", "1")], &[(now, 1.0)]), "label_invalid"),
        (series(&[("__name__", "m")], &[(now + 3_600_000, 1.0)]), "too_far_in_future"),
    ];
    for (input, reason) in cases {
        let error = h.push(&request(vec![input])).await.expect_err(reason);
        assert_eq!(error.code, ErrorCode::BadData, "{reason}");
        assert_eq!(h.discarded(reason), Some(1.0), "{reason}: {}", h.metrics());
    }
    assert!(h.pusher.pushed().is_empty());
}

#[tokio::test]
async fn old_samples_are_refused_when_the_tenant_says_so() {
    let h = harness();
    let old = now_ms() - 30 * 24 * 3600 * 1000;
    h.push(&request(vec![series(&[("__name__", "m")], &[(old, 1.0)])])).await.expect("accepted by default");
    let strict = Limits { reject_old_samples: true, ..Limits::default() };
    h.overrides.replace(HashMap::from([("user-1".to_string(), strict)]));
    let error =
        h.push(&request(vec![series(&[("__name__", "m")], &[(old, 1.0)])])).await.expect_err("too old");
    assert_eq!(error.message, format!(r#"timestamp too old: {old} metric: "m""#));
    assert_eq!(h.discarded("greater_than_max_sample_age"), Some(1.0));
}

#[tokio::test]
async fn empty_label_values_and_drop_labels_are_removed() {
    let limits = Limits { drop_labels: vec!["pod".to_string()], ..Limits::default() };
    let h = harness_with(DistributorConfig::default(), limits);
    let input = request(vec![series(
        &[("__name__", "m"), ("pod", "p-1"), ("empty", ""), ("z", "1")],
        &[(now_ms(), 1.0)],
    )]);
    h.push(&input).await.expect("accepted");
    let pushed = h.pusher.pushed();
    let expected: Vec<(String, String)> =
        [("__name__", "m"), ("z", "1")].map(|(n, v)| (n.into(), v.into())).into();
    assert_eq!(label_pairs(&pushed[0].1, 0), expected);
}

#[tokio::test]
async fn special_float_values_are_accepted() {
    let h = harness();
    let now = now_ms();
    let stale = neocortex_core::stale_nan();
    let input = request(vec![series(
        &[("__name__", "m")],
        &[(now - 4, f64::NAN), (now - 3, f64::INFINITY), (now - 2, f64::NEG_INFINITY), (now - 1, stale)],
    )]);
    h.push(&input).await.expect("accepted");
    let samples = &h.pusher.pushed()[0].1.series[0].samples;
    assert!(samples[0].value.is_nan());
    assert_eq!(samples[1].value, f64::INFINITY);
    assert_eq!(samples[2].value, f64::NEG_INFINITY);
    assert!(neocortex_core::is_stale_nan(samples[3].value));
}

#[tokio::test]
async fn the_rate_limit_refuses_whole_requests() {
    let limits = Limits { ingestion_rate: 1.0, ingestion_burst_size: 10, ..Limits::default() };
    let h = harness_with(DistributorConfig::default(), limits);
    let now = now_ms();
    let samples: Vec<(i64, f64)> = (0..10).map(|i| (now - 10 + i, 1.0)).collect();
    h.push(&request(vec![series(&[("__name__", "m")], &samples)])).await.expect("within the burst");
    let input = request(vec![series(&[("__name__", "m")], &[(now, 1.0), (now + 1, 1.0)])]);
    let error = h.push(&input).await.expect_err("over the limit");
    assert_eq!(error.code, ErrorCode::TooManyRequests);
    assert_eq!(error.message, "ingestion rate limit (1) exceeded while adding 2 samples and 0 metadata");
    assert_eq!(h.discarded("rate_limited"), Some(2.0));
    assert_eq!(h.pusher.pushed().len(), 1);
}

#[tokio::test]
async fn reloaded_limits_apply_to_the_next_request() {
    let h = harness();
    let input = request(vec![series(&[("__name__", "m")], &[(now_ms(), 1.0), (now_ms(), 2.0)])]);
    h.push(&input).await.expect("default limits");
    let tight = Limits { ingestion_rate: 0.5, ingestion_burst_size: 1, ..Limits::default() };
    h.overrides.replace(HashMap::from([("user-1".to_string(), tight)]));
    let error = h.push(&input).await.expect_err("override applies");
    assert_eq!(error.message, "ingestion rate limit (0.5) exceeded while adding 2 samples and 0 metadata");
}

#[tokio::test]
async fn the_global_strategy_shares_the_rate_between_distributors() {
    let limits = Limits {
        ingestion_rate: 1000.0,
        ingestion_rate_strategy: "global".to_string(),
        ingestion_burst_size: 1,
        ..Limits::default()
    };
    let h = harness_with(DistributorConfig::default(), limits);
    h.distributor.set_healthy_distributors(4);
    let input = request(vec![series(&[("__name__", "m")], &[(now_ms(), 1.0), (now_ms(), 2.0)])]);
    let error = h.push(&input).await.expect_err("over the burst");
    assert_eq!(error.message, "ingestion rate limit (250) exceeded while adding 2 samples and 0 metadata");
}

#[tokio::test]
async fn pusher_errors_keep_their_code() {
    let h = harness();
    let input = request(vec![series(&[("__name__", "m")], &[(now_ms(), 1.0)])]);
    for code in [ErrorCode::BadData, ErrorCode::TooManyRequests, ErrorCode::Unavailable] {
        *h.pusher.error.lock() = Some(PushError::new(code, "sample out of order"));
        let error = h.push(&input).await.expect_err("pusher refused");
        assert_eq!(error.code, code);
        assert_eq!(error.message, "sample out of order");
    }
}

#[tokio::test]
async fn a_pusher_error_wins_over_a_validation_error() {
    let h = harness();
    *h.pusher.error.lock() = Some(PushError::new(ErrorCode::TooManyRequests, "per-user series limit"));
    let input = request(vec![
        series(&[("__name__", "m")], &[(now_ms(), 1.0)]),
        series(&[("job", "x")], &[(now_ms(), 1.0)]),
    ]);
    let error = h.push(&input).await.expect_err("refused");
    assert_eq!(error.code, ErrorCode::TooManyRequests);
}

#[tokio::test]
async fn a_slow_pusher_times_out() {
    let config = DistributorConfig {
        remote_timeout: neocortex_core::duration::GoDuration(Duration::from_millis(20)),
        ..DistributorConfig::default()
    };
    let h = harness_with(config, Limits::default());
    *h.pusher.delay.lock() = Some(Duration::from_secs(5));
    let error =
        h.push(&request(vec![series(&[("__name__", "m")], &[(now_ms(), 1.0)])])).await.expect_err("timeout");
    assert_eq!(error.code, ErrorCode::Timeout);
    assert!(error.code.is_retryable());
}

#[tokio::test]
async fn bodies_over_the_size_limit_are_too_large() {
    let config = DistributorConfig { max_recv_msg_size: 1000, ..DistributorConfig::default() };
    let h = harness_with(config, Limits::default());
    let error = h.push_body(vec![0u8; 1001]).await.expect_err("too large");
    assert_eq!(error.code, ErrorCode::TooLarge);
    assert_eq!(error.message, "received message larger than max (1001 vs 1000)");

    // Compresses to far less than 1000 bytes but decompresses to more.
    let big = request(vec![series(&[("__name__", "m"), ("a", &"x".repeat(5000))], &[(now_ms(), 1.0)])]);
    let body = compress(&big.encode_to_vec());
    assert!(body.len() < 1000);
    let error = h.push_body(body).await.expect_err("too large once decompressed");
    assert_eq!(error.code, ErrorCode::TooLarge);
    assert!(h.pusher.pushed().is_empty());
}

#[tokio::test]
async fn adversarial_bodies_are_bad_data() {
    let h = harness();
    let valid = compress(&request(vec![series(&[("__name__", "m")], &[(now_ms(), 1.0)])]).encode_to_vec());
    let huge_claim = vec![0xff, 0xff, 0xff, 0x7f, 0x00];
    let mut invalid_utf8 = vec![0x0a, 0x09, 0x0a, 0x07, 0x0a, 0x01, b'a', 0x12, 0x02, 0xc3, 0x28];
    invalid_utf8 = compress(&invalid_utf8);
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", valid[..valid.len() - 3].to_vec()),
        ("garbage", b"this is not snappy".to_vec()),
        ("huge claim", huge_claim),
        ("uncompressed protobuf", request(vec![series(&[("__name__", "m")], &[(1, 1.0)])]).encode_to_vec()),
        ("invalid protobuf", compress(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])),
        ("invalid utf-8", invalid_utf8),
    ];
    for (what, body) in bodies {
        let error = h.push_body(body).await.expect_err(what);
        assert!(matches!(error.code, ErrorCode::BadData | ErrorCode::TooLarge), "{what}: {error:?}");
    }
    assert!(h.pusher.pushed().is_empty());
    h.push_body(valid).await.expect("a valid body still works");
}

#[tokio::test]
async fn other_encodings_are_refused() {
    let h = harness();
    let body = Bytes::from(compress(&request(vec![]).encode_to_vec()));
    let headers =
        PushHeaders { content_type: Some("application/x-protobuf"), content_encoding: Some("zstd") };
    let error = h.distributor.push_http(&tenant(), headers, body.clone()).await.expect_err("zstd");
    assert_eq!(error.code, ErrorCode::BadData);
    assert!(error.message.contains("zstd"), "{}", error.message);
    h.distributor.push_http(&tenant(), PushHeaders::default(), body).await.expect("no headers, like cortex");
}

#[tokio::test]
async fn thousands_of_labels_are_refused_cheaply() {
    let h = harness();
    let names: Vec<String> = (0..10_000).map(|i| format!("l{i}")).collect();
    let mut pairs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    pairs.push(("__name__", "m"));
    let error =
        h.push(&request(vec![series(&pairs, &[(now_ms(), 1.0)])])).await.expect_err("too many labels");
    assert_eq!(error.code, ErrorCode::BadData);
    assert!(error.message.starts_with("series has too many labels (actual: 10001, limit: 30)"));
    assert!(error.message.len() < 400);
}

#[tokio::test]
async fn metadata_is_validated_and_forwarded() {
    let h = harness();
    let mut input = request(vec![]);
    input.metadata = vec![
        MetricMetadata {
            r#type: prompb::metric_metadata::MetricType::Counter as i32,
            metric_family_name: "http_requests_total".into(),
            help: "Requests.".into(),
            unit: String::new(),
        },
        MetricMetadata {
            r#type: 42,
            metric_family_name: "weird_type".into(),
            help: String::new(),
            unit: String::new(),
        },
        MetricMetadata {
            r#type: 1,
            metric_family_name: String::new(),
            help: "no name".into(),
            unit: String::new(),
        },
    ];
    let error = h.push(&input).await.expect_err("one entry is invalid");
    assert_eq!(error.message, "metadata missing metric name");
    let pushed = h.pusher.pushed();
    let metadata = &pushed[0].1.metadata;
    assert_eq!(metadata.len(), 2);
    assert_eq!(metadata[0].metric_type, "counter");
    assert_eq!(metadata[0].help, "Requests.");
    assert_eq!(metadata[1].metric_type, "unknown");
    assert_eq!(
        h.metric("cortex_discarded_metadata_total{reason=\"missing_metric_name\",user=\"user-1\"}"),
        Some(1.0)
    );
    assert_eq!(h.metric("cortex_distributor_received_metadata_total{user=\"user-1\"}"), Some(2.0));
    assert_eq!(h.metric("cortex_distributor_metadata_in_total{user=\"user-1\"}"), Some(3.0));
}

#[tokio::test]
async fn exemplars_and_native_histograms_are_ignored() {
    let h = harness();
    let now = now_ms();
    let mut with_exemplar = series(&[("__name__", "m")], &[(now, 1.0)]);
    with_exemplar.exemplars = vec![Exemplar {
        labels: vec![Label { name: "trace_id".into(), value: "abc".into() }],
        value: 1.0,
        timestamp: now,
    }];
    let mut bytes = request(vec![with_exemplar]).encode_to_vec();
    // Append a second series that carries only a native histogram (field 4).
    let mut hist = Vec::new();
    let label = [0x0a, 0x08, b'_', b'_', b'n', b'a', b'm', b'e', b'_', b'_', 0x12, 0x01, b'h'];
    hist.push(0x0a);
    hist.push(label.len() as u8);
    hist.extend_from_slice(&label);
    hist.extend_from_slice(&[0x22, 0x02, 0x08, 0x01]);
    bytes.push(0x0a);
    bytes.push(hist.len() as u8);
    bytes.extend_from_slice(&hist);
    h.push_body(compress(&bytes)).await.expect("accepted");
    let pushed = h.pusher.pushed();
    assert_eq!(pushed[0].1.series.len(), 1, "the histogram-only series has no float samples");
    assert_eq!(pushed[0].1.series[0].samples.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_are_decoded_in_place_on_a_blocking_thread() {
    let h = harness();
    let now = now_ms();
    let timeseries: Vec<TimeSeries> = (0..20_000)
        .map(|i| {
            let instance = format!("host-{i}.example.org:9100-{}", i * 7919);
            series(
                &[("__name__", "node_cpu_seconds_total"), ("instance", &instance), ("cpu", &i.to_string())],
                &[(now, i as f64)],
            )
        })
        .collect();
    let body = compress(&request(timeseries).encode_to_vec());
    assert!(body.len() > 64 << 10, "{}", body.len());
    let limits = Limits { ingestion_rate: 1e9, ingestion_burst_size: 1_000_000, ..Limits::default() };
    h.overrides.replace(HashMap::from([("user-1".to_string(), limits)]));
    h.push_body(body.clone()).await.expect("accepted");
    assert_eq!(h.pusher.pushed()[0].1.series.len(), 20_000);
    // The same body on a current-thread runtime is decoded inline.
    let inline = harness();
    inline
        .overrides
        .replace(h.overrides.snapshot().iter().map(|(k, v)| (k.clone(), (**v).clone())).collect());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(inline.push_body(body)).expect("accepted");
        assert_eq!(inline.pusher.pushed()[0].1.series.len(), 20_000);
    })
    .join()
    .expect("joins");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_inflight_limit_refuses_extra_requests() {
    let config = DistributorConfig {
        instance_limits: InstanceLimits { max_inflight_push_requests: 1, ..InstanceLimits::default() },
        ..DistributorConfig::default()
    };
    let h = harness_with(config, Limits::default());
    *h.pusher.delay.lock() = Some(Duration::from_millis(300));
    let input = request(vec![series(&[("__name__", "m")], &[(now_ms(), 1.0)])]);
    let body = Bytes::from(compress(&input.encode_to_vec()));
    let distributor = h.distributor.clone();
    let first_body = body.clone();
    let first =
        tokio::spawn(
            async move { distributor.push_http(&tenant(), PushHeaders::default(), first_body).await },
        );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let error =
        h.distributor.push_http(&tenant(), PushHeaders::default(), body.clone()).await.expect_err("busy");
    assert_eq!(error.code, ErrorCode::Unavailable);
    assert_eq!(error.message, "too many inflight push requests in distributor");
    first.await.expect("joins").expect("first accepted");
    *h.pusher.delay.lock() = None;
    h.distributor.push_http(&tenant(), PushHeaders::default(), body).await.expect("free again");
}

#[tokio::test]
async fn instance_ingestion_rate_limit() {
    let config = DistributorConfig {
        instance_limits: InstanceLimits { max_ingestion_rate: 1.0, ..InstanceLimits::default() },
        ..DistributorConfig::default()
    };
    let h = harness_with(config, Limits::default());
    let samples: Vec<(i64, f64)> = (0..100).map(|i| (now_ms() - i, 1.0)).collect();
    let input = request(vec![series(&[("__name__", "m")], &samples)]);
    // The first second has no measured rate yet; after it, 100 samples/s is over the limit.
    h.push(&input).await.expect("no rate measured yet");
    tokio::time::sleep(Duration::from_millis(1050)).await;
    let error = h.push(&input).await.expect_err("over the instance rate");
    assert_eq!(error.code, ErrorCode::Unavailable);
    assert_eq!(error.message, "distributor's samples push rate limit reached");
}
