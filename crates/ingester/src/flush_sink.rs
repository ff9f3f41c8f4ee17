//! Where flushed chunks go: the ingester hands each tenant's closed chunks to a [`ChunkSink`]
//! (the chunk store, in the binary) and drops them from memory only after the sink accepted
//! them and the retain period passed.

use async_trait::async_trait;
use neocortex_core::{Labels, TenantId};

use crate::series::ClosedChunk;

/// One series and the chunks to write for it.
#[derive(Debug, Clone)]
pub struct FlushSeries {
    /// The series.
    pub labels: Labels,
    /// Its chunks, oldest first.
    pub chunks: Vec<ClosedChunk>,
}

/// A failed flush; the chunks stay in memory and are retried.
#[derive(Debug, Clone, thiserror::Error)]
#[error("flush failed: {0}")]
pub struct FlushError(pub String);

/// The long-term store as the ingester sees it.
#[async_trait]
pub trait ChunkSink: Send + Sync {
    /// Durably stores the chunks of `series` for `tenant`; only `Ok` lets the ingester forget them.
    async fn store(&self, tenant: &TenantId, series: Vec<FlushSeries>) -> Result<(), FlushError>;
}
