//! The read API's routes, relative to the Prometheus prefix the binary mounts them under
//! (`/prometheus/api/v1` and the legacy `/api/prom/api/v1`).

use axum::routing::{get, post};
use axum::Router;

use crate::handlers::{labels, metadata, query, remote_read, series};
use crate::state::{QueryApiState, ReadApiState};

/// Routes: `/series` (GET, POST), `/labels` (GET, POST), `/label/{name}/values` (GET),
/// `/metadata` (GET) and `/read` (POST). Every handler needs a `neocortex_core::TenantId`
/// request extension and answers `401 no org id` without one.
pub fn read_api_router(state: ReadApiState) -> Router {
    Router::new()
        .route("/series", get(series::series).post(series::series))
        .route("/labels", get(labels::label_names).post(labels::label_names))
        .route("/label/{name}/values", get(labels::label_values))
        .route("/metadata", get(metadata::metadata))
        .route("/read", post(remote_read::remote_read))
        .with_state(state)
}

/// Routes `/query` and `/query_range` (GET, POST): PromQL over the same tenant-scoped source.
pub fn query_api_router(state: QueryApiState) -> Router {
    Router::new()
        .route("/query", get(query::instant_query).post(query::instant_query))
        .route("/query_range", get(query::range_query).post(query::range_query))
        .with_state(state)
}
