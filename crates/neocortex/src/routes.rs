//! Every HTTP route of Neocortex in one place, so the API surface is greppable.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use neocortex_core::TenantId;
use neocortex_distributor::{Distributor, PushHeaders};
use prometheus_client::registry::Registry;

use crate::auth::{tenant_middleware, AuthSettings};
use crate::config::Config;
use crate::http_metrics::{track_requests, HttpMetrics};
use crate::ingester_module::IngesterModule;
use crate::load::to_yaml;
use crate::services::Services;

/// What the route handlers need, built by the module graph.
#[derive(Clone)]
pub struct RouteDeps {
    /// The effective configuration, for `/config`.
    pub config: Arc<Config>,
    /// Module states, for `/ready` and `/services`.
    pub services: Services,
    /// Every metric, for `/metrics`.
    pub registry: Arc<Registry>,
    /// Request-duration metrics.
    pub http_metrics: HttpMetrics,
    /// The distributor, when the `distributor` module runs.
    pub distributor: Option<Arc<Distributor>>,
    /// The Prometheus read API, when the `querier` module runs (routes relative to `/api/v1`).
    pub prometheus_api: Option<Router>,
    /// The ingester, when the `ingester` module runs (`/flush`, `/shutdown`).
    pub ingester: Option<Arc<IngesterModule>>,
}

/// Builds the route table.
pub fn router(deps: RouteDeps) -> Router {
    let auth = AuthSettings {
        enabled: deps.config.auth_enabled,
        tenant_from_basic_auth: deps.config.tenant_from_basic_auth,
    };
    let mut tenant_routes = Router::new();

    if let Some(distributor) = deps.distributor.clone() {
        let push = Router::new()
            .route("/api/v1/push", post(push_handler))
            .route(&format!("{}/push", deps.config.http_prefix), post(push_handler))
            .layer(DefaultBodyLimit::disable())
            .with_state(distributor);
        tenant_routes = tenant_routes.merge(push);
    }
    if let Some(prometheus_api) = deps.prometheus_api.clone() {
        let prefix = &deps.config.api.prometheus_http_prefix;
        tenant_routes = tenant_routes
            .nest(&format!("{prefix}/api/v1"), prometheus_api.clone())
            .nest(&format!("{}/api/v1", deps.config.http_prefix), prometheus_api);
    }
    let tenant_routes = tenant_routes.layer(middleware::from_fn_with_state(auth, tenant_middleware));

    let mut operations = Router::new()
        .route("/", get(index))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/config", get(config_handler))
        .route("/services", get(services_handler))
        .with_state(deps.clone());
    if let Some(ingester) = deps.ingester.clone() {
        let admin = Router::new()
            .route("/flush", get(flush_handler).post(flush_handler))
            .route("/ingester/flush", get(flush_handler).post(flush_handler))
            .route("/shutdown", get(shutdown_handler).post(shutdown_handler))
            .route("/ingester/shutdown", get(shutdown_handler).post(shutdown_handler))
            .with_state((ingester, deps.config.clone()));
        operations = operations.merge(admin);
    }

    operations
        .merge(tenant_routes)
        .layer(middleware::from_fn_with_state(deps.http_metrics.clone(), track_requests))
}

async fn push_handler(
    State(distributor): State<Arc<Distributor>>,
    Extension(tenant): Extension<TenantId>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let body = match read_body_limited(request.into_body(), distributor.max_recv_msg_size()).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let push_headers = PushHeaders {
        content_type: headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()),
        content_encoding: headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()),
    };
    match distributor.push_http(&tenant, push_headers, body).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(err) => {
            let status =
                StatusCode::from_u16(err.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, format!("{}\n", err.message)).into_response()
        }
    }
}

/// Reads a request body, answering 413 as soon as it grows past `limit` bytes.
async fn read_body_limited(body: Body, limit: usize) -> Result<bytes::Bytes, Response> {
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(bytes),
        Err(err) => {
            let too_large = std::error::Error::source(&err)
                .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
            if too_large {
                Err((
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("request body too large: exceeds the maximum of {limit} bytes\n"),
                )
                    .into_response())
            } else {
                Err((StatusCode::BAD_REQUEST, format!("failed to read request body: {err}\n"))
                    .into_response())
            }
        }
    }
}

#[derive(serde::Deserialize)]
struct FlushQuery {
    wait: Option<String>,
}

