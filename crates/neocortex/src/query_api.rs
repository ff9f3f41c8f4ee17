//! The Prometheus-compatible API mounted under the Prometheus prefix: the querier's read
//! endpoints (series, labels, label values, metadata, remote read) and PromQL (query,
//! query_range).

use std::sync::Arc;

use axum::Router;
use neocortex_core::{Overrides, QueryableSource};
use neocortex_querier::{query_api_router, read_api_router, QueryApiState, ReadApiState};

use crate::config::Config;

/// The routes under `<prefix>/api/v1`.
pub fn prometheus_api(config: &Config, source: Arc<dyn QueryableSource>, overrides: Overrides) -> Router {
    let read = ReadApiState::new(source, config.querier.clone());
    read_api_router(read.clone()).merge(query_api_router(QueryApiState::new(read, overrides)))
}
