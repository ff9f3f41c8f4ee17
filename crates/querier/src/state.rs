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
