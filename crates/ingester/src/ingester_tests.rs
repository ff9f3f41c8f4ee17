//! Behaviour of the ingester through its public traits: push, query, limits, metadata, metrics.

use std::collections::HashMap;
use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

use neocortex_core::metrics::{DiscardLabels, DiscardedSamples};
use neocortex_core::{
    stale_nan, ErrorCode, Labels, Limits, MatchOp, Matcher, MetricMetadata, Overrides, PushRequest,
    PushSeries, Pusher, QueryableSource, Sample, SelectHints, TenantId, STALE_NAN_BITS,
};

use crate::{Ingester, IngesterConfig, InstanceLimits};

struct Harness {
    ingester: Arc<Ingester>,
    discarded: DiscardedSamples,
    registry: Registry,
    overrides: Overrides,
}

fn harness_with(config: IngesterConfig, limits: Limits) -> Harness {
    let mut registry = Registry::default();
    let discarded = DiscardedSamples::default();
    registry.register("cortex_discarded_samples", "Samples discarded.", discarded.clone());
    let overrides = Overrides::new(limits);
    let ingester = Ingester::new(config, overrides.clone(), discarded.clone(), &mut registry);
    Harness { ingester, discarded, registry, overrides }
}

fn harness() -> Harness {
    harness_with(IngesterConfig::default(), Limits::default())
}

fn tenant(id: &str) -> TenantId {
    TenantId::new(id).expect("valid tenant")
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> PushSeries {
    PushSeries {
        labels: labels(pairs),
        samples: samples.iter().map(|&(timestamp_ms, value)| Sample { timestamp_ms, value }).collect(),
    }
}

fn request(series: Vec<PushSeries>) -> PushRequest {
    PushRequest { series, metadata: Vec::new() }
}

fn all_time() -> SelectHints {
    SelectHints { start_ms: i64::MIN, end_ms: i64::MAX }
}

fn m(op: MatchOp, name: &str, value: &str) -> Matcher {
    Matcher::new(op, name, value).expect("valid matcher")
}

fn discarded(h: &Harness, reason: &str, user: &str) -> u64 {
    h.discarded.get_or_create(&DiscardLabels { reason: reason.to_string(), user: user.to_string() }).get()
}

fn exposition(h: &Harness) -> String {
    let mut text = String::new();
    encode(&mut text, &h.registry).expect("encodable");
    text
}

fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(&format!("{name} ")))
        .and_then(|line| line.split(' ').nth(1)?.parse().ok())
}

#[tokio::test]
async fn push_then_select_sorted_by_labels_within_range() {
    let h = harness();
    let t = tenant("a");
    h.ingester
        .push(
            &t,
            request(vec![
                series(&[("__name__", "up"), ("job", "b")], &[(1000, 1.0), (2000, 0.0), (3000, 1.0)]),
                series(&[("__name__", "up"), ("job", "a")], &[(1000, 1.0)]),
                series(&[("__name__", "down"), ("job", "a")], &[(1000, 5.0)]),
            ]),
        )
        .await
        .expect("push");
    let queryable = h.ingester.queryable(&t);
    let result = queryable.select(all_time(), &[Matcher::equal("__name__", "up")]).await.expect("select");
    assert_eq!(result.len(), 2);
    assert_eq!(result[0].labels, labels(&[("__name__", "up"), ("job", "a")]));
    assert_eq!(result[1].samples.len(), 3);
    let ranged = queryable
        .select(SelectHints { start_ms: 1500, end_ms: 2500 }, &[Matcher::equal("__name__", "up")])
        .await
        .expect("select");
    assert_eq!(ranged.len(), 1, "series without samples in range are left out");
    assert_eq!(ranged[0].samples, vec![Sample { timestamp_ms: 2000, value: 0.0 }]);
    let regex = queryable
        .select(all_time(), &[m(MatchOp::RegexMatch, "__name__", "u.*|do.n")])
        .await
        .expect("select");
    assert_eq!(regex.len(), 3);
    assert_eq!(h.ingester.series_count(&t), 3);
}

