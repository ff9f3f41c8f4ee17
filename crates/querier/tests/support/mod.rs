//! Test doubles: an in-memory `QueryableSource` holding series and metadata per tenant, and
//! helpers to call the router in-process.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use neocortex_core::matcher::matches_all;
use neocortex_core::{
    ErrorCode, Labels, Matcher, MetricMetadata, QueryError, Queryable, QueryableSource, Sample, SelectHints,
    Series, TenantId,
};
use neocortex_querier::{read_api_router, QuerierConfig, ReadApiState};
use tower::ServiceExt;

/// Series and metadata of one tenant.
#[derive(Debug, Clone, Default)]
pub struct TenantData {
    pub series: Vec<Series>,
    pub metadata: Vec<MetricMetadata>,
}

/// How the source misbehaves, for error-path tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Behaviour {
    #[default]
    Normal,
    Fail(ErrorCode),
    Hang,
}

/// A `QueryableSource` over vectors of series, one per tenant.
#[derive(Debug, Clone, Default)]
pub struct MemorySource {
    tenants: HashMap<String, Arc<TenantData>>,
    behaviour: Behaviour,
}

impl MemorySource {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_tenant(mut self, tenant: &str, mut data: TenantData) -> Self {
        data.series.sort_by(|a, b| a.labels.cmp(&b.labels));
        self.tenants.insert(tenant.to_string(), Arc::new(data));
        self
    }

    pub fn behaving(mut self, behaviour: Behaviour) -> Self {
        self.behaviour = behaviour;
        self
    }
}

impl QueryableSource for MemorySource {
    fn queryable(&self, tenant: &TenantId) -> Arc<dyn Queryable> {
        let data = self.tenants.get(tenant.as_str()).cloned().unwrap_or_default();
        Arc::new(MemoryQueryable { data, behaviour: self.behaviour })
    }

    fn metadata(&self, tenant: &TenantId, metric: Option<&str>, limit: Option<usize>) -> Vec<MetricMetadata> {
        let Some(data) = self.tenants.get(tenant.as_str()) else {
            return Vec::new();
        };
        let mut metrics_seen: Vec<&str> = Vec::new();
        let mut out = Vec::new();
        for entry in &data.metadata {
            if metric.is_some_and(|wanted| wanted != entry.metric_family_name) {
                continue;
            }
            if !metrics_seen.contains(&entry.metric_family_name.as_str()) {
                if limit.is_some_and(|limit| metrics_seen.len() >= limit) {
                    continue;
                }
                metrics_seen.push(&entry.metric_family_name);
            }
            out.push(entry.clone());
        }
        out
    }
}

struct MemoryQueryable {
    data: Arc<TenantData>,
    behaviour: Behaviour,
}

impl MemoryQueryable {
    async fn check(&self) -> Result<(), QueryError> {
        match self.behaviour {
            Behaviour::Normal => Ok(()),
            Behaviour::Fail(code) => Err(QueryError::new(code, "storage is on fire")),
            Behaviour::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            }
        }
    }

    fn matching<'a>(
        &'a self,
        hints: SelectHints,
        matchers: &'a [Matcher],
    ) -> impl Iterator<Item = &'a Series> + 'a {
        self.data.series.iter().filter(move |series| {
            matches_all(matchers, &series.labels)
                && series
                    .samples
                    .iter()
                    .any(|s| s.timestamp_ms >= hints.start_ms && s.timestamp_ms <= hints.end_ms)
        })
    }
}

#[async_trait]
impl Queryable for MemoryQueryable {
    async fn select(&self, hints: SelectHints, matchers: &[Matcher]) -> Result<Vec<Series>, QueryError> {
        self.check().await?;
        Ok(self
            .matching(hints, matchers)
            .map(|series| Series {
                labels: series.labels.clone(),
                samples: series
                    .samples
                    .iter()
                    .filter(|s| s.timestamp_ms >= hints.start_ms && s.timestamp_ms <= hints.end_ms)
                    .copied()
                    .collect(),
            })
            .collect())
    }

