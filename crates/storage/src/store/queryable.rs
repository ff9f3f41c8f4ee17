//! A tenant's view of the chunk store as a `Queryable`, so the querier can merge it with
//! ingester data.

use std::sync::Arc;

use async_trait::async_trait;
use neocortex_core::{Labels, LazySeries, Matcher, QueryError, Queryable, SelectHints, Series, TenantId};

use crate::store::ChunkStore;

/// The chunk store scoped to one tenant.
#[derive(Debug, Clone)]
pub struct TenantChunkStore {
    store: Arc<ChunkStore>,
    tenant: TenantId,
}

impl TenantChunkStore {
    /// `store` restricted to `tenant`.
    pub fn new(store: Arc<ChunkStore>, tenant: TenantId) -> Self {
        Self { store, tenant }
    }

    /// The tenant this view reads.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }
}

#[async_trait]
impl Queryable for TenantChunkStore {
    async fn select(&self, hints: SelectHints, matchers: &[Matcher]) -> Result<Vec<Series>, QueryError> {
        Ok(self.store.select(&self.tenant, hints.start_ms, hints.end_ms, matchers).await?)
    }

    async fn select_lazy(
        &self,
        hints: SelectHints,
        matchers: &[Matcher],
    ) -> Result<Vec<LazySeries>, QueryError> {
        Ok(self.store.select_lazy(&self.tenant, hints.start_ms, hints.end_ms, matchers).await?)
    }

    async fn label_names(&self, hints: SelectHints, matchers: &[Matcher]) -> Result<Vec<String>, QueryError> {
        Ok(self.store.label_names(&self.tenant, hints.start_ms, hints.end_ms, matchers).await?)
    }

    async fn label_values(
        &self,
        hints: SelectHints,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, QueryError> {
        Ok(self.store.label_values(&self.tenant, hints.start_ms, hints.end_ms, name, matchers).await?)
    }

    async fn series(&self, hints: SelectHints, matchers: &[Matcher]) -> Result<Vec<Labels>, QueryError> {
        Ok(self.store.series(&self.tenant, hints.start_ms, hints.end_ms, matchers).await?)
    }
}
