//! The read boundary between storage (ingesters, the chunk store) and the PromQL engine.
//!
//! A `Queryable` is already scoped to one tenant: the caller picks the tenant when it builds
//! one, so nothing behind this trait can mix tenants up.

use std::sync::Arc;

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

/// Samples of one series that storage hands out still encoded (the ingester's compressed chunks),
/// so a reader decodes one series at a time instead of holding every selected sample at once.
pub trait SampleSource: Send + Sync + std::fmt::Debug {
    /// Appends the series' samples in the selected range to `out`, in time order. Fails when
    /// the encoded samples turn out to be malformed (decoding is deferred to the reader, so this
    /// is where such an error surfaces).
    fn decode_into(&self, out: &mut Vec<Sample>) -> Result<(), QueryError>;
}

/// The samples of a selected series: decoded already, or decoded on demand.
#[derive(Debug, Clone)]
pub enum SeriesSamples {
    /// Samples in time order, as `Series::samples`.
    Decoded(Vec<Sample>),
    /// Samples decoded each time they are read.
    Lazy(Arc<dyn SampleSource>),
}

impl SeriesSamples {
    /// The samples: borrowed when decoded already, else decoded into `buffer` (cleared first).
    pub fn read<'s>(&'s self, buffer: &'s mut Vec<Sample>) -> Result<&'s [Sample], QueryError> {
        match self {
            SeriesSamples::Decoded(samples) => Ok(samples),
            SeriesSamples::Lazy(source) => {
                buffer.clear();
                source.decode_into(buffer)?;
                Ok(buffer)
            }
        }
    }

    /// The samples as an owned vector (decoding them if needed).
    pub fn into_vec(self) -> Result<Vec<Sample>, QueryError> {
        match self {
            SeriesSamples::Decoded(samples) => Ok(samples),
            SeriesSamples::Lazy(source) => {
                let mut out = Vec::new();
                source.decode_into(&mut out)?;
                Ok(out)
            }
        }
    }
}

/// A selected series whose samples may still be encoded; what `Queryable::select_lazy` returns.
#[derive(Debug, Clone)]
pub struct LazySeries {
    /// The series' labels.
    pub labels: Labels,
    /// Its samples in the selected range, sorted by timestamp, without duplicates.
    pub samples: SeriesSamples,
}

impl From<Series> for LazySeries {
    fn from(series: Series) -> Self {
        Self { labels: series.labels, samples: SeriesSamples::Decoded(series.samples) }
    }
}

impl LazySeries {
    /// The series with its samples decoded.
    pub fn into_series(self) -> Result<Series, QueryError> {
        Ok(Series { labels: self.labels, samples: self.samples.into_vec()? })
    }
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

    /// As `select`, but samples may stay encoded until the reader decodes them series by series,
    /// which bounds a query's memory by one series instead of the whole selection. The default
    /// returns `select`'s decoded answer.
    async fn select_lazy(
        &self,
        hints: SelectHints,
        matchers: &[Matcher],
    ) -> Result<Vec<LazySeries>, QueryError> {
        Ok(self.select(hints, matchers).await?.into_iter().map(LazySeries::from).collect())
    }

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
