//! The vocabulary every Neocortex part shares: labels, label matchers, tenant ids, Prometheus
//! durations, error codes and the `Queryable` trait that the PromQL engine reads through.

pub mod calendar;
pub mod config;
pub mod duration;
pub mod error;
pub mod labels;
pub mod limits;
pub mod matcher;
pub mod metrics;
pub mod push;
pub mod queryable;
pub mod secret;
pub mod tenant;

pub use config::{ConfigOption, ConfigSection};
pub use error::ErrorCode;
pub use labels::{Label, Labels, METRIC_NAME};
pub use limits::{Limits, Overrides};
pub use matcher::{MatchOp, Matcher};
pub use push::{MetricMetadata, PushError, PushRequest, PushSeries, Pusher, QueryableSource};
pub use queryable::{
    LazySeries, QueryError, Queryable, Sample, SampleSource, SelectHints, Series, SeriesSamples,
};
pub use tenant::TenantId;

/// Staleness marker value: Prometheus's special NaN written when a series disappears.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Whether `value` is the Prometheus staleness marker (compared by bits, as NaN != NaN).
pub fn is_stale_nan(value: f64) -> bool {
    value.to_bits() == STALE_NAN_BITS
}

/// The staleness marker as an `f64`.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}