/// `/flush`: queues every in-memory series for a flush to the store and answers 204 (with
/// `wait=true`, once those flushes finished, as Cortex does for blocks; 500 naming the count
/// when some failed, whose samples stay in memory and the WAL for the next sweep).
async fn flush_handler(
    State((ingester, _)): State<(Arc<IngesterModule>, Arc<Config>)>,
    Query(query): Query<FlushQuery>,
) -> Response {
    let wait = matches!(query.wait.as_deref(), Some("true" | "1"));
    let outcome = ingester.flush(wait).await;
    tracing::info!(queued = outcome.queued, failed = outcome.failed, wait, "flush requested over HTTP");
    if outcome.failed > 0 {
        let message = format!(
            "{} of {} series failed to flush (kept in memory, retried on the next sweep; see the log)\n",
            outcome.failed, outcome.queued
        );
        return (StatusCode::INTERNAL_SERVER_ERROR, message).into_response();
    }
    StatusCode::NO_CONTENT.into_response()
}

/// `/shutdown`: flushes every series to the store and stops the ingester module (it leaves the
/// ring, `/ready` turns 503); the rest of the process keeps running. Answers 204 when done.
async fn shutdown_handler(State((ingester, config)): State<(Arc<IngesterModule>, Arc<Config>)>) -> Response {
    ingester.shutdown(true, config.ingester.flush_op_timeout.0).await;
    StatusCode::NO_CONTENT.into_response()
}

async fn index() -> &'static str {
    "Neocortex\n\n/ready /metrics /config /services /flush /shutdown\nPOST /api/v1/push\n/prometheus/api/v1/...\n"
}

async fn ready(State(deps): State<RouteDeps>) -> Response {
    let not_running = deps.services.not_running();
    if not_running.is_empty() {
        return (StatusCode::OK, "ready\n").into_response();
    }
    let mut body = String::from("Some services are not Running:\n");
    for (module, state) in not_running {
        body.push_str(&format!("{}: {}\n", module, state.name()));
    }
    (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
}

async fn metrics(State(deps): State<RouteDeps>) -> Response {
    let mut text = String::new();
    if let Err(err) = prometheus_client::encoding::text::encode(&mut text, &deps.registry) {
        return (StatusCode::INTERNAL_SERVER_ERROR, format!("encoding metrics: {err}\n")).into_response();
    }
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
        .into_response()
}

#[derive(serde::Deserialize)]
struct ConfigQuery {
    mode: Option<String>,
}

async fn config_handler(State(deps): State<RouteDeps>, Query(query): Query<ConfigQuery>) -> Response {
    let yaml = match query.mode.as_deref() {
        None | Some("") => to_yaml(&deps.config),
        Some("defaults") => to_yaml(&Config::default()),
        Some("diff") => config_diff(&deps.config),
        Some(other) => {
            return (StatusCode::BAD_REQUEST, format!("unknown value for mode query parameter: {other:?}\n"))
                .into_response()
        }
    };
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], yaml).into_response()
}

/// The options whose value differs from the default, as YAML, secrets masked.
fn config_diff(config: &Config) -> String {
    fn diff(current: &serde_json::Value, default: &serde_json::Value) -> Option<serde_json::Value> {
        match (current, default) {
            (serde_json::Value::Object(cur), serde_json::Value::Object(def)) => {
                let map: serde_json::Map<String, serde_json::Value> = cur
                    .iter()
                    .filter_map(|(k, v)| {
                        let changed = match def.get(k) {
                            Some(d) => diff(v, d),
                            None => Some(v.clone()),
                        };
                        changed.map(|c| (k.clone(), c))
                    })
                    .collect();
                (!map.is_empty()).then_some(serde_json::Value::Object(map))
            }
            (cur, def) if cur == def => None,
            (cur, _) => Some(cur.clone()),
        }
    }
    let current = serde_json::to_value(config.redacted()).unwrap_or_default();
    let default = serde_json::to_value(Config::default()).unwrap_or_default();
    let changed = diff(&current, &default).unwrap_or(serde_json::Value::Object(Default::default()));
    serde_norway::to_string(&changed).unwrap_or_default()
}

async fn services_handler(State(deps): State<RouteDeps>) -> Response {
    let mut body = String::new();
    for (module, state) in deps.services.snapshot() {
        body.push_str(&format!("{module} => {}\n", state.name()));
    }
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}
