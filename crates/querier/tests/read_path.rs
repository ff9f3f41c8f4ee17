//! The querier's read path over a real in-memory ingester and a chunk store on the in-memory
//! index and object clients: a range spanning both sources answers exactly as one source
//! holding everything, the time rules route reads, the store's metric-name requirement
//! surfaces on selects only, and the series / label APIs read the store only when asked to.

mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use neocortex_core::metrics::DiscardedSamples;
use neocortex_core::{
    ErrorCode, Labels, Limits, MatchOp, Matcher, Overrides, PushRequest, PushSeries, Pusher, Queryable,
    QueryableSource, Sample, SelectHints, TenantId,
};
use neocortex_ingester::{Ingester, IngesterConfig};
use neocortex_proto::prometheus::{label_matcher, read_request, LabelMatcher, Query, ReadRequest};
use neocortex_querier::{
    query_api_router, read_api_router, QuerierConfig, QuerierSource, QueryApiState, ReadApiState, Routing,
};
use neocortex_storage::index::memory::MemoryIndexClient;
use neocortex_storage::object::memory::MemoryObjectClient;
use neocortex_storage::{ChunkStore, SchemaConfig, SeriesChunks};
use neocortex_testkit::chunks::xor_chunks;
use prost::Message;

const SCHEMA: &str = r#"
configs:
  - from: 2023-01-01
    store: redb
    object_store: filesystem
    schema: v11
    index: {prefix: index_, period: 24h}
    row_shards: 4
"#;

/// 2023-11-14T22:00:00Z, on a 15 s boundary.
const T0: i64 = 1_700_000_100_000;
const MINUTE: i64 = 60_000;
const STEP: i64 = 15_000;
/// Samples per series: two hours at 15 s.
const SAMPLES: i64 = 480;
const END: i64 = T0 + (SAMPLES - 1) * STEP;
/// The store holds samples up to here; the ingester holds samples from `INGESTER_FROM`, so the
/// twenty minutes between are in both (flushed chunks still retained in memory).
const STORE_UNTIL: i64 = T0 + 80 * MINUTE;
const INGESTER_FROM: i64 = T0 + 60 * MINUTE;
/// Samples per stored chunk, so chunks do not line up with the overlap.
const CHUNK_SAMPLES: usize = 70;

fn tenant() -> TenantId {
    TenantId::new("team-a").expect("valid tenant")
}

