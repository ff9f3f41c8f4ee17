//! The distributor's metrics, with Cortex's names so the Cortex mixin's dashboards work.

use std::sync::atomic::AtomicU64;

use neocortex_core::metrics::{DiscardLabels, DiscardedSamples};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The `user` label of per-tenant metrics.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct UserLabel {
    /// The tenant.
    pub(crate) user: String,
}

/// Per-tenant counters of one family.
pub(crate) type PerUserCounter = Family<UserLabel, Counter>;

/// Every metric the distributor writes.
#[derive(Debug, Clone)]
pub(crate) struct DistributorMetrics {
    /// `cortex_distributor_requests_in_total`: push requests received, before any check.
    pub(crate) requests_in: PerUserCounter,
    /// `cortex_distributor_samples_in_total`: samples received, before validation.
    pub(crate) samples_in: PerUserCounter,
    /// `cortex_distributor_metadata_in_total`: metadata received, before validation.
    pub(crate) metadata_in: PerUserCounter,
    /// `cortex_distributor_received_samples_total`: samples that passed validation.
    pub(crate) received_samples: PerUserCounter,
    /// `cortex_distributor_received_metadata_total`: metadata that passed validation.
    pub(crate) received_metadata: PerUserCounter,
    /// `cortex_distributor_latest_seen_sample_timestamp_seconds`.
    pub(crate) latest_seen_sample_timestamp: Family<UserLabel, Gauge<f64, AtomicU64>>,
    /// `cortex_discarded_samples_total`, shared with the ingester.
    pub(crate) discarded_samples: DiscardedSamples,
    /// `cortex_discarded_metadata_total`.
    pub(crate) discarded_metadata: Family<DiscardLabels, Counter>,
    /// `cortex_distributor_inflight_push_requests`.
    pub(crate) inflight_push_requests: Gauge,
}

impl DistributorMetrics {
    /// Creates the metrics and registers them (the shared discarded-samples counter is
    /// registered by whoever created it).
    pub(crate) fn new(discarded_samples: DiscardedSamples, registry: &mut Registry) -> Self {
        let metrics = Self {
            requests_in: PerUserCounter::default(),
            samples_in: PerUserCounter::default(),
            metadata_in: PerUserCounter::default(),
            received_samples: PerUserCounter::default(),
            received_metadata: PerUserCounter::default(),
            latest_seen_sample_timestamp: Family::default(),
            discarded_samples,
            discarded_metadata: Family::default(),
            inflight_push_requests: Gauge::default(),
        };
        registry.register(
            "cortex_distributor_requests_in",
            "The total number of requests that have come in to the distributor, including rejected or deduped requests",
            metrics.requests_in.clone(),
        );
        registry.register(
            "cortex_distributor_samples_in",
            "The total number of samples that have come in to the distributor, including rejected or deduped samples",
            metrics.samples_in.clone(),
        );
        registry.register(
            "cortex_distributor_metadata_in",
            "The total number of metadata the have come in to the distributor, including rejected",
            metrics.metadata_in.clone(),
        );
        registry.register(
            "cortex_distributor_received_samples",
            "The total number of received samples, excluding rejected and deduped samples",
            metrics.received_samples.clone(),
        );
        registry.register(
            "cortex_distributor_received_metadata",
            "The total number of received metadata, excluding rejected",
            metrics.received_metadata.clone(),
        );
        registry.register(
            "cortex_distributor_latest_seen_sample_timestamp_seconds",
            "Unix timestamp of latest received sample per user",
            metrics.latest_seen_sample_timestamp.clone(),
        );
        registry.register(
            "cortex_discarded_metadata",
            "The total number of metadata that were discarded",
            metrics.discarded_metadata.clone(),
        );
        registry.register(
            "cortex_distributor_inflight_push_requests",
            "Current number of inflight push requests in distributor",
            metrics.inflight_push_requests.clone(),
        );
        metrics
    }

    /// Adds `count` to the `tenant` series of `counter` (skipping zero so idle series stay absent).
    pub(crate) fn add(counter: &PerUserCounter, tenant: &str, count: u64) {
        if count == 0 {
            return;
        }
        counter.get_or_create(&UserLabel { user: tenant.to_string() }).inc_by(count);
    }

    /// Counts `count` metadata entries dropped for `reason`.
    pub(crate) fn discard_metadata(&self, reason: &str, tenant: &str, count: u64) {
        if count == 0 {
            return;
        }
        let labels = DiscardLabels { reason: reason.to_string(), user: tenant.to_string() };
        self.discarded_metadata.get_or_create(&labels).inc_by(count);
    }
}