#[tokio::test]
async fn out_of_order_and_new_value_rejected_per_series_rest_stored() {
    let h = harness();
    let t = tenant("a");
    h.ingester.push(&t, request(vec![series(&[("__name__", "x")], &[(1234, 1.0)])])).await.expect("push");
    let err = h
        .ingester
        .push(
            &t,
            request(vec![
                series(&[("__name__", "x")], &[(1200, 1.0), (1234, 1.0), (1234, 2.0), (1300, 3.0)]),
                series(&[("__name__", "y")], &[(1000, 1.0)]),
            ]),
        )
        .await
        .expect_err("out of order sample");
    assert_eq!(err.code, ErrorCode::BadData);
    assert_eq!(
        err.message,
        r#"user=a: sample timestamp out of order; last timestamp: 1.234, incoming timestamp: 1.2 for series {__name__="x"}"#
    );
    assert_eq!(discarded(&h, "sample-out-of-order", "a"), 1);
    // The error names the earliest refused series of the request, whatever the shard order.
    let many: Vec<PushSeries> =
        (0..64).map(|i| series(&[("__name__", "z"), ("i", &i.to_string())], &[(10, 1.0)])).collect();
    h.ingester.push(&t, request(many.clone())).await.expect("push");
    let mut older = many;
    for s in &mut older {
        s.samples[0].timestamp_ms = 5;
    }
    let err = h.ingester.push(&t, request(older)).await.expect_err("all out of order");
    assert!(err.message.ends_with(r#"for series {__name__="z", i="0"}"#), "{}", err.message);
    assert_eq!(discarded(&h, "new-value-for-timestamp", "a"), 1);
    let stored = h.ingester.queryable(&t).select(all_time(), &[]).await.expect("select");
    let x: Vec<i64> = stored[0].samples.iter().map(|s| s.timestamp_ms).collect();
    assert_eq!(x, vec![1234, 1300], "in-order sample after the refused ones is stored");
    assert_eq!(stored[1].labels, labels(&[("__name__", "y")]));

    let err = h
        .ingester
        .push(&t, request(vec![series(&[("__name__", "x")], &[(1300, 4.0)])]))
        .await
        .expect_err("new value for timestamp");
    assert_eq!(
        err.message,
        r#"user=a: sample with repeated timestamp but different value; last value: 3, incoming value: 4 for series {__name__="x"}"#
    );
    let text = exposition(&h);
    assert_eq!(metric_value(&text, "cortex_ingester_ingested_samples_failures_total"), Some(3.0 + 64.0));
    assert_eq!(metric_value(&text, "cortex_ingester_ingested_samples_total"), Some(3.0 + 64.0));
}

#[tokio::test]
async fn per_user_series_limit_keeps_existing_series_growing() {
    let limits = Limits { max_series_per_user: 2, ..Limits::default() };
    let h = harness_with(IngesterConfig::default(), limits);
    let t = tenant("a");
    let err = h
        .ingester
        .push(
            &t,
            request(vec![
                series(&[("__name__", "m"), ("i", "1")], &[(1, 1.0)]),
                series(&[("__name__", "m"), ("i", "2")], &[(1, 1.0)]),
                series(&[("__name__", "m"), ("i", "3")], &[(1, 1.0), (2, 2.0)]),
            ]),
        )
        .await
        .expect_err("limit");
    assert_eq!(err.code, ErrorCode::TooManyRequests);
    assert_eq!(
        err.message,
        "user=a: per-user series limit of 2 exceeded, please contact administrator to raise it (local limit: 2 global limit: 0 actual local limit: 2)"
    );
    assert_eq!(discarded(&h, "per_user_series_limit", "a"), 2);
    h.ingester
        .push(&t, request(vec![series(&[("__name__", "m"), ("i", "1")], &[(2, 1.0)])]))
        .await
        .expect("existing series still accept samples");
    assert_eq!(h.ingester.series_count(&t), 2);
    // Another tenant has its own count.
    h.ingester
        .push(&tenant("b"), request(vec![series(&[("__name__", "m")], &[(1, 1.0)])]))
        .await
        .expect("push");
}

#[tokio::test]
async fn per_metric_series_limit_with_exempt_names() {
    let limits = Limits { max_series_per_metric: 1, ..Limits::default() };
    let config =
        IngesterConfig { ignore_series_limit_for_metric_names: "free".to_string(), ..Default::default() };
    let h = harness_with(config, limits);
    let t = tenant("a");
    let err = h
        .ingester
        .push(
            &t,
            request(vec![
                series(&[("__name__", "m"), ("i", "1")], &[(1, 1.0)]),
                series(&[("__name__", "m"), ("i", "2")], &[(1, 1.0)]),
                series(&[("__name__", "free"), ("i", "1")], &[(1, 1.0)]),
                series(&[("__name__", "free"), ("i", "2")], &[(1, 1.0)]),
                series(&[("__name__", "other")], &[(1, 1.0)]),
            ]),
        )
        .await
        .expect_err("limit");
    assert_eq!(err.code, ErrorCode::TooManyRequests);
    assert!(err.message.starts_with("user=a: per-metric series limit of 1 exceeded"), "{}", err.message);
    assert!(err.message.ends_with(r#"for series {__name__="m", i="2"}"#), "{}", err.message);
    assert_eq!(h.ingester.series_count(&t), 4);
    assert_eq!(discarded(&h, "per_metric_series_limit", "a"), 1);
}

#[tokio::test]
async fn overrides_apply_per_tenant_at_push_time() {
    let h = harness();
    h.overrides.replace(HashMap::from([(
        "small".to_string(),
        Limits { max_series_per_user: 1, ..Limits::default() },
    )]));
    let push_two =
        request(vec![series(&[("__name__", "a")], &[(1, 1.0)]), series(&[("__name__", "b")], &[(1, 1.0)])]);
    assert!(h.ingester.push(&tenant("small"), push_two.clone()).await.is_err());
    assert!(h.ingester.push(&tenant("big"), push_two).await.is_ok());
}

#[tokio::test]
async fn staleness_markers_are_stored_and_returned() {
    let h = harness();
    let t = tenant("a");
    h.ingester
        .push(&t, request(vec![series(&[("__name__", "x")], &[(1, 1.0), (2, stale_nan()), (3, 2.0)])]))
        .await
        .expect("push");
    let result = h.ingester.queryable(&t).select(all_time(), &[]).await.expect("select");
    assert_eq!(result[0].samples[1].value.to_bits(), STALE_NAN_BITS);
}

#[tokio::test]
async fn tenants_are_isolated() {
    let h = harness();
    let (a, b) = (tenant("team-a"), tenant("team-b"));
    let mut push_a = request(vec![series(&[("__name__", "secret"), ("owner", "a")], &[(1, 1.0)])]);
    push_a.metadata.push(MetricMetadata {
        metric_family_name: "secret".into(),
        metric_type: "gauge".into(),
        help: "a's".into(),
        unit: String::new(),
    });
    h.ingester.push(&a, push_a).await.expect("push");
    h.ingester
        .push(&b, request(vec![series(&[("__name__", "public"), ("owner", "b")], &[(1, 1.0)])]))
        .await
        .expect("push");

    let qb = h.ingester.queryable(&b);
    let everything = [m(MatchOp::RegexMatch, "__name__", ".+")];
    let selected = qb.select(all_time(), &everything).await.expect("select");
    assert_eq!(selected.len(), 1);
    assert_eq!(selected[0].labels.get("owner"), Some("b"));
    assert!(qb.select(all_time(), &[Matcher::equal("__name__", "secret")]).await.expect("select").is_empty());
    assert_eq!(qb.label_values(all_time(), "owner", &[]).await.expect("values"), vec!["b"]);
    assert_eq!(qb.label_values(all_time(), "__name__", &everything).await.expect("values"), vec!["public"]);
    assert_eq!(qb.series(all_time(), &everything).await.expect("series").len(), 1);
    assert!(h.ingester.metadata(&b, None, None).is_empty());
    assert_eq!(h.ingester.metadata(&a, Some("secret"), None).len(), 1);
    let nobody = h.ingester.queryable(&tenant("nobody"));
    assert!(nobody.select(all_time(), &everything).await.expect("select").is_empty());
    assert!(nobody.label_names(all_time(), &[]).await.expect("names").is_empty());
}

#[tokio::test]
async fn label_names_values_and_series_honour_matchers_and_range() {
    let h = harness();
    let t = tenant("a");
    h.ingester
        .push(
            &t,
            request(vec![
                series(&[("__name__", "cpu"), ("mode", "idle"), ("cpu", "0")], &[(1000, 1.0)]),
                series(&[("__name__", "cpu"), ("mode", "user"), ("cpu", "1")], &[(5000, 1.0)]),
                series(&[("__name__", "mem"), ("zone", "z")], &[(1000, 1.0)]),
            ]),
        )
        .await
        .expect("push");
    let q = h.ingester.queryable(&t);
    assert_eq!(q.label_names(all_time(), &[]).await.expect("names"), vec!["__name__", "cpu", "mode", "zone"]);
    let cpu = [Matcher::equal("__name__", "cpu")];
    assert_eq!(q.label_names(all_time(), &cpu).await.expect("names"), vec!["__name__", "cpu", "mode"]);
    assert_eq!(q.label_values(all_time(), "mode", &[]).await.expect("values"), vec!["idle", "user"]);
    let early = SelectHints { start_ms: 0, end_ms: 2000 };
    assert_eq!(q.label_values(early, "mode", &cpu).await.expect("values"), vec!["idle"]);
    assert_eq!(q.series(early, &cpu).await.expect("series").len(), 1);
    assert!(q.label_values(all_time(), "nope", &[]).await.expect("values").is_empty());
    let late = SelectHints { start_ms: 10_000, end_ms: 20_000 };
    assert!(q.label_names(late, &[]).await.expect("names").is_empty());
}

#[tokio::test]
async fn chunks_are_cut_every_120_samples_and_visible_to_the_flush_seam() {
    let h = harness();
    let t = tenant("a");
    let samples: Vec<(i64, f64)> = (0..250).map(|i| (i * 15_000, i as f64)).collect();
    for chunk in samples.chunks(50) {
        h.ingester.push(&t, request(vec![series(&[("__name__", "x")], chunk)])).await.expect("push");
    }
    assert_eq!(h.ingester.chunk_count(&t), 3);
    let text = exposition(&h);
    assert_eq!(metric_value(&text, "cortex_ingester_memory_chunks"), Some(3.0));
    assert_eq!(metric_value(&text, "cortex_ingester_memory_series"), Some(1.0));
    assert_eq!(metric_value(&text, "cortex_ingester_memory_users"), Some(1.0));
    assert!(text.contains(r#"cortex_ingester_memory_series_created_total{user="a"} 1"#), "{text}");
    assert!(text.contains(r#"cortex_ingester_memory_series_removed_total{user="a"} 0"#), "{text}");
    let mut closed = Vec::new();
    h.ingester.for_each_closed_chunks(&t, |labels, chunks| closed.push((labels.clone(), chunks.to_vec())));
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].1.len(), 2);
    let decoded = neocortex_chunk::XorChunk::from_bytes(&closed[0].1[1].data).expect("valid chunk");
    assert_eq!(decoded.num_samples(), 120);
    assert_eq!(closed[0].1[1].min_time_ms, 120 * 15_000);
    let all = h.ingester.queryable(&t).select(all_time(), &[]).await.expect("select");
    assert_eq!(all[0].samples.len(), 250);
}

#[tokio::test]
async fn metadata_latest_per_family_bounded() {
    let limits = Limits { max_metadata_per_user: 1, max_metadata_per_metric: 1, ..Limits::default() };
    let h = harness_with(IngesterConfig::default(), limits);
    let t = tenant("a");
    let meta = |name: &str, help: &str| MetricMetadata {
        metric_family_name: name.into(),
        metric_type: "counter".into(),
        help: help.into(),
        unit: String::new(),
    };
    let push = PushRequest {
        series: Vec::new(),
        metadata: vec![meta("a", "old"), meta("a", "new"), meta("b", "x")],
    };
    h.ingester.push(&t, push).await.expect("metadata problems do not fail the push");
    assert_eq!(h.ingester.metadata(&t, None, None), vec![meta("a", "new")]);
}

#[tokio::test]
async fn instance_tenant_limit() {
    let config = IngesterConfig {
        instance_limits: InstanceLimits { max_tenants: 1, ..Default::default() },
        ..Default::default()
    };
    let h = harness_with(config, Limits::default());
    let one = request(vec![series(&[("__name__", "x")], &[(1, 1.0)])]);
    h.ingester.push(&tenant("a"), one.clone()).await.expect("first tenant");
    let err = h.ingester.push(&tenant("b"), one).await.expect_err("second tenant");
    assert_eq!(err.code, ErrorCode::Unavailable);
}

#[test]
fn concurrent_pushes_create_each_series_once_and_keep_every_sample() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).build().expect("runtime");
    let h = harness();
    let t = tenant("a");
    runtime.block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|worker: i64| {
                let ingester = h.ingester.clone();
                let t = t.clone();
                tokio::spawn(async move {
                    // All workers race to create the same 200 series (identical samples are
                    // duplicates, silently accepted), then each writes 200 series of its own.
                    let shared: Vec<PushSeries> = (0..200)
                        .map(|i| series(&[("__name__", "m"), ("i", &i.to_string())], &[(0, 1.0)]))
                        .collect();
                    ingester.push(&t, request(shared)).await.expect("shared push");
                    let worker_label = worker.to_string();
                    for round in 0..20i64 {
                        let own: Vec<PushSeries> = (0..200)
                            .map(|i| {
                                let i = i.to_string();
                                series(&[("__name__", "m"), ("i", &i), ("w", &worker_label)], &[(round, 1.0)])
                            })
                            .collect();
                        ingester.push(&t, request(own)).await.expect("push");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
    });
    assert_eq!(h.ingester.series_count(&t), 200 + 8 * 200);
    let own = runtime
        .block_on(h.ingester.queryable(&t).select(all_time(), &[m(MatchOp::NotEqual, "w", "")]))
        .expect("select");
    assert_eq!(own.len(), 1600);
    assert!(own.iter().all(|s| s.samples.len() == 20));
    let shared = runtime
        .block_on(h.ingester.queryable(&t).select(all_time(), &[Matcher::equal("w", "")]))
        .expect("select");
    assert_eq!(shared.len(), 200);
    assert!(shared.iter().all(|s| s.samples.len() == 1));
    let one_i = runtime
        .block_on(h.ingester.queryable(&t).select(all_time(), &[Matcher::equal("i", "7")]))
        .expect("select");
    assert_eq!(one_i.len(), 9);
}
