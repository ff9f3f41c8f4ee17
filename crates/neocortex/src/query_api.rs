//! The Prometheus-compatible API mounted under the Prometheus prefix: the querier's read
//! endpoints (series, labels, label values, metadata, remote read).

use std::sync::Arc;

use axum::Router;
use neocortex_core::QueryableSource;
use neocortex_querier::{read_api_router, ReadApiState};

use crate::config::Config;

/// The routes under `<prefix>/api/v1`.
pub fn prometheus_api(config: &Config, source: Arc<dyn QueryableSource>) -> Router {
    read_api_router(ReadApiState::new(source, config.querier.clone()))
}
