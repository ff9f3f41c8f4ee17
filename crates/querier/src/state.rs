//! What the read API handlers share: the tenant-scoped data source and the querier config.

use std::future::Future;
use std::sync::Arc;

use neocortex_core::{ErrorCode, QueryError, QueryableSource};
use tokio::sync::Semaphore;

use crate::config::QuerierConfig;
use crate::response::ApiError;

/// State of the read API router; cheap to clone.
#[derive(Clone)]
pub struct ReadApiState {
    source: Arc<dyn QueryableSource>,
    config: Arc<QuerierConfig>,
    remote_read_permits: Arc<Semaphore>,
}

impl ReadApiState {
    /// State reading from `source` with `config`'s timeout and limits.
    pub fn new(source: Arc<dyn QueryableSource>, config: QuerierConfig) -> Self {
        let permits = config.max_concurrent.max(1);
        Self { source, config: Arc::new(config), remote_read_permits: Arc::new(Semaphore::new(permits)) }
    }

    /// The data source.
    pub fn source(&self) -> &Arc<dyn QueryableSource> {
        &self.source
    }

    /// The querier configuration.
    pub fn config(&self) -> &QuerierConfig {
        &self.config
    }

    /// Bounds concurrent remote-read requests to `querier.max_concurrent`.
    pub(crate) fn remote_read_permits(&self) -> &Arc<Semaphore> {
        &self.remote_read_permits
    }

    /// Runs a storage call under `querier.timeout`; a timeout is a `timeout` API error.
    pub(crate) async fn with_timeout<T>(
        &self,
        call: impl Future<Output = Result<T, QueryError>>,
    ) -> Result<T, ApiError> {
        match tokio::time::timeout(self.config.timeout.0, call).await {
            Ok(result) => result.map_err(ApiError::from),
            Err(_elapsed) => Err(ApiError::new(ErrorCode::Timeout, "context deadline exceeded")),
        }
    }
}

impl std::fmt::Debug for ReadApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadApiState").field("config", &self.config).finish_non_exhaustive()
    }
}

/// State of the query API router: the read state plus the engine settings and the per-tenant
/// limits; cheap to clone.
#[derive(Clone)]
pub struct QueryApiState {
    read: ReadApiState,
    engine_options: Arc<neocortex_promql::EngineOptions>,
    overrides: neocortex_core::Overrides,
    query_permits: Arc<Semaphore>,
}

impl QueryApiState {
    /// Query state over `read`'s source, with engine settings taken from the querier config.
    pub fn new(read: ReadApiState, overrides: neocortex_core::Overrides) -> Self {
        let config = read.config();
        let engine_options = neocortex_promql::EngineOptions {
            lookback_delta: config.lookback_delta.0,
            max_samples: usize::try_from(config.max_samples).unwrap_or(usize::MAX),
            timeout: config.timeout.0,
            default_subquery_step: config.default_evaluation_interval.0,
            enable_at_modifier: config.at_modifier_enabled,
            enable_negative_offset: true,
            parallelism: neocortex_promql::default_parallelism(),
        };
        let permits = config.max_concurrent.max(1);
        Self {
            read,
            engine_options: Arc::new(engine_options),
            overrides,
            query_permits: Arc::new(Semaphore::new(permits)),
        }
    }

    /// The read state (data source and config).
    pub fn read(&self) -> &ReadApiState {
        &self.read
    }

    /// Engine settings for queries.
    pub fn engine_options(&self) -> &neocortex_promql::EngineOptions {
        &self.engine_options
    }

    /// Per-tenant limits.
    pub fn overrides(&self) -> &neocortex_core::Overrides {
        &self.overrides
    }

    /// Bounds concurrent query evaluations to `querier.max_concurrent`.
    pub(crate) fn query_permits(&self) -> &Arc<Semaphore> {
        &self.query_permits
    }
}
