//! Why an ingester refuses samples, with Cortex's messages, HTTP categories and discard reasons.

use neocortex_core::{ErrorCode, Labels, PushError, TenantId};

/// Discard reason for samples older than their series' last sample.
pub const REASON_SAMPLE_OUT_OF_ORDER: &str = "sample-out-of-order";
/// Discard reason for a second, different value at the same timestamp.
pub const REASON_NEW_VALUE_FOR_TIMESTAMP: &str = "new-value-for-timestamp";
/// Discard reason for series refused by the per-tenant series limit.
pub const REASON_PER_USER_SERIES_LIMIT: &str = "per_user_series_limit";
/// Discard reason for series refused by the per-metric series limit.
pub const REASON_PER_METRIC_SERIES_LIMIT: &str = "per_metric_series_limit";

/// A refusal by the ingester. Per-series refusals leave the rest of the request stored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IngestError {
    /// A sample older than the series' last sample.
    #[error(
        "sample timestamp out of order; last timestamp: {}, incoming timestamp: {} for series {series}",
        format_timestamp(*last_timestamp_ms),
        format_timestamp(*timestamp_ms)
    )]
    SampleOutOfOrder {
        /// The series' last timestamp.
        last_timestamp_ms: i64,
        /// The refused sample's timestamp.
        timestamp_ms: i64,
        /// The series, formatted as Prometheus does.
        series: String,
    },
    /// A different value at the series' last timestamp.
    #[error(
        "sample with repeated timestamp but different value; last value: {}, incoming value: {} for series {series}",
        format_value(*last_value),
        format_value(*value)
    )]
    NewValueForTimestamp {
        /// The value stored at that timestamp.
        last_value: f64,
        /// The refused value.
        value: f64,
        /// The series, formatted as Prometheus does.
        series: String,
    },
    /// The tenant already has as many series as `max_series_per_user` allows.
    #[error(
        "per-user series limit of {} exceeded, please contact administrator to raise it (local limit: {local_limit} global limit: {global_limit} actual local limit: {local_limit})",
        min_non_zero(*local_limit, *global_limit)
    )]
    PerUserSeriesLimit {
        /// `max_series_per_user`.
        local_limit: u64,
        /// `max_global_series_per_user`.
        global_limit: u64,
    },
    /// The metric already has as many series as `max_series_per_metric` allows.
    #[error(
        "per-metric series limit of {} exceeded, please contact administrator to raise it (local limit: {local_limit} global limit: {global_limit} actual local limit: {local_limit}) for series {series}",
        min_non_zero(*local_limit, *global_limit)
    )]
    PerMetricSeriesLimit {
        /// `max_series_per_metric`.
        local_limit: u64,
        /// `max_global_series_per_metric`.
        global_limit: u64,
        /// The series, formatted as Prometheus does.
        series: String,
    },
    /// The process holds `instance_limits.max_series` series.
    #[error("cannot add series: ingester's max series limit reached")]
    InstanceSeriesLimit,
    /// The process holds `instance_limits.max_tenants` tenants.
    #[error("cannot create tenant: ingester's max tenants limit reached")]
    InstanceTenantLimit,
    /// `instance_limits.max_inflight_push_requests` pushes are running.
    #[error("cannot push: too many inflight push requests in ingester")]
    TooManyInflightPushRequests,
}

impl IngestError {
    /// The category: 400 for bad samples, 429 for tenant limits, 503 for instance limits.
    pub fn code(&self) -> ErrorCode {
        match self {
            IngestError::SampleOutOfOrder { .. } | IngestError::NewValueForTimestamp { .. } => {
                ErrorCode::BadData
            }
            IngestError::PerUserSeriesLimit { .. } | IngestError::PerMetricSeriesLimit { .. } => {
                ErrorCode::TooManyRequests
            }
            IngestError::InstanceSeriesLimit
            | IngestError::InstanceTenantLimit
            | IngestError::TooManyInflightPushRequests => ErrorCode::Unavailable,
        }
    }

    /// The `cortex_discarded_samples_total` reason, when the refusal is counted there.
    pub fn discard_reason(&self) -> Option<&'static str> {
        match self {
            IngestError::SampleOutOfOrder { .. } => Some(REASON_SAMPLE_OUT_OF_ORDER),
            IngestError::NewValueForTimestamp { .. } => Some(REASON_NEW_VALUE_FOR_TIMESTAMP),
            IngestError::PerUserSeriesLimit { .. } => Some(REASON_PER_USER_SERIES_LIMIT),
            IngestError::PerMetricSeriesLimit { .. } => Some(REASON_PER_METRIC_SERIES_LIMIT),
            IngestError::InstanceSeriesLimit
            | IngestError::InstanceTenantLimit
            | IngestError::TooManyInflightPushRequests => None,
        }
    }

    /// The push error Cortex returns: the message prefixed with the tenant.
    pub fn into_push_error(self, tenant: &TenantId) -> PushError {
        PushError::new(self.code(), format!("user={tenant}: {self}"))
    }
}

fn min_non_zero(a: u64, b: u64) -> u64 {
    match (a, b) {
        (0, other) | (other, 0) => other,
        (a, b) => a.min(b),
    }
}

/// A millisecond timestamp as Prometheus's `model.Time` prints it: seconds, shortest form.
pub(crate) fn format_timestamp(timestamp_ms: i64) -> String {
    format!("{}", timestamp_ms as f64 / 1000.0)
}

/// A sample value as Prometheus prints it (`+Inf`, `NaN`, shortest decimal form).
pub(crate) fn format_value(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    format!("{value}")
}

/// A series as Prometheus's `labels.String()` prints it: `{__name__="up", job="a"}`.
pub(crate) fn format_series(labels: &Labels) -> String {
    let mut out = String::from("{");
    for (index, label) in labels.iter().enumerate() {
        if index > 0 {
            out.push_str(", ");
        }
        out.push_str(&label.name);
        out.push('=');
        out.push_str(&format!("{:?}", label.value));
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cortex_messages() {
        let series = format_series(&Labels::from_pairs([("job", "a"), ("__name__", "x")]));
        assert_eq!(series, r#"{__name__="x", job="a"}"#);
        let err = IngestError::SampleOutOfOrder { last_timestamp_ms: 1234, timestamp_ms: 1200, series };
        assert_eq!(
            err.into_push_error(&TenantId::fake()).message,
            r#"user=fake: sample timestamp out of order; last timestamp: 1.234, incoming timestamp: 1.2 for series {__name__="x", job="a"}"#
        );
        let limit = IngestError::PerUserSeriesLimit { local_limit: 5, global_limit: 0 };
        assert_eq!(
            limit.to_string(),
            "per-user series limit of 5 exceeded, please contact administrator to raise it (local limit: 5 global limit: 0 actual local limit: 5)"
        );
        assert_eq!(limit.code(), ErrorCode::TooManyRequests);
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(0.25), "0.25");
        assert_eq!(format_timestamp(1_700_000_000_123), "1700000000.123");
    }
}
