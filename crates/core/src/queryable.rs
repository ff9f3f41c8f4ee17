//! The read boundary between storage (ingesters, the chunk store) and the PromQL engine.
//!
//! A `Queryable` is already scoped to one tenant: the caller picks the tenant when it builds
//! one, so nothing behind this trait can mix tenants up.

use async_trait::async_trait;

use crate::error::ErrorCode;
use crate::labels::Labels;
use crate::matcher::Matcher;

/// One sample: milliseconds since the epoch and a value (staleness markers included).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// The value; may be the staleness marker NaN.
    pub value: f64,
}

/// A series and its samples in time order, restricted to the selected range.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The series' labels.
    pub labels: Labels,
    /// Samples sorted by timestamp, without duplicates.
    pub samples: Vec<Sample>,
}

/// What the engine will read, so storage can skip the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectHints {
    /// First millisecond needed (inclusive).
    pub start_ms: i64,
    /// Last millisecond needed (inclusive).
    pub end_ms: i64,
}

/// A failed read, with its category.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    /// Category (status code, retryability).
    pub code: ErrorCode,
    /// Human-readable, lowercase message.
    pub message: String,
}

impl QueryError {
    /// Builds an error of the given category.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

/// Tenant-scoped read access to series, used by the PromQL engine and the metadata API.
#[async_trait]
pub trait Queryable: Send + Sync {
    /// The series matching every matcher, with their samples in `[start_ms, end_ms]`. Series
    /// with no sample in the range may be left out. Output is sorted by labels.
    async fn select(&self, hints: SelectHints, matchers: &[Matcher]) -> Result<Vec<Series>, QueryError>;

    /// Label names of series matching all `matchers` (every series when empty) that have
    /// samples in the range; sorted and unique.
    async fn label_names(&self, hints: SelectHints, matchers: &[Matcher]) -> Result<Vec<String>, QueryError>;

    /// Values of label `name` over series matching all `matchers`; sorted and unique.
    async fn label_values(
        &self,
        hints: SelectHints,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, QueryError>;

    /// Label sets of series matching all `matchers` with samples in the range; sorted.
    async fn series(&self, hints: SelectHints, matchers: &[Matcher]) -> Result<Vec<Labels>, QueryError>;
}
