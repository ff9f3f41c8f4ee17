//! The write boundary between the distributor and ingesters, and the read boundary that hands
//! out per-tenant `Queryable`s. Today an in-process implementation sits behind both; a gRPC
//! client and a hash ring later sit behind the same traits.

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::ErrorCode;
use crate::labels::Labels;
use crate::queryable::{Queryable, Sample};
use crate::tenant::TenantId;

/// One series of a push with its samples, already validated by the distributor.
#[derive(Debug, Clone, PartialEq)]
pub struct PushSeries {
    /// Sorted, validated labels.
    pub labels: Labels,
    /// Samples in the order the client sent them.
    pub samples: Vec<Sample>,
}

/// Prometheus metric metadata (`TYPE`, `HELP`, `UNIT`) sent with remote write.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MetricMetadata {
    /// The metric family name.
    pub metric_family_name: String,
    /// `counter`, `gauge`, `histogram`, `gaugehistogram`, `summary`, `info`, `stateset` or `unknown`.
    pub metric_type: String,
    /// Help text.
    pub help: String,
    /// Unit.
    pub unit: String,
}

/// A batch of series (and metadata) for one tenant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushRequest {
    /// Series with samples.
    pub series: Vec<PushSeries>,
    /// Metadata entries.
    pub metadata: Vec<MetricMetadata>,
}

/// A push that failed in whole or in part. Samples of other series of the same request that
/// were accepted stay stored.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct PushError {
    /// Category: `BadData` (400), `TooManyRequests` (429), or a server fault.
    pub code: ErrorCode,
    /// Message naming the first refused series and the reason.
    pub message: String,
}

impl PushError {
    /// Builds an error of the given category.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

/// Something that stores pushed samples: an ingester in-process, or a client to remote ones.
#[async_trait]
pub trait Pusher: Send + Sync {
    /// Stores what it can of `request` for `tenant`; returns the first error when some series
    /// were refused (the rest are kept).
    async fn push(&self, tenant: &TenantId, request: PushRequest) -> Result<(), PushError>;
}

/// Hands out tenant-scoped read access (an ingester, the store, or a merge of both).
pub trait QueryableSource: Send + Sync {
    /// A `Queryable` that sees only `tenant`'s series.
    fn queryable(&self, tenant: &TenantId) -> Arc<dyn Queryable>;

    /// Metadata stored for `tenant`, optionally only for `metric`, at most `limit` metrics.
    fn metadata(&self, tenant: &TenantId, metric: Option<&str>, limit: Option<usize>) -> Vec<MetricMetadata>;
}
