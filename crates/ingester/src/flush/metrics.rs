//! The flush metrics, with Cortex's names.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::metrics::UserLabels;

/// The `reason` label of flush counters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct ReasonLabels {
    /// A `FlushReason` name.
    pub(crate) reason: String,
}

/// Handles to the flush metrics (clones share values).
#[derive(Debug, Clone)]
pub(crate) struct FlushMetrics {
    pub(crate) queue_length: Gauge,
    pub(crate) series_in_progress: Gauge,
    pub(crate) enqueued_series: Family<ReasonLabels, Counter>,
    pub(crate) flushed_series: Family<ReasonLabels, Counter>,
    pub(crate) failed_flushes: Counter,
    pub(crate) chunks_stored: Family<UserLabels, Counter>,
    pub(crate) chunk_stored_bytes: Family<UserLabels, Counter>,
    pub(crate) chunk_age_seconds: Histogram,
    pub(crate) chunk_length: Histogram,
    pub(crate) chunk_size_bytes: Histogram,
}

impl FlushMetrics {
    /// Creates the metrics and registers them.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            queue_length: Gauge::default(),
            series_in_progress: Gauge::default(),
            enqueued_series: Family::default(),
            flushed_series: Family::default(),
            failed_flushes: Counter::default(),
            chunks_stored: Family::default(),
            chunk_stored_bytes: Family::default(),
            // Cortex's buckets: with default settings chunks flush between 5 minutes and 12 hours.
            chunk_age_seconds: Histogram::new([
                60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 36000.0, 43200.0, 57600.0,
            ]),
            chunk_length: Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                5.0, 2.0, 11,
            )),
            chunk_size_bytes: Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                500.0, 2.0, 5,
            )),
        };
        registry.register(
            "cortex_ingester_flush_queue_length",
            "The total number of series pending in the flush queue",
            metrics.queue_length.clone(),
        );
        registry.register(
            "cortex_ingester_flush_series_in_progress",
            "Number of flush series operations in progress",
            metrics.series_in_progress.clone(),
        );
        registry.register(
            "cortex_ingester_flushing_enqueued_series",
            "Total number of series enqueued for flushing, with reasons",
            metrics.enqueued_series.clone(),
        );
        registry.register(
            "cortex_ingester_series_flushed",
            "Total number of series flushed to the store, with reasons",
            metrics.flushed_series.clone(),
        );
        registry.register(
            "cortex_ingester_flush_failures",
            "Total number of flush calls to the store that failed (their series are retried)",
            metrics.failed_flushes.clone(),
        );
        registry.register(
            "cortex_ingester_chunks_stored",
            "Total stored chunks per user",
            metrics.chunks_stored.clone(),
        );
        registry.register(
            "cortex_ingester_chunk_stored_bytes",
            "Total bytes stored in chunks per user",
            metrics.chunk_stored_bytes.clone(),
        );
        registry.register(
            "cortex_ingester_chunk_age_seconds",
            "Distribution of chunk ages (when stored)",
            metrics.chunk_age_seconds.clone(),
        );
        registry.register(
            "cortex_ingester_chunk_length",
            "Distribution of stored chunk lengths (when stored)",
            metrics.chunk_length.clone(),
        );
        registry.register(
            "cortex_ingester_chunk_size_bytes",
            "Distribution of stored chunk sizes (when stored)",
            metrics.chunk_size_bytes.clone(),
        );
        metrics
    }

    /// The counter of `reason` in `family`.
    pub(crate) fn by_reason(family: &Family<ReasonLabels, Counter>, reason: &str) -> Counter {
        family.get_or_create(&ReasonLabels { reason: reason.to_string() }).clone()
    }
}
