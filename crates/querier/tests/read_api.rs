//! The JSON read API against an in-memory source: shapes byte for byte as Prometheus 2.42
//! answers for the same data, every error path, and tenant isolation.

mod support;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use neocortex_core::duration::GoDuration;
use neocortex_core::ErrorCode;
use neocortex_querier::QuerierConfig;
use support::*;

const JSON: &str = "application/json";

async fn expect_json(router: &axum::Router, uri: &str, status: StatusCode, expected: &str) {
    let answer = get(router, "a", uri).await;
    assert_eq!(answer.text(), expected, "GET {uri}");
    assert_eq!(answer.status, status, "GET {uri}");
    assert_eq!(answer.content_type, JSON, "GET {uri}");
}

#[tokio::test]
async fn label_names_match_prometheus() {
    let router = router();
    let expected = r#"{"status":"success","data":["__name__","instance","job","method","zone"]}"#;
    expect_json(&router, "/labels", StatusCode::OK, expected).await;
    let uri = format!("/labels?match[]={}", encode(r#"{job=~"api|db"}"#));
    expect_json(&router, &uri, StatusCode::OK, expected).await;
    let answer = post_form(&router, "a", "/labels", &format!("match[]={}", encode(r#"up{job="db"}"#))).await;
    assert_eq!(answer.text(), r#"{"status":"success","data":["__name__","instance","job"]}"#);
    // Several selectors: the union.
    let uri = format!("/labels?match[]={}&match[]=up", encode(r#"{method="POST"}"#));
    expect_json(
        &router,
        &uri,
        StatusCode::OK,
        r#"{"status":"success","data":["__name__","instance","job","method","zone"]}"#,
    )
    .await;
    // Nothing matches: an empty list, not null.
    expect_json(&router, "/labels?match[]=nope", StatusCode::OK, r#"{"status":"success","data":[]}"#).await;
}

#[tokio::test]
async fn label_values_match_prometheus() {
    let router = router();
    expect_json(
        &router,
        "/label/instance/values",
        StatusCode::OK,
        r#"{"status":"success","data":["a:1","b\u003c\u0026\u003e\"\\x"]}"#,
    )
    .await;
    expect_json(
        &router,
        "/label/zone/values",
        StatusCode::OK,
        "{\"status\":\"success\",\"data\":[\"é\\n\"]}",
    )
    .await;
    let uri = format!("/label/job/values?match[]={}&match[]=http_requests_total", encode(r#"up{job="api"}"#));
    expect_json(&router, &uri, StatusCode::OK, r#"{"status":"success","data":["api"]}"#).await;
    let uri = format!("/label/__name__/values?match[]={}", encode(r#"{job=~"api|db"}"#));
    expect_json(&router, &uri, StatusCode::OK, r#"{"status":"success","data":["http_requests_total","up"]}"#)
        .await;
    expect_json(&router, "/label/nonexistent/values", StatusCode::OK, r#"{"status":"success","data":[]}"#)
        .await;
}

#[tokio::test]
async fn series_match_prometheus() {
    let router = router();
    let up = r#"{"status":"success","data":[{"__name__":"up","instance":"a:1","job":"api"},{"__name__":"up","instance":"b\u003c\u0026\u003e\"\\x","job":"db"}]}"#;
    expect_json(&router, "/series?match[]=up", StatusCode::OK, up).await;
    expect_json(&router, &format!("/series?match[]={}", encode(r#"up{job!="self"}"#)), StatusCode::OK, up)
        .await;
    let both = r#"{"status":"success","data":[{"__name__":"http_requests_total","job":"api","method":"GET"},{"__name__":"http_requests_total","job":"api","method":"POST","zone":"é\n"},{"__name__":"up","instance":"a:1","job":"api"},{"__name__":"up","instance":"b\u003c\u0026\u003e\"\\x","job":"db"}]}"#;
    let uri =
        format!("/series?match[]={}&match[]={}", encode(r#"up{job!="self"}"#), encode(r#"{job="api"}"#));
    expect_json(&router, &uri, StatusCode::OK, both).await;
    // POST: the body's selectors and the query string's are united.
    let answer = post_form(&router, "a", "/series?match[]=http_requests_total", "match[]=up").await;
    assert_eq!((answer.status, answer.text().as_str()), (StatusCode::OK, both));
    let uri = format!("/series?match[]={}", encode(r#"up{instance=~"b.*"}"#));
    let expected =
        r#"{"status":"success","data":[{"__name__":"up","instance":"b\u003c\u0026\u003e\"\\x","job":"db"}]}"#;
    expect_json(&router, &uri, StatusCode::OK, expected).await;
}

#[tokio::test]
async fn series_time_range_is_passed_to_storage() {
    let router = router();
    // Only the GET series has a sample before T2.
    let uri = format!("/series?match[]=http_requests_total&end={}", (T2 - 1000) / 1000);
    let expected =
        r#"{"status":"success","data":[{"__name__":"http_requests_total","job":"api","method":"GET"}]}"#;
    expect_json(&router, &uri, StatusCode::OK, expected).await;
    let uri = format!("/series?match[]=http_requests_total&start={}", (T2 + 1000) / 1000);
    expect_json(&router, &uri, StatusCode::OK, r#"{"status":"success","data":[]}"#).await;
    // RFC 3339 and the boundary strings that clients send back.
    let uri = "/series?match[]=http_requests_total&start=2026-11-25T00:00:00Z&end=2026-11-25T13:00:00.000Z";
    expect_json(&router, uri, StatusCode::OK, expected).await;
    let uri = format!(
        "/series?match[]=up&start={}&end={}",
        encode("-292273086-05-16T16:47:06Z"),
        encode("292277025-08-18T07:12:54.999999999Z")
    );
    let answer = get(&router, "a", &uri).await;
    assert_eq!(answer.status, StatusCode::OK);
    // End before start is not an error in Prometheus: nothing matches.
    expect_json(
        &router,
        "/series?match[]=up&start=10&end=5",
        StatusCode::OK,
        r#"{"status":"success","data":[]}"#,
    )
    .await;
}

#[tokio::test]
async fn series_errors_match_prometheus() {
    let router = router();
    let cases = [
        ("/series", r#"{"status":"error","errorType":"bad_data","error":"no match[] parameter provided"}"#.to_string()),
        (
            "/series?match[]=up&start=x",
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"start\": Invalid time value for 'start': cannot parse \"x\" to a valid timestamp"}"#.to_string(),
        ),
        (
            "/series?match[]=up&end=1e400",
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"end\": Invalid time value for 'end': cannot parse \"1e400\" to a valid timestamp"}"#.to_string(),
        ),
        (
            "/series?match[]=%7B%7D",
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"match[]\": match[] must contain at least one non-empty matcher"}"#.to_string(),
        ),
        (
            "/series?match[]=up&start=%zz",
            r#"{"status":"error","errorType":"bad_data","error":"error parsing form values: invalid URL escape \"%zz\""}"#.to_string(),
        ),
        (
            "/series?match[]=up;x",
            r#"{"status":"error","errorType":"bad_data","error":"error parsing form values: invalid semicolon separator in query"}"#.to_string(),
        ),
        (
            "/series?match[]=up%7B",
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"match[]\": 1:4: parse error: unexpected end of input inside braces"}"#.to_string(),
        ),
        (
            "/series?match[]=up%7Bjob%3D%22%5Cq%22%7D",
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"match[]\": 1:8: parse error: unknown escape sequence U+0071 'q'"}"#.to_string(),
        ),
        (
            "/series?match[]=up%20offset%205m",
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"match[]\": 1:4: parse error: unexpected \u003coffset\u003e"}"#.to_string(),
        ),
    ];
    for (uri, expected) in cases {
        expect_json(&router, uri, StatusCode::BAD_REQUEST, &expected).await;
    }
}

#[tokio::test]
async fn label_errors_match_prometheus() {
    let router = router();
    let bad_start = r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"start\": Invalid time value for 'start': cannot parse \"x\" to a valid timestamp"}"#;
    expect_json(&router, "/labels?start=x", StatusCode::BAD_REQUEST, bad_start).await;
    expect_json(&router, "/label/job/values?start=x", StatusCode::BAD_REQUEST, bad_start).await;
    // Unlike /series, selector errors are not wrapped in "invalid parameter".
    let empty = r#"{"status":"error","errorType":"bad_data","error":"match[] must contain at least one non-empty matcher"}"#;
    expect_json(&router, "/labels?match[]=%7B%7D", StatusCode::BAD_REQUEST, empty).await;
    expect_json(&router, "/label/job/values?match[]=%7Bjob%3D%22%22%7D", StatusCode::BAD_REQUEST, empty)
        .await;
    let parse =
        r#"{"status":"error","errorType":"bad_data","error":"1:1: parse error: unexpected number \"1\""}"#;
    expect_json(&router, "/labels?match[]=1", StatusCode::BAD_REQUEST, parse).await;
    expect_json(
        &router,
        "/label/1a/values",
        StatusCode::BAD_REQUEST,
        r#"{"status":"error","errorType":"bad_data","error":"invalid label name: \"1a\""}"#,
    )
    .await;
    expect_json(
        &router,
        "/label/a%C3%A9/values",
        StatusCode::BAD_REQUEST,
        "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid label name: \\\"aé\\\"\"}",
    )
    .await;
    // Malformed pairs are skipped silently outside /series, as Go's FormValue does.
    let answer = get(&router, "a", "/labels?start=%zz").await;
    assert_eq!(answer.text(), r#"{"status":"success","data":["__name__","instance","job","method","zone"]}"#);
}

#[tokio::test]
async fn wrong_methods_are_refused() {
    let router = router();
    let answer =
        send(&router, request(Method::POST, "/label/job/values", Some("a"), Body::empty(), None)).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    let answer = send(&router, request(Method::GET, "/read", Some("a"), Body::empty(), None)).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn requests_without_a_tenant_get_401() {
    let router = router();
    for (method, uri) in [
        (Method::GET, "/series?match[]=up"),
        (Method::GET, "/labels"),
        (Method::GET, "/label/job/values"),
        (Method::GET, "/metadata"),
        (Method::POST, "/read"),
    ] {
        let answer = send(&router, request(method, uri, None, Body::empty(), None)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(answer.text(), "no org id\n", "{uri}");
        assert_eq!(answer.content_type, "text/plain; charset=utf-8", "{uri}");
    }
}

#[tokio::test]
async fn tenants_never_see_each_other() {
    let router = router();
    // Tenant b's series, names, values and metadata.
    let answer = get(&router, "b", "/series?match[]=up").await;
    assert_eq!(
        answer.text(),
        r#"{"status":"success","data":[{"__name__":"up","instance":"b:9","job":"secret","team":"b"}]}"#
    );
    let answer = get(&router, "b", "/labels").await;
    assert_eq!(answer.text(), r#"{"status":"success","data":["__name__","instance","job","team"]}"#);
    let answer = get(&router, "b", "/label/__name__/values").await;
    assert_eq!(answer.text(), r#"{"status":"success","data":["b_only_metric","up"]}"#);
    // None of it reaches tenant a.
    for uri in [
        "/series?match[]=up",
        "/series?match[]=b_only_metric",
        "/labels",
        "/label/job/values",
        "/label/__name__/values",
        "/label/team/values",
        "/metadata",
    ] {
        let text = get(&router, "a", uri).await.text();
        for secret in ["secret", "team", "b_only_metric", "b:9", "tenant b"] {
            assert!(!text.contains(secret), "tenant a saw {secret:?} at {uri}: {text}");
        }
    }
    // A tenant with no data sees nothing at all.
    assert_eq!(get(&router, "c", "/labels").await.text(), r#"{"status":"success","data":[]}"#);
    assert_eq!(get(&router, "c", "/series?match[]=up").await.text(), r#"{"status":"success","data":[]}"#);
    assert_eq!(get(&router, "c", "/metadata").await.text(), r#"{"status":"success","data":{}}"#);
}

#[tokio::test]
async fn metadata_shape_limit_and_filter() {
    let router = router();
    let all = r#"{"status":"success","data":{"http_requests_total":[{"type":"counter","help":"requests \u003cserved\u003e \u0026 more","unit":"requests"},{"type":"counter","help":"older help","unit":"requests"}],"up":[{"type":"gauge","help":"whether the target is up","unit":""}]}}"#;
    expect_json(&router, "/metadata", StatusCode::OK, all).await;
    expect_json(&router, "/metadata?limit=-1", StatusCode::OK, all).await;
    expect_json(
        &router,
        "/metadata?metric=up",
        StatusCode::OK,
        r#"{"status":"success","data":{"up":[{"type":"gauge","help":"whether the target is up","unit":""}]}}"#,
    )
    .await;
    let answer = get(&router, "a", "/metadata?limit=1").await;
    let parsed: serde_json::Value = serde_json::from_slice(&answer.body).expect("json");
    assert_eq!(parsed["data"].as_object().expect("object").len(), 1);
    expect_json(&router, "/metadata?limit=0", StatusCode::OK, r#"{"status":"success","data":{}}"#).await;
    expect_json(&router, "/metadata?metric=nope", StatusCode::OK, r#"{"status":"success","data":{}}"#).await;
    expect_json(
        &router,
        "/metadata?limit=x",
        StatusCode::BAD_REQUEST,
        r#"{"status":"error","errorType":"bad_data","error":"limit must be a number"}"#,
    )
    .await;
    let answer = get(&router, "b", "/metadata").await;
    assert_eq!(
        answer.text(),
        r#"{"status":"success","data":{"b_only_metric":[{"type":"gauge","help":"tenant b's metric","unit":""}]}}"#
    );
}

#[tokio::test]
async fn storage_errors_keep_their_category() {
    for (code, status, error_type) in [
        (ErrorCode::Execution, 422, "execution"),
        (ErrorCode::Internal, 500, "internal"),
        (ErrorCode::Unavailable, 503, "unavailable"),
        (ErrorCode::Canceled, 503, "canceled"),
    ] {
        let router =
            router_with(reference_source().behaving(Behaviour::Fail(code)), QuerierConfig::default());
        for uri in ["/series?match[]=up", "/labels", "/labels?match[]=up", "/label/job/values"] {
            let answer = get(&router, "a", uri).await;
            assert_eq!(answer.status.as_u16(), status, "{uri}");
            assert_eq!(
                answer.text(),
                format!(r#"{{"status":"error","errorType":"{error_type}","error":"storage is on fire"}}"#),
                "{uri}"
            );
        }
    }
}

#[tokio::test]
async fn slow_storage_times_out() {
    let config = QuerierConfig { timeout: GoDuration(Duration::from_millis(50)), ..QuerierConfig::default() };
    let router = router_with(reference_source().behaving(Behaviour::Hang), config);
    for uri in ["/series?match[]=up", "/labels", "/label/job/values"] {
        let answer = get(&router, "a", uri).await;
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{uri}");
        assert_eq!(
            answer.text(),
            r#"{"status":"error","errorType":"timeout","error":"context deadline exceeded"}"#
        );
    }
}

#[tokio::test]
async fn post_form_bodies_are_read_and_oversized_ones_refused() {
    let router = router();
    let answer = post_form(&router, "a", "/labels", "match[]=up&start=x").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.text().contains("cannot parse \\\"x\\\" to a valid timestamp"));
    // Body values come before query values, as in Go's r.Form.
    let answer = post_form(&router, "a", "/labels?start=y", "start=x").await;
    assert!(answer.text().contains("cannot parse \\\"x\\\""), "{}", answer.text());
    let huge = format!("match[]=up&pad={}", "x".repeat(11 << 20));
    let answer = post_form(&router, "a", "/series", &huge).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.text(),
        r#"{"status":"error","errorType":"bad_data","error":"error parsing form values: http: POST too large"}"#
    );
    // A body that is not a form is ignored.
    let body = Body::from("match[]=up");
    let answer = send(&router, request(Method::POST, "/series", Some("a"), body, Some("text/plain"))).await;
    assert_eq!(
        answer.text(),
        r#"{"status":"error","errorType":"bad_data","error":"no match[] parameter provided"}"#
    );
}
