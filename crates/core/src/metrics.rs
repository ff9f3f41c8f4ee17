//! Metrics that more than one component writes to, created once by the binary and handed to
//! each component so the registry holds each family once.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

/// Labels of `cortex_discarded_samples_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DiscardLabels {
    /// Why the samples were dropped, with Cortex's reason names (`sample-out-of-order`, …).
    pub reason: String,
    /// The tenant.
    pub user: String,
}

/// `cortex_discarded_samples_total{reason,user}`: every sample dropped anywhere on the write path.
pub type DiscardedSamples = Family<DiscardLabels, Counter>;

/// Counts `count` samples dropped for `reason` from `tenant`.
pub fn count_discarded(metric: &DiscardedSamples, reason: &str, tenant: &str, count: u64) {
    if count == 0 {
        return;
    }
    metric
        .get_or_create(&DiscardLabels { reason: reason.to_string(), user: tenant.to_string() })
        .inc_by(count);
}
