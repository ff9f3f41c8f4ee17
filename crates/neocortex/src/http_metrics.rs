//! `cortex_request_duration_seconds{method,route,status_code,ws}` for every HTTP request.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of the request-duration histogram.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    method: String,
    route: String,
    status_code: String,
    ws: String,
}

/// The request-duration histogram family.
#[derive(Clone)]
pub struct HttpMetrics {
    durations: Family<RequestLabels, Histogram>,
}

impl HttpMetrics {
    /// Registers the histogram.
    pub fn register(registry: &mut Registry) -> Self {
        let durations = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0])
        });
        registry.register(
            "cortex_request_duration_seconds",
            "Time (in seconds) spent serving HTTP requests",
            durations.clone(),
        );
        Self { durations }
    }
}

/// Turns a route pattern into Cortex's route label (`/api/v1/push` -> `api_v1_push`).
pub fn route_label(path: &str) -> String {
    let mut label = String::with_capacity(path.len());
    for c in path.chars() {
        if c.is_ascii_alphanumeric() {
            label.push(c);
        } else if !label.ends_with('_') {
            label.push('_');
        }
    }
    label.trim_matches('_').to_string()
}

/// Middleware timing each request by its matched route.
pub async fn track_requests(State(metrics): State<HttpMetrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| route_label(p.as_str()))
        .unwrap_or_else(|| "other".to_string());
    let response = next.run(request).await;
    let labels = RequestLabels {
        method,
        route,
        status_code: response.status().as_u16().to_string(),
        ws: "false".to_string(),
    };
    metrics.durations.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_labels_match_cortex() {
        assert_eq!(route_label("/api/v1/push"), "api_v1_push");
        assert_eq!(
            route_label("/prometheus/api/v1/label/{name}/values"),
            "prometheus_api_v1_label_name_values"
        );
    }
}
