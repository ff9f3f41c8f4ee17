//! Engine behaviour seen through the public API: result shapes and JSON, error codes, limits.

use std::time::Duration;

use futures::executor::block_on;
use neocortex_core::{stale_nan, ErrorCode, Labels, Sample};
use neocortex_promql::test_storage::TestStorage;
use neocortex_promql::{CancelHandle, Engine, EngineOptions, PromqlError, QueryValue};

fn samples(points: &[(i64, f64)]) -> Vec<Sample> {
    points.iter().map(|&(timestamp_ms, value)| Sample { timestamp_ms, value }).collect()
}

fn storage() -> TestStorage {
    let storage = TestStorage::new();
    for (instance, step) in [("a", 1.0), ("b", 2.0)] {
        let points: Vec<(i64, f64)> = (0..=20).map(|i| (i * 15_000, i as f64 * step)).collect();
        storage.add(
            Labels::from_pairs([("__name__", "requests_total"), ("job", "api"), ("instance", instance)]),
            samples(&points),
        );
    }
    storage.add(Labels::from_pairs([("__name__", "flaky")]), samples(&[(0, 1.0), (15_000, stale_nan())]));
    storage
}

fn instant(
    engine: &Engine,
    storage: &TestStorage,
    query: &str,
    time_ms: i64,
) -> Result<QueryValue, PromqlError> {
    block_on(engine.instant_query(storage, query, time_ms))
}

#[test]
fn instant_vector_json_matches_prometheus() {
    let engine = Engine::default();
    let value = instant(&engine, &storage(), "requests_total{instance=\"b\"} * 1.5", 300_000).unwrap();
    assert_eq!(
        value.to_json(),
        r#"{"resultType":"vector","result":[{"metric":{"instance":"b","job":"api"},"value":[300,"60"]}]}"#
    );
}

#[test]
fn range_query_returns_sorted_matrix_and_scalars_as_series() {
    let engine = Engine::default();
    let storage = storage();
    let value =
        block_on(engine.range_query(&storage, "sort_desc(requests_total)", 0, 30_000, 15_000)).unwrap();
    let QueryValue::Matrix(series) = &value else { panic!("expected a matrix, got {value:?}") };
    assert_eq!(series.len(), 2);
    assert_eq!(series[0].labels.get("instance"), Some("a"));
    assert_eq!(series[1].samples.iter().map(|s| s.value).collect::<Vec<_>>(), vec![0.0, 2.0, 4.0]);
    let scalar = block_on(engine.range_query(&storage, "time() * 2", 1_500, 2_500, 500)).unwrap();
    assert_eq!(
        scalar.to_json(),
        r#"{"resultType":"matrix","result":[{"metric":{},"values":[[1.500,"3"],[2,"4"],[2.500,"5"]]}]}"#
    );
}

#[test]
fn scalars_strings_and_range_vectors_in_instant_queries() {
    let engine = Engine::default();
    let storage = storage();
    assert_eq!(
        instant(&engine, &storage, "\"hello\"", 1_000).unwrap().to_json(),
        r#"{"resultType":"string","result":[1,"hello"]}"#
    );
    assert_eq!(
        instant(&engine, &storage, "scalar(requests_total{instance=\"a\"})", 30_000).unwrap(),
        QueryValue::Scalar { timestamp_ms: 30_000, value: 2.0 }
    );
    let QueryValue::Matrix(series) = instant(&engine, &storage, "requests_total[30s]", 30_000).unwrap()
    else {
        panic!("expected a matrix");
    };
    assert_eq!(series[0].samples.len(), 3, "closed window [t-30s, t] holds 3 samples");
}

#[test]
fn staleness_markers_and_lookback_delta() {
    let storage = storage();
    let engine = Engine::default();
    let before = instant(&engine, &storage, "flaky", 10_000).unwrap();
    assert!(matches!(before, QueryValue::Vector(ref v) if v.len() == 1));
    let after = instant(&engine, &storage, "flaky", 20_000).unwrap();
    assert_eq!(after, QueryValue::Vector(Vec::new()), "a staleness marker ends the series");

    let short = Engine::new(EngineOptions { lookback_delta: Duration::from_secs(60), ..Default::default() });
    let late = 300_000 + 61_000;
    assert_eq!(instant(&short, &storage, "requests_total", late).unwrap(), QueryValue::Vector(Vec::new()));
    assert!(
        matches!(instant(&engine, &storage, "requests_total", late).unwrap(), QueryValue::Vector(v) if v.len() == 2)
    );
}

#[test]
fn errors_carry_prometheus_codes() {
    let engine = Engine::default();
    let storage = storage();
    let parse = instant(&engine, &storage, "sum(requests_total", 0).unwrap_err();
    assert_eq!(parse.code(), ErrorCode::BadData);
    assert_eq!(parse.to_string(), "1:19: parse error: unclosed left parenthesis");

    let many = instant(&engine, &storage, "requests_total + on(job) requests_total", 0).unwrap_err();
    assert_eq!(many.code(), ErrorCode::Execution);
    assert!(many.to_string().contains("many-to-many matching not allowed"), "{many}");

    let duplicate =
        instant(&engine, &storage, "label_replace(requests_total, \"instance\", \"\", \"\", \"\")", 0)
            .unwrap_err();
    assert_eq!(duplicate.to_string(), "vector cannot contain metrics with the same labelset");

    let range = block_on(engine.range_query(&storage, "requests_total[1m]", 0, 60_000, 15_000)).unwrap_err();
    assert_eq!(range.code(), ErrorCode::BadData);
    let step = block_on(engine.range_query(&storage, "requests_total", 0, 60_000, 0)).unwrap_err();
    assert_eq!(step.code(), ErrorCode::BadData);

    let strict = Engine::new(EngineOptions {
        enable_at_modifier: false,
        enable_negative_offset: false,
        ..Default::default()
    });
    let at = instant(&strict, &storage, "sum(rate(requests_total[1m] @ 60))", 0).unwrap_err();
    assert_eq!((at.code(), at.to_string()), (ErrorCode::BadData, "@ modifier is disabled".to_string()));
    let offset = instant(&strict, &storage, "requests_total offset -1m", 0).unwrap_err();
    assert_eq!(offset.to_string(), "negative offset is disabled");
    assert!(instant(&strict, &storage, "requests_total offset 1m", 120_000).is_ok());

    let native = instant(&engine, &storage, "histogram_count(requests_total)", 0).unwrap_err();
    assert!(native.to_string().contains("native histograms are not supported"), "{native}");
}

#[test]
fn limits_timeout_and_cancel() {
    let storage = storage();
    let small = Engine::new(EngineOptions { max_samples: 5, ..Default::default() });
    let err = block_on(small.range_query(&storage, "requests_total", 0, 300_000, 15_000)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "query processing would load too many samples into memory in query execution"
    );
    assert_eq!(err.code(), ErrorCode::Execution);
    assert!(instant(&small, &storage, "requests_total", 0).is_ok(), "two samples fit");

    let hasty = Engine::new(EngineOptions { timeout: Duration::ZERO, ..Default::default() });
    let err = instant(&hasty, &storage, "requests_total", 0).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Timeout);

    let handle = CancelHandle::new();
    let engine = Engine::default().with_cancel(handle.clone());
    assert!(instant(&engine, &storage, "requests_total", 0).is_ok());
    handle.cancel();
    let err = instant(&engine, &storage, "requests_total", 0).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Canceled);
}
