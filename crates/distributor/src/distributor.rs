//! The push handler: decode, validate, rate-limit, then hand the valid series to the `Pusher`
//! (the ingesters), following Cortex's distributor.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use neocortex_core::limits::Limits;
use neocortex_core::metrics::{count_discarded, DiscardedSamples};
use neocortex_core::queryable::Sample;
use neocortex_core::{
    ErrorCode, Label, Labels, MetricMetadata, Overrides, PushError, PushRequest, PushSeries, Pusher, TenantId,
};
use neocortex_proto::prometheus::metric_metadata::MetricType;
use neocortex_proto::prometheus::{self as prompb, WriteRequest};
use prometheus_client::registry::Registry;

use crate::config::DistributorConfig;
use crate::decode::{check_headers, decode_snappy_write_request, DecodeError, PushHeaders};
use crate::format::format_go_float;
use crate::metrics::DistributorMetrics;
use crate::rate_limit::{IngestionRate, TenantRateLimiter};
use crate::validation::{
    reason, validate_metadata, validate_series, MetadataRules, SeriesOutcome, SeriesRules,
};

/// Compressed bodies larger than this (about 5000 samples) are decoded and validated with
/// `block_in_place`, so that one big request does not stall the other tasks of its worker.
const BLOCKING_THRESHOLD_BYTES: usize = 64 << 10;

/// The write path's front half: validates remote-write requests per tenant, enforces the
/// tenant's ingestion rate, and forwards what is valid to a `Pusher`.
pub struct Distributor {
    config: DistributorConfig,
    overrides: Overrides,
    pusher: Arc<dyn Pusher>,
    metrics: DistributorMetrics,
    tenant_rate_limiter: TenantRateLimiter,
    instance_ingestion_rate: IngestionRate,
    inflight_push_requests: AtomicUsize,
    healthy_distributors: AtomicUsize,
}

impl std::fmt::Debug for Distributor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Distributor").field("config", &self.config).finish_non_exhaustive()
    }
}

/// What survived validation of one request.
#[derive(Debug, Default)]
struct ValidatedRequest {
    request: PushRequest,
    samples: u64,
    /// The first validation failure, reported to the client as a 400 once the rest is stored.
    first_error: Option<PushError>,
}

/// A validated request with the limits it was validated against.
#[derive(Debug)]
struct Prepared {
    validated: ValidatedRequest,
    limits: Arc<Limits>,
}

/// Whether `block_in_place` is allowed here (only on a multi-thread tokio runtime).
fn can_block_in_place() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|handle| handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}

/// Decrements the inflight counter when a push ends, however it ends.
struct InflightGuard<'a> {
    distributor: &'a Distributor,
}

impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        self.distributor.inflight_push_requests.fetch_sub(1, Ordering::Relaxed);
        self.distributor.metrics.inflight_push_requests.dec();
    }
}