    async fn label_names(&self, hints: SelectHints, matchers: &[Matcher]) -> Result<Vec<String>, QueryError> {
        self.check().await?;
        let mut names: Vec<String> =
            self.matching(hints, matchers).flat_map(|s| s.labels.iter().map(|l| l.name.clone())).collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    async fn label_values(
        &self,
        hints: SelectHints,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, QueryError> {
        self.check().await?;
        let mut values: Vec<String> =
            self.matching(hints, matchers).filter_map(|s| s.labels.get(name).map(str::to_string)).collect();
        values.sort();
        values.dedup();
        Ok(values)
    }

    async fn series(&self, hints: SelectHints, matchers: &[Matcher]) -> Result<Vec<Labels>, QueryError> {
        self.check().await?;
        Ok(self.matching(hints, matchers).map(|s| s.labels.clone()).collect())
    }
}

pub fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> Series {
    Series {
        labels: Labels::from_pairs(pairs.iter().copied()),
        samples: samples.iter().map(|&(timestamp_ms, value)| Sample { timestamp_ms, value }).collect(),
    }
}

pub fn metadata(metric: &str, metric_type: &str, help: &str, unit: &str) -> MetricMetadata {
    MetricMetadata {
        metric_family_name: metric.to_string(),
        metric_type: metric_type.to_string(),
        help: help.to_string(),
        unit: unit.to_string(),
    }
}

/// First sample time of the reference data loaded into Prometheus 2.42 for comparison.
pub const T1: i64 = 1_795_609_216_000;
/// Second sample time of the reference data.
pub const T2: i64 = 1_795_612_816_000;

/// The data the expected strings were captured from (a real Prometheus 2.42 with the same
/// series backfilled through `promtool tsdb create-blocks-from openmetrics`).
pub fn reference_tenant() -> TenantData {
    TenantData {
        series: vec![
            series(&[("__name__", "up"), ("job", "api"), ("instance", "a:1")], &[(T1, 1.0), (T2, 1.0)]),
            series(&[("__name__", "up"), ("job", "db"), ("instance", "b<&>\"\\x")], &[(T1, 0.0)]),
            series(&[("__name__", "http_requests_total"), ("job", "api"), ("method", "GET")], &[(T1, 3.0)]),
            series(
                &[("__name__", "http_requests_total"), ("job", "api"), ("method", "POST"), ("zone", "é\n")],
                &[(T2, 5.0)],
            ),
        ],
        metadata: vec![
            metadata("up", "gauge", "whether the target is up", ""),
            metadata("http_requests_total", "counter", "requests <served> & more", "requests"),
            metadata("http_requests_total", "counter", "requests <served> & more", "requests"),
            metadata("http_requests_total", "counter", "older help", "requests"),
        ],
    }
}

/// Another tenant whose series, names, values and metadata must never leak into tenant `a`'s.
pub fn other_tenant() -> TenantData {
    TenantData {
        series: vec![
            series(
                &[("__name__", "up"), ("job", "secret"), ("instance", "b:9"), ("team", "b")],
                &[(T1, 7.0)],
            ),
            series(&[("__name__", "b_only_metric"), ("job", "api")], &[(T1, 8.0)]),
        ],
        metadata: vec![metadata("b_only_metric", "gauge", "tenant b's metric", "")],
    }
}

pub fn reference_source() -> MemorySource {
    MemorySource::new().with_tenant("a", reference_tenant()).with_tenant("b", other_tenant())
}

pub fn router_with(source: MemorySource, config: QuerierConfig) -> axum::Router {
    read_api_router(ReadApiState::new(Arc::new(source), config))
}

pub fn router() -> axum::Router {
    router_with(reference_source(), QuerierConfig::default())
}

/// An answer: status, content type and body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub content_encoding: String,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("utf-8 body")
    }
}

pub async fn send(router: &axum::Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.expect("router never fails");
    let status = response.status();
    let header_text = |name| {
        response
            .headers()
            .get(name)
            .map(|v: &header::HeaderValue| v.to_str().unwrap_or("").to_string())
            .unwrap_or_default()
    };
    let content_type = header_text(header::CONTENT_TYPE);
    let content_encoding = header_text(header::CONTENT_ENCODING);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body").to_vec();
    Answer { status, content_type, content_encoding, body }
}

pub fn request(
    method: Method,
    uri: &str,
    tenant: Option<&str>,
    body: Body,
    content_type: Option<&str>,
) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    let mut request = builder.body(body).expect("request");
    if let Some(tenant) = tenant {
        request.extensions_mut().insert(TenantId::new(tenant).expect("valid tenant"));
    }
    request
}

/// GET `uri` as tenant `tenant`.
pub async fn get(router: &axum::Router, tenant: &str, uri: &str) -> Answer {
    send(router, request(Method::GET, uri, Some(tenant), Body::empty(), None)).await
}

/// POST an urlencoded form to `uri` as tenant `tenant`.
pub async fn post_form(router: &axum::Router, tenant: &str, uri: &str, form: &str) -> Answer {
    let body = Body::from(form.to_string());
    send(router, request(Method::POST, uri, Some(tenant), body, Some("application/x-www-form-urlencoded")))
        .await
}

/// Percent-encodes a query component.
pub fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
