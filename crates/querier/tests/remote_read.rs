//! Remote read: snappy protobuf in and out, round-tripped through the prost types, with tenant
//! isolation and every error path.

mod support;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use neocortex_core::ErrorCode;
use neocortex_proto::prometheus::{
    label_matcher, read_request, Label, LabelMatcher, Query, ReadRequest, ReadResponse, Sample, TimeSeries,
};
use neocortex_querier::QuerierConfig;
use prost::Message;
use support::*;

fn matcher(kind: label_matcher::Type, name: &str, value: &str) -> LabelMatcher {
    LabelMatcher { r#type: kind as i32, name: name.to_string(), value: value.to_string() }
}

fn query(start_ms: i64, end_ms: i64, matchers: Vec<LabelMatcher>) -> Query {
    Query { start_timestamp_ms: start_ms, end_timestamp_ms: end_ms, matchers, hints: None }
}

fn compress(bytes: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(bytes).expect("compresses")
}

async fn read(router: &axum::Router, tenant: Option<&str>, request: &ReadRequest) -> Answer {
    let body = Body::from(compress(&request.encode_to_vec()));
    send(router, support::request(Method::POST, "/read", tenant, body, Some("application/x-protobuf"))).await
}

fn decode(answer: &Answer) -> ReadResponse {
    assert_eq!(answer.status, StatusCode::OK, "{}", String::from_utf8_lossy(&answer.body));
    assert_eq!(answer.content_type, "application/x-protobuf");
    assert_eq!(answer.content_encoding, "snappy");
    let bytes = snap::raw::Decoder::new().decompress_vec(&answer.body).expect("snappy");
    ReadResponse::decode(bytes.as_slice()).expect("protobuf")
}

fn labels(pairs: &[(&str, &str)]) -> Vec<Label> {
    pairs.iter().map(|(name, value)| Label { name: name.to_string(), value: value.to_string() }).collect()
}

#[tokio::test]
async fn samples_round_trip_through_protobuf() {
    let router = router();
    let request = ReadRequest {
        queries: vec![
            query(T1, T2, vec![matcher(label_matcher::Type::Eq, "__name__", "up")]),
            query(
                T2,
                T2,
                vec![
                    matcher(label_matcher::Type::Re, "__name__", "http_.*"),
                    matcher(label_matcher::Type::Neq, "method", "GET"),
                ],
            ),
            query(T1, T2, vec![matcher(label_matcher::Type::Nre, "job", "api|db")]),
        ],
        accepted_response_types: vec![read_request::ResponseType::Samples as i32],
    };
    let response = decode(&read(&router, Some("a"), &request).await);
    assert_eq!(response.results.len(), 3);
    assert_eq!(
        response.results[0].timeseries,
        vec![
            TimeSeries {
                labels: labels(&[("__name__", "up"), ("instance", "a:1"), ("job", "api")]),
                samples: vec![Sample { value: 1.0, timestamp: T1 }, Sample { value: 1.0, timestamp: T2 }],
                exemplars: vec![],
            },
            TimeSeries {
                labels: labels(&[("__name__", "up"), ("instance", "b<&>\"\\x"), ("job", "db")]),
                samples: vec![Sample { value: 0.0, timestamp: T1 }],
                exemplars: vec![],
            },
        ]
    );
    assert_eq!(
        response.results[1].timeseries,
        vec![TimeSeries {
            labels: labels(&[
                ("__name__", "http_requests_total"),
                ("job", "api"),
                ("method", "POST"),
                ("zone", "é\n")
            ]),
            samples: vec![Sample { value: 5.0, timestamp: T2 }],
            exemplars: vec![],
        }]
    );
    assert!(response.results[2].timeseries.is_empty());
}

#[tokio::test]
async fn an_empty_request_gets_an_empty_response() {
    let response = decode(&read(&router(), Some("a"), &ReadRequest::default()).await);
    assert!(response.results.is_empty());
}

#[tokio::test]
async fn remote_read_is_tenant_scoped() {
    let router = router();
    let request = ReadRequest {
        queries: vec![query(0, i64::MAX, vec![matcher(label_matcher::Type::Re, "__name__", ".+")])],
        accepted_response_types: vec![],
    };
    let as_a = decode(&read(&router, Some("a"), &request).await);
    let as_b = decode(&read(&router, Some("b"), &request).await);
    assert_eq!(as_a.results[0].timeseries.len(), 4);
    assert_eq!(as_b.results[0].timeseries.len(), 2);
    let a_jobs: Vec<&str> = as_a.results[0]
        .timeseries
        .iter()
        .flat_map(|series| series.labels.iter().filter(|l| l.name == "job").map(|l| l.value.as_str()))
        .collect();
    assert!(!a_jobs.contains(&"secret"), "tenant a saw tenant b's series: {a_jobs:?}");
    assert!(as_b.results[0].timeseries.iter().all(|series| series.labels.iter().all(|l| l.value != "db")));
    let unknown = decode(&read(&router, Some("nobody"), &request).await);
    assert!(unknown.results[0].timeseries.is_empty());
    let missing = read(&router, None, &request).await;
    assert_eq!((missing.status, missing.text().as_str()), (StatusCode::UNAUTHORIZED, "no org id\n"));
}

#[tokio::test]
async fn malformed_requests_are_400_in_plain_text() {
    let router = router();
    let not_snappy = send(
        &router,
        support::request(Method::POST, "/read", Some("a"), Body::from(vec![0x05, 0xff, 0x01]), None),
    )
    .await;
    assert_eq!(not_snappy.status, StatusCode::BAD_REQUEST);
    assert!(not_snappy.text().starts_with("snappy: "), "{}", not_snappy.text());
    assert_eq!(not_snappy.content_type, "text/plain; charset=utf-8");

    // A declared decompressed length of 4 GiB is refused before allocating anything.
    let huge = send(
        &router,
        support::request(
            Method::POST,
            "/read",
            Some("a"),
            Body::from(vec![0xff, 0xff, 0xff, 0xff, 0x0f]),
            None,
        ),
    )
    .await;
    assert_eq!(huge.status, StatusCode::BAD_REQUEST);
    assert_eq!(huge.text(), "received message larger than max (4294967295 vs 104857600)\n");

    let not_protobuf = send(
        &router,
        support::request(Method::POST, "/read", Some("a"), Body::from(compress(&[0x0a, 0x05, 0x01])), None),
    )
    .await;
    assert_eq!(not_protobuf.status, StatusCode::BAD_REQUEST);
    assert!(not_protobuf.text().starts_with("proto: "), "{}", not_protobuf.text());

    let bad_regex = ReadRequest {
        queries: vec![query(0, 1, vec![matcher(label_matcher::Type::Re, "job", "(")])],
        accepted_response_types: vec![],
    };
    let answer = read(&router, Some("a"), &bad_regex).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.text().contains("invalid regular expression"), "{}", answer.text());

    let bad_type = ReadRequest {
        queries: vec![query(0, 1, vec![LabelMatcher { r#type: 9, name: "a".into(), value: "b".into() }])],
        accepted_response_types: vec![],
    };
    let answer = read(&router, Some("a"), &bad_type).await;
    assert_eq!(
        (answer.status, answer.text().as_str()),
        (StatusCode::BAD_REQUEST, "invalid matcher type 9\n")
    );

    let streamed_only = ReadRequest {
        queries: vec![],
        accepted_response_types: vec![read_request::ResponseType::StreamedXorChunks as i32],
    };
    let answer = read(&router, Some("a"), &streamed_only).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.text(),
        "server does not support any of the requested response types: [STREAMED_XOR_CHUNKS]; supported: [SAMPLES]\n"
    );
}

#[tokio::test]
async fn sample_limit_and_storage_errors() {
    let request = ReadRequest {
        queries: vec![query(T1, T2, vec![matcher(label_matcher::Type::Eq, "__name__", "up")])],
        accepted_response_types: vec![],
    };
    let config = QuerierConfig { max_samples: 2, ..QuerierConfig::default() };
    let answer = read(&router_with(reference_source(), config), Some("a"), &request).await;
    assert_eq!(
        (answer.status, answer.text().as_str()),
        (StatusCode::BAD_REQUEST, "exceeded sample limit (2)\n")
    );
    let config = QuerierConfig { max_samples: 3, ..QuerierConfig::default() };
    let answer = read(&router_with(reference_source(), config), Some("a"), &request).await;
    assert_eq!(decode(&answer).results[0].timeseries.len(), 2);

    let failing = reference_source().behaving(Behaviour::Fail(ErrorCode::Internal));
    let answer = read(&router_with(failing, QuerierConfig::default()), Some("a"), &request).await;
    assert_eq!(
        (answer.status, answer.text().as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "storage is on fire\n")
    );
}