impl Distributor {
    /// A distributor forwarding to `pusher`, reading per-tenant limits from `overrides` on every
    /// request, counting dropped samples in the shared `discarded` counter, and registering its
    /// own metrics in `registry`.
    pub fn new(
        config: DistributorConfig,
        overrides: Overrides,
        pusher: Arc<dyn Pusher>,
        discarded: DiscardedSamples,
        registry: &mut Registry,
    ) -> Self {
        Self {
            config,
            overrides,
            pusher,
            metrics: DistributorMetrics::new(discarded, registry),
            tenant_rate_limiter: TenantRateLimiter::default(),
            instance_ingestion_rate: IngestionRate::new(Instant::now()),
            inflight_push_requests: AtomicUsize::new(0),
            healthy_distributors: AtomicUsize::new(1),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &DistributorConfig {
        &self.config
    }

    /// The largest body the HTTP layer needs to read: anything longer is refused anyway, so the
    /// router can stop reading at `max_recv_msg_size + 1` bytes.
    pub fn max_recv_msg_size(&self) -> usize {
        self.config.max_recv_msg_size
    }

    /// Tells the `global` ingestion-rate strategy how many healthy distributors share each
    /// tenant's rate (1 until distributors join a ring).
    pub fn set_healthy_distributors(&self, count: usize) {
        self.healthy_distributors.store(count.max(1), Ordering::Relaxed);
    }

    /// Handles the body of `POST /api/v1/push` (Prometheus remote write 1.0, snappy-compressed
    /// protobuf) for `tenant`.
    ///
    /// Header handling follows Cortex, which ignores them and always expects snappy: a missing
    /// `Content-Type` or `Content-Encoding` is fine; an encoding other than `snappy` and a
    /// content type naming remote write 2.0 are refused with 400 (see [`crate::decode`]).
    ///
    /// Errors: 413 when the body or its decompressed length exceeds `max_recv_msg_size`; 400 for
    /// corrupt snappy or protobuf (including invalid UTF-8) and for invalid series (the valid
    /// series of the same request are stored first); 429 when the tenant's ingestion rate is
    /// exceeded (nothing stored); the `Pusher`'s own error when the ingesters refuse; 503 when
    /// this distributor is over its instance limits or the ingesters time out.
    pub async fn push_http(
        &self,
        tenant: &TenantId,
        headers: PushHeaders<'_>,
        body: Bytes,
    ) -> Result<(), PushError> {
        let _inflight = self.start_push(tenant)?;
        check_headers(&headers).map_err(decode_error)?;
        let max_size = self.config.max_recv_msg_size;
        let decode_and_validate = || -> Result<Prepared, PushError> {
            let request = decode_snappy_write_request(&body, max_size).map_err(decode_error)?;
            Ok(self.prepare(tenant, request))
        };
        let prepared = if body.len() > BLOCKING_THRESHOLD_BYTES && can_block_in_place() {
            tokio::task::block_in_place(decode_and_validate)?
        } else {
            decode_and_validate()?
        };
        self.finish_push(tenant, prepared).await
    }

    /// Handles an already decoded remote-write request (for gRPC pushes and tests); the same
    /// checks as [`Distributor::push_http`] apply after decoding.
    pub async fn push(&self, tenant: &TenantId, request: WriteRequest) -> Result<(), PushError> {
        let _inflight = self.start_push(tenant)?;
        let prepared = self.prepare(tenant, request);
        self.finish_push(tenant, prepared).await
    }

    /// Counts the request and applies the instance limits.
    fn start_push(&self, tenant: &TenantId) -> Result<InflightGuard<'_>, PushError> {
        DistributorMetrics::add(&self.metrics.requests_in, tenant.as_str(), 1);
        let inflight = self.inflight_push_requests.fetch_add(1, Ordering::Relaxed) + 1;
        self.metrics.inflight_push_requests.inc();
        let guard = InflightGuard { distributor: self };
        let limits = &self.config.instance_limits;
        if limits.max_inflight_push_requests > 0 && inflight > limits.max_inflight_push_requests {
            return Err(PushError::new(
                ErrorCode::Unavailable,
                "too many inflight push requests in distributor",
            ));
        }
        if limits.max_ingestion_rate > 0.0
            && self.instance_ingestion_rate.rate(Instant::now()) >= limits.max_ingestion_rate
        {
            return Err(PushError::new(
                ErrorCode::Unavailable,
                "distributor's samples push rate limit reached",
            ));
        }
        Ok(guard)
    }

    /// Counts what came in and validates it against the tenant's current limits (CPU work only).
    fn prepare(&self, tenant: &TenantId, request: WriteRequest) -> Prepared {
        let tenant_name = tenant.as_str();
        let limits = self.overrides.for_tenant(tenant_name);
        let samples_in: usize = request.timeseries.iter().map(|series| series.samples.len()).sum();
        DistributorMetrics::add(&self.metrics.samples_in, tenant_name, samples_in as u64);
        DistributorMetrics::add(&self.metrics.metadata_in, tenant_name, request.metadata.len() as u64);
        let validated = self.validate_request(tenant_name, request, &limits, unix_now_ms());
        Prepared { validated, limits }
    }

    /// Rate-limits a validated request and hands it to the pusher.
    async fn finish_push(&self, tenant: &TenantId, prepared: Prepared) -> Result<(), PushError> {
        let tenant_name = tenant.as_str();
        let Prepared { validated, limits } = prepared;
        let ValidatedRequest { request, samples, first_error } = validated;
        let metadata = request.metadata.len() as u64;
        DistributorMetrics::add(&self.metrics.received_samples, tenant_name, samples);
        DistributorMetrics::add(&self.metrics.received_metadata, tenant_name, metadata);
        if request.series.is_empty() && request.metadata.is_empty() {
            return first_error.map_or(Ok(()), Err);
        }

        let now = Instant::now();
        let rate = self.tenant_rate(&limits);
        if !self.tenant_rate_limiter.allow(
            tenant_name,
            rate,
            limits.ingestion_burst_size,
            samples + metadata,
            now,
        ) {
            count_discarded(&self.metrics.discarded_samples, reason::RATE_LIMITED, tenant_name, samples);
            self.metrics.discard_metadata(reason::RATE_LIMITED, tenant_name, metadata);
            return Err(PushError::new(
                ErrorCode::TooManyRequests,
                format!(
                    "ingestion rate limit ({}) exceeded while adding {samples} samples and {metadata} metadata",
                    format_go_float(rate)
                ),
            ));
        }
        self.instance_ingestion_rate.add(samples + metadata, now);

        let timeout = self.config.remote_timeout.0;
        match tokio::time::timeout(timeout, self.pusher.push(tenant, request)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                if error.code.http_status() >= 500 {
                    tracing::warn!(tenant = tenant_name, error = %error.message, "push to ingesters failed");
                }
                return Err(error);
            }
            Err(_) => {
                tracing::warn!(tenant = tenant_name, ?timeout, "push to ingesters timed out");
                return Err(PushError::new(
                    ErrorCode::Timeout,
                    format!("push to ingesters timed out after {}", self.config.remote_timeout),
                ));
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The tenant's rate in samples per second for this distributor: the whole rate with the
    /// `local` strategy, its share among healthy distributors with `global`.
    fn tenant_rate(&self, limits: &Limits) -> f64 {
        if limits.ingestion_rate_strategy == "global" {
            let distributors = self.healthy_distributors.load(Ordering::Relaxed).max(1);
            return limits.ingestion_rate / distributors as f64;
        }
        limits.ingestion_rate
    }

    /// Validates every series and metadata entry, counting what is dropped, and converts the
    /// valid ones (by moving their strings) into a `PushRequest`.
    fn validate_request(
        &self,
        tenant: &str,
        request: WriteRequest,
        limits: &Limits,
        now_ms: i64,
    ) -> ValidatedRequest {
        let series_rules = SeriesRules::new(limits, now_ms);
        let mut validated = ValidatedRequest {
            request: PushRequest {
                series: Vec::with_capacity(request.timeseries.len()),
                metadata: Vec::new(),
            },
            ..ValidatedRequest::default()
        };
        let mut latest_timestamp_ms = 0i64;
        for mut series in request.timeseries {
            if let Some(last) = series.samples.last() {
                latest_timestamp_ms = latest_timestamp_ms.max(last.timestamp);
            }
            match validate_series(&mut series, &series_rules) {
                Ok(SeriesOutcome::Valid) if !series.samples.is_empty() => {
                    validated.samples += series.samples.len() as u64;
                    validated.request.series.push(into_push_series(series));
                }
                Ok(_) => {}
                Err(error) => {
                    count_discarded(
                        &self.metrics.discarded_samples,
                        error.reason,
                        tenant,
                        series.samples.len() as u64,
                    );
                    tracing::debug!(tenant, reason = error.reason, message = %error.message, "series refused");
                    validated.first_error.get_or_insert(PushError::new(ErrorCode::BadData, error.message));
                }
            }
        }
        if latest_timestamp_ms > 0 {
            self.metrics
                .latest_seen_sample_timestamp
                .get_or_create(&crate::metrics::UserLabel { user: tenant.to_string() })
                .set(latest_timestamp_ms as f64 / 1000.0);
        }

        let metadata_rules = MetadataRules::new(limits);
        validated.request.metadata.reserve(request.metadata.len());
        for metadata in request.metadata {
            match validate_metadata(&metadata, metadata_rules) {
                Ok(()) => validated.request.metadata.push(into_metric_metadata(metadata)),
                Err(error) => {
                    self.metrics.discard_metadata(error.reason, tenant, 1);
                    validated.first_error.get_or_insert(PushError::new(ErrorCode::BadData, error.message));
                }
            }
        }
        validated
    }
}

fn decode_error(error: DecodeError) -> PushError {
    tracing::debug!(%error, "remote write body refused");
    PushError::new(error.code(), error.to_string())
}

fn unix_now_ms() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// Moves a validated series (sorted, unique label names) into the core type. The element types
/// have the same layout, so the vectors are converted in place without reallocating.
fn into_push_series(series: prompb::TimeSeries) -> PushSeries {
    let labels: Vec<Label> =
        series.labels.into_iter().map(|label| Label { name: label.name, value: label.value }).collect();
    let samples: Vec<Sample> = series
        .samples
        .into_iter()
        .map(|sample| Sample { timestamp_ms: sample.timestamp, value: sample.value })
        .collect();
    PushSeries { labels: Labels::from_sorted(labels), samples }
}

fn into_metric_metadata(metadata: prompb::MetricMetadata) -> MetricMetadata {
    let metric_type = match MetricType::try_from(metadata.r#type) {
        Ok(MetricType::Counter) => "counter",
        Ok(MetricType::Gauge) => "gauge",
        Ok(MetricType::Histogram) => "histogram",
        Ok(MetricType::Gaugehistogram) => "gaugehistogram",
        Ok(MetricType::Summary) => "summary",
        Ok(MetricType::Info) => "info",
        Ok(MetricType::Stateset) => "stateset",
        Ok(MetricType::Unknown) | Err(_) => "unknown",
    };
    MetricMetadata {
        metric_family_name: metadata.metric_family_name,
        metric_type: metric_type.to_string(),
        help: metadata.help,
        unit: metadata.unit,
    }
}