/// Several counters and gauges, plus `rp_batch_last_run`, which only the store holds.
fn dataset() -> Vec<(Labels, Vec<Sample>)> {
    let mut out = Vec::new();
    for (index, instance) in ["a:9100", "b:9100", "c:9100"].iter().enumerate() {
        for code in ["200", "500"] {
            let labels = Labels::from_pairs([
                ("__name__", "rp_requests_total"),
                ("code", code),
                ("instance", instance),
                ("job", "api"),
            ]);
            let samples = (0..SAMPLES)
                .map(|i| Sample { timestamp_ms: T0 + i * STEP, value: (i * (index as i64 + 1)) as f64 });
            out.push((labels, samples.collect()));
        }
        let labels =
            Labels::from_pairs([("__name__", "rp_temperature"), ("instance", instance), ("job", "node")]);
        let samples = (0..SAMPLES).map(|i| Sample {
            timestamp_ms: T0 + i * STEP,
            value: 20.0 + ((i as f64) / 7.0).sin() * index as f64,
        });
        out.push((labels, samples.collect()));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn store_only_series() -> (Labels, Vec<Sample>) {
    let labels =
        Labels::from_pairs([("__name__", "rp_batch_last_run"), ("batch_id", "nightly"), ("job", "batch")]);
    let samples = (0..40).map(|i| Sample { timestamp_ms: T0 + i * STEP, value: 1.5 * i as f64 });
    (labels, samples.collect())
}

fn new_ingester() -> Arc<Ingester> {
    let mut registry = prometheus_client::registry::Registry::default();
    Ingester::new(
        IngesterConfig::default(),
        Overrides::new(Limits::default()),
        DiscardedSamples::default(),
        &mut registry,
    )
}

async fn push(ingester: &Ingester, series: &[(Labels, Vec<Sample>)]) {
    let series = series
        .iter()
        .filter(|(_, samples)| !samples.is_empty())
        .map(|(labels, samples)| PushSeries { labels: labels.clone(), samples: samples.clone() })
        .collect();
    ingester.push(&tenant(), PushRequest { series, metadata: Vec::new() }).await.expect("push accepted");
}

async fn store_with(series: &[(Labels, Vec<Sample>)]) -> Arc<ChunkStore> {
    let schema = SchemaConfig::from_yaml(SCHEMA).expect("schema");
    let store =
        ChunkStore::new(schema, Arc::new(MemoryIndexClient::new()), Arc::new(MemoryObjectClient::new()));
    let mut all = Vec::new();
    for (labels, samples) in series {
        all.push(SeriesChunks { labels: labels.clone(), chunks: xor_chunks(samples, CHUNK_SAMPLES) });
    }
    store.put_many(&tenant(), &all).await.expect("stored");
    Arc::new(store)
}

fn until(series: &[(Labels, Vec<Sample>)], last_ms: i64) -> Vec<(Labels, Vec<Sample>)> {
    series
        .iter()
        .map(|(l, s)| (l.clone(), s.iter().copied().filter(|s| s.timestamp_ms <= last_ms).collect()))
        .collect()
}

fn from(series: &[(Labels, Vec<Sample>)], first_ms: i64) -> Vec<(Labels, Vec<Sample>)> {
    series
        .iter()
        .map(|(l, s)| (l.clone(), s.iter().copied().filter(|s| s.timestamp_ms >= first_ms).collect()))
        .collect()
}

/// The split world (store: old part, ingester: recent part, overlapping) and the reference (one
/// ingester holding everything, the store-only series included).
struct World {
    store: Arc<ChunkStore>,
    ingester: Arc<Ingester>,
    reference: Arc<Ingester>,
}

async fn world() -> World {
    let data = dataset();
    let mut stored = until(&data, STORE_UNTIL);
    stored.push(store_only_series());
    let store = store_with(&stored).await;
    let ingester = new_ingester();
    push(&ingester, &from(&data, INGESTER_FROM)).await;
    let reference = new_ingester();
    let mut everything = data;
    everything.push(store_only_series());
    push(&reference, &everything).await;
    World { store, ingester, reference }
}

fn source(world: &World, routing: Routing, now_ms: i64) -> QuerierSource {
    let store =
        Arc::new(neocortex_querier::ChunkStoreSource::new(world.store.clone())) as Arc<dyn QueryableSource>;
    QuerierSource::with_sources(world.ingester.clone(), Some(store), routing).with_clock(move || now_ms)
}

fn hints(start_ms: i64, end_ms: i64) -> SelectHints {
    SelectHints { start_ms, end_ms }
}

fn name(metric: &str) -> Matcher {
    Matcher::equal("__name__", metric)
}

fn matcher(op: MatchOp, label: &str, value: &str) -> Matcher {
    Matcher::new(op, label, value).expect("valid matcher")
}

#[tokio::test]
async fn a_range_spanning_both_sources_answers_as_one_source() {
    let world = world().await;
    let merged = source(&world, Routing::default(), END + MINUTE).queryable(&tenant());
    let reference = world.reference.queryable(&tenant());
    let labels_too = Routing { query_store_for_labels: true, ..Routing::default() };
    let with_labels = source(&world, labels_too, END + MINUTE).queryable(&tenant());

    // The overlap really is in both sources, so equality below proves the dedupe.
    let overlap = hints(INGESTER_FROM, STORE_UNTIL);
    let in_store = world.store.for_tenant(tenant()).select(overlap, &[name("rp_temperature")]).await.unwrap();
    let in_ingester =
        world.ingester.queryable(&tenant()).select(overlap, &[name("rp_temperature")]).await.unwrap();
    assert_eq!(in_store.len(), 3);
    assert_eq!(in_store, in_ingester);

    let ranges = [
        hints(T0, END),
        hints(T0 - 60 * MINUTE, END + 60 * MINUTE),
        hints(T0 + 50 * MINUTE, T0 + 90 * MINUTE),
        hints(T0 + 61 * MINUTE, T0 + 62 * MINUTE),
        hints(T0, T0 + 30 * MINUTE),
        hints(T0 + 100 * MINUTE, END),
        hints(STORE_UNTIL, STORE_UNTIL),
    ];
    let selectors = [
        vec![name("rp_requests_total")],
        vec![name("rp_temperature")],
        vec![name("rp_batch_last_run")],
        vec![name("rp_requests_total"), matcher(MatchOp::RegexMatch, "instance", "a.*|c:9100")],
        vec![name("rp_requests_total"), matcher(MatchOp::NotEqual, "code", "200")],
        vec![name("rp_temperature"), matcher(MatchOp::RegexNoMatch, "missing", ".+")],
    ];
    let mut samples_compared = 0;
    for range in ranges {
        for selector in &selectors {
            let got = merged.select(range, selector).await.unwrap();
            let want = reference.select(range, selector).await.unwrap();
            assert_eq!(got, want, "range {range:?}, selector {selector:?}");
            samples_compared += want.iter().map(|s| s.samples.len()).sum::<usize>();
            let got_series = with_labels.series(range, selector).await.unwrap();
            assert_eq!(
                got_series,
                reference.series(range, selector).await.unwrap(),
                "{range:?} {selector:?}"
            );
            let names = with_labels.label_names(range, selector).await.unwrap();
            assert_eq!(
                names,
                reference.label_names(range, selector).await.unwrap(),
                "{range:?} {selector:?}"
            );
        }
    }
    assert!(samples_compared > 10_000, "compared {samples_compared} samples");
}

#[tokio::test]
async fn time_rules_route_each_part_of_the_range() {
    let world = world().await;
    let now = END;
    // Ingesters answer ranges ending within the last 70 minutes; the store answers data older
    // than 30 minutes: together they still cover everything.
    let routing = Routing {
        query_ingesters_within_ms: 70 * MINUTE,
        query_store_after_ms: 30 * MINUTE,
        query_store_for_labels: false,
    };
    let merged = source(&world, routing, now).queryable(&tenant());
    let reference = world.reference.queryable(&tenant());
    for range in [hints(T0, END), hints(T0, T0 + 40 * MINUTE), hints(T0 + 95 * MINUTE, END)] {
        for metric in ["rp_requests_total", "rp_temperature", "rp_batch_last_run"] {
            let got = merged.select(range, &[name(metric)]).await.unwrap();
            assert_eq!(
                got,
                reference.select(range, &[name(metric)]).await.unwrap(),
                "{metric} over {range:?}"
            );
        }
    }

    // Each rule has an effect: the ingester alone is skipped for old ranges...
    let empty_store = World {
        store: store_with(&[]).await,
        ingester: world.reference.clone(),
        reference: world.reference.clone(),
    };
    let ingesters_only = source(&empty_store, routing, now).queryable(&tenant());
    let old = hints(T0, now - 70 * MINUTE - 1);
    assert!(ingesters_only.select(old, &[name("rp_temperature")]).await.unwrap().is_empty());
    let edge = hints(T0, now - 70 * MINUTE);
    assert_eq!(ingesters_only.select(edge, &[name("rp_temperature")]).await.unwrap().len(), 3);

    // ...and the store alone is read only up to now - query_store_after.
    let empty_ingester =
        World { store: world.store.clone(), ingester: new_ingester(), reference: world.reference.clone() };
    let store_only = source(&empty_ingester, routing, T0 + 70 * MINUTE).queryable(&tenant());
    let selected = store_only.select(hints(T0, END), &[name("rp_temperature")]).await.unwrap();
    assert_eq!(selected.len(), 3);
    for series in selected {
        assert_eq!(series.samples.last().map(|s| s.timestamp_ms), Some(T0 + 40 * MINUTE));
    }
    assert!(store_only
        .select(hints(T0 + 41 * MINUTE, END), &[name("rp_temperature")])
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn selects_without_a_metric_name_fail_only_when_the_store_is_asked() {
    let world = world().await;
    let now = END;
    let by_job = [matcher(MatchOp::Equal, "job", "node")];
    let merged = source(&world, Routing::default(), now).queryable(&tenant());
    let error = merged.select(hints(T0, END), &by_job).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::BadData);
    assert_eq!(error.message, "query must contain metric name");
    let regex_name = [matcher(MatchOp::RegexMatch, "__name__", "rp_temp.*")];
    assert!(merged.select(hints(T0, END), &regex_name).await.is_err());

    // A recent range the store is not asked for is answered by the ingesters.
    let routing = Routing { query_store_after_ms: 30 * MINUTE, ..Routing::default() };
    let recent = source(&world, routing, now).queryable(&tenant());
    let selected = recent.select(hints(now - 10 * MINUTE, now), &by_job).await.unwrap();
    assert_eq!(selected.len(), 3);
    assert!(selected.iter().all(|s| s.samples.len() == 41));
}

#[tokio::test]
async fn series_and_label_apis_read_the_store_only_when_enabled() {
    let world = world().await;
    let now = END;
    let batch = [name("rp_batch_last_run")];
    let batch_labels = store_only_series().0;

    // Cortex's default: the ingesters answer, whatever the range (query_ingesters_within does
    // not apply), and nothing goes wrong without a metric name.
    let routing = Routing { query_ingesters_within_ms: MINUTE, ..Routing::default() };
    let default = source(&world, routing, now).queryable(&tenant());
    assert!(default.series(hints(T0, END), &batch).await.unwrap().is_empty());
    let recent_but_outside = hints(INGESTER_FROM, INGESTER_FROM + MINUTE);
    assert_eq!(default.series(recent_but_outside, &[name("rp_temperature")]).await.unwrap().len(), 3);
    let names = default.label_names(hints(T0, END), &[]).await.unwrap();
    assert_eq!(names, ["__name__", "code", "instance", "job"]);
    let jobs = default.label_values(hints(T0, END), "job", &[]).await.unwrap();
    assert_eq!(jobs, ["api", "node"]);

    let routing = Routing { query_store_for_labels: true, ..routing };
    let enabled = source(&world, routing, now).queryable(&tenant());
    assert_eq!(enabled.series(hints(T0, END), &batch).await.unwrap(), vec![batch_labels.clone()]);
    assert_eq!(enabled.label_names(hints(T0, END), &batch).await.unwrap(), ["__name__", "batch_id", "job"]);
    assert_eq!(enabled.label_values(hints(T0, END), "batch_id", &batch).await.unwrap(), ["nightly"]);
    // Without a metric name the store contributes nothing and says nothing wrong.
    assert_eq!(enabled.label_names(hints(T0, END), &[]).await.unwrap(), names);
    assert_eq!(enabled.label_values(hints(T0, END), "job", &[]).await.unwrap(), jobs);
    let by_job = [matcher(MatchOp::Equal, "job", "batch")];
    assert!(enabled.series(hints(T0, END), &by_job).await.unwrap().is_empty());
    // query_store_after bounds these reads too: the batch series ended long before now - 2h.
    let routing = Routing { query_store_after_ms: 100 * MINUTE, ..routing };
    let bounded = source(&world, routing, now).queryable(&tenant());
    assert_eq!(bounded.series(hints(T0, END), &batch).await.unwrap(), vec![batch_labels]);
    assert!(bounded.series(hints(now - 10 * MINUTE, END), &batch).await.unwrap().is_empty());
}

fn router(source: Arc<dyn QueryableSource>) -> axum::Router {
    let read = ReadApiState::new(source, QuerierConfig::default());
    read_api_router(read.clone())
        .merge(query_api_router(QueryApiState::new(read, Overrides::new(Limits::default()))))
}

async fn get(router: &axum::Router, uri: &str) -> support::Answer {
    support::get(router, "team-a", uri).await
}

async fn remote_read(router: &axum::Router, request: &ReadRequest) -> support::Answer {
    let body = snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()).expect("compresses");
    let request = support::request(
        Method::POST,
        "/read",
        Some("team-a"),
        Body::from(body),
        Some("application/x-protobuf"),
    );
    support::send(router, request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_range_and_remote_read_over_both_sources_match_one_source() {
    let world = world().await;
    let merged = router(Arc::new(source(&world, Routing::default(), END)));
    let reference = router(world.reference.clone());
    let seconds = |ms: i64| format!("{:.3}", ms as f64 / 1000.0);
    for query in
        ["rp_temperature", "rate(rp_requests_total[5m])", "rp_batch_last_run", "rp_requests_total[20m]"]
    {
        let (start, end) = (seconds(T0), seconds(END));
        let uri = if query.ends_with(']') {
            format!("/query?query={}&time={}", support::encode(query), seconds(STORE_UNTIL + 5 * MINUTE))
        } else {
            format!("/query_range?query={}&start={start}&end={end}&step=15", support::encode(query))
        };
        let got = get(&merged, &uri).await;
        let want = get(&reference, &uri).await;
        assert_eq!(got.status, StatusCode::OK, "{query}: {}", got.text());
        assert_eq!(got.text(), want.text(), "{query}");
        assert!(want.text().len() > 500, "{query} answers data: {}", want.text());
    }

    let request = ReadRequest {
        queries: vec![Query {
            start_timestamp_ms: T0,
            end_timestamp_ms: END,
            matchers: vec![LabelMatcher {
                r#type: label_matcher::Type::Eq as i32,
                name: "__name__".to_string(),
                value: "rp_requests_total".to_string(),
            }],
            hints: None,
        }],
        accepted_response_types: vec![read_request::ResponseType::Samples as i32],
    };
    let got = remote_read(&merged, &request).await;
    let want = remote_read(&reference, &request).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text());
    assert_eq!(got.body, want.body);
    assert!(want.body.len() > 1000);
}
