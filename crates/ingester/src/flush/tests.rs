//! The flush engine against a recording sink, with a hand-moved clock: every flush reason,
//! batching, retain and removal, failures that lose nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use neocortex_chunk::XorIter;
use neocortex_core::duration::GoDuration;
use neocortex_core::metrics::DiscardedSamples;
use neocortex_core::{
    stale_nan, Labels, Limits, Matcher, Overrides, PushRequest, PushSeries, QueryableSource, Sample,
    SelectHints, TenantId,
};
use parking_lot::Mutex;
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

use super::Flusher;
use crate::clock::ManualClock;
use crate::flush_sink::{ChunkSink, FlushError, FlushSeries};
use crate::{Ingester, IngesterConfig};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
/// Wall-clock start of every test (2026-01-01).
const T0: i64 = 1_767_225_600_000;

/// Records what it was asked to store; fails while `failing` is set.
#[derive(Default)]
struct RecordingSink {
    calls: Mutex<Vec<(TenantId, Vec<FlushSeries>)>>,
    failing: AtomicBool,
}

#[async_trait]
impl ChunkSink for RecordingSink {
    async fn store(&self, tenant: &TenantId, series: Vec<FlushSeries>) -> Result<(), FlushError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(FlushError("store unavailable".to_string()));
        }
        self.calls.lock().push((tenant.clone(), series));
        Ok(())
    }
}

impl RecordingSink {
    /// Samples stored per series (labels rendered), in order.
    fn samples_of(&self, labels: &Labels) -> Vec<i64> {
        let calls = self.calls.lock();
        let mut out = Vec::new();
        for (_, series) in calls.iter() {
            for one in series.iter().filter(|one| &one.labels == labels) {
                for chunk in &one.chunks {
                    out.extend(XorIter::new(&chunk.data).map(|(t, _)| t));
                }
            }
        }
        out
    }

    fn series_stored(&self) -> usize {
        self.calls.lock().iter().map(|(_, series)| series.len()).sum()
    }
}

struct Harness {
    ingester: Arc<Ingester>,
    flusher: Arc<Flusher>,
    sink: Arc<RecordingSink>,
    clock: Arc<ManualClock>,
    registry: Registry,
}

fn config() -> IngesterConfig {
    IngesterConfig {
        // The loop itself never fires in these tests: they sweep by hand.
        flush_period: GoDuration(Duration::from_secs(3600)),
        spread_flushes: false,
        concurrent_flushes: 4,
        ..IngesterConfig::default()
    }
}

fn harness_with(config: IngesterConfig, limits: Limits) -> Harness {
    let mut registry = Registry::default();
    let clock = Arc::new(ManualClock::new(T0));
    let ingester = Ingester::new_with_clock(
        config,
        Overrides::new(limits),
        DiscardedSamples::default(),
        &mut registry,
        clock.clone(),
    );
    let sink = Arc::new(RecordingSink::default());
    let flusher = Flusher::new(ingester.clone(), sink.clone(), &mut registry);
    flusher.start();
    Harness { ingester, flusher, sink, clock, registry }
}

fn harness() -> Harness {
    harness_with(config(), Limits::default())
}

fn tenant(id: &str) -> TenantId {
    TenantId::new(id).unwrap()
}

fn labels(name: &str, instance: &str) -> Labels {
    Labels::from_pairs([("__name__", name), ("instance", instance)])
}

impl Harness {
    fn push(&self, tenant_id: &str, labels: &Labels, samples: impl IntoIterator<Item = (i64, f64)>) {
        let series = PushSeries {
            labels: labels.clone(),
            samples: samples
                .into_iter()
                .map(|(timestamp_ms, value)| Sample { timestamp_ms, value })
                .collect(),
        };
        self.ingester
            .push_sync(&tenant(tenant_id), &PushRequest { series: vec![series], metadata: Vec::new() })
            .unwrap();
    }

    /// One sweep, then waits for the queued flushes; returns how many series were queued.
    async fn sweep(&self) -> usize {
        let queued = self.flusher.sweep(false);
        self.flusher.wait_idle().await;
        queued
    }

    fn metric(&self, line_start: &str) -> f64 {
        let mut text = String::new();
        encode(&mut text, &self.registry).unwrap();
        text.lines()
            .find(|line| line.starts_with(line_start))
            .and_then(|line| line.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0.0)
    }

    async fn in_memory(&self, tenant_id: &str, name: &str) -> usize {
        let queryable = self.ingester.queryable(&tenant(tenant_id));
        let hints = SelectHints { start_ms: i64::MIN, end_ms: i64::MAX };
        let series = queryable.select(hints, &[Matcher::equal("__name__", name)]).await.unwrap();
        series.iter().map(|s| s.samples.len()).sum()
    }
}

/// `count` samples one minute apart starting at `start`.
fn minutes(start: i64, count: i64) -> Vec<(i64, f64)> {
    (0..count).map(|i| (start + i * MINUTE, i as f64)).collect()
}

#[tokio::test]
async fn idle_series_flushes_everything_then_leaves_memory_after_the_retain_period() {
    let h = harness();
    let up = labels("up", "a");
    // 150 samples: one full chunk plus a 30-sample head.
    h.push("t", &up, minutes(T0 - 3 * HOUR, 150));
    assert_eq!(h.sweep().await, 0, "fresh series are not flushed");
    h.clock.advance(5 * MINUTE);
    assert_eq!(h.sweep().await, 0, "idle for exactly max_chunk_idle is not yet idle");
    h.clock.advance(1);
    assert_eq!(h.sweep().await, 1);
    assert_eq!(h.sink.samples_of(&up), minutes(T0 - 3 * HOUR, 150).iter().map(|s| s.0).collect::<Vec<_>>());
    assert_eq!(h.metric("cortex_ingester_series_flushed_total{reason=\"Idle\"}"), 1.0);
    assert_eq!(h.metric("cortex_ingester_flushing_enqueued_series_total{reason=\"Idle\"}"), 1.0);
    assert_eq!(h.metric("cortex_ingester_chunks_stored_total{user=\"t\"}"), 2.0);
    assert!(h.metric("cortex_ingester_chunk_stored_bytes_total{user=\"t\"}") > 100.0);
    assert_eq!(h.metric("cortex_ingester_chunk_length_count"), 2.0);
    assert_eq!(h.metric("cortex_ingester_chunk_length_sum"), 150.0);
    assert_eq!(h.metric("cortex_ingester_flush_queue_length"), 0.0);

    // Stored chunks stay queryable for the retain period, and are not flushed again.
    assert_eq!(h.in_memory("t", "up").await, 150);
    h.clock.advance(5 * MINUTE - 1);
    assert_eq!(h.sweep().await, 0);
    assert_eq!(h.in_memory("t", "up").await, 150);
    assert_eq!(h.ingester.series_count(&tenant("t")), 1);
    assert_eq!(h.metric("cortex_ingester_memory_chunks"), 2.0);

    // Then they are dropped and the empty series removed: index, counts and metrics follow.
    h.clock.advance(1);
    h.sweep().await;
    assert_eq!(h.in_memory("t", "up").await, 0);
    assert_eq!(h.ingester.series_count(&tenant("t")), 0);
    assert_eq!(h.ingester.total_series(), 0);
    assert_eq!(h.metric("cortex_ingester_memory_chunks"), 0.0);
    assert_eq!(h.metric("cortex_ingester_memory_series "), 0.0);
    assert_eq!(h.metric("cortex_ingester_memory_series_removed_total{user=\"t\"}"), 1.0);
    assert_eq!(h.metric("cortex_ingester_memory_users "), 0.0, "the empty tenant left memory");
    let queryable = h.ingester.queryable(&tenant("t"));
    let all = SelectHints { start_ms: i64::MIN, end_ms: i64::MAX };
    assert!(queryable.label_values(all, "instance", &[]).await.unwrap().is_empty(), "postings cleaned");
    assert!(queryable.series(all, &[Matcher::equal("__name__", "up")]).await.unwrap().is_empty());

    // The series comes back as a new one (its slot reused) and is found again.
    h.push("t", &up, minutes(T0, 3));
    h.push("t", &labels("up", "b"), minutes(T0, 3));
    assert_eq!(h.ingester.series_count(&tenant("t")), 2);
    assert_eq!(h.in_memory("t", "up").await, 6);
    assert_eq!(queryable.label_values(all, "instance", &[]).await.unwrap(), ["a", "b"]);
    assert_eq!(h.metric("cortex_ingester_memory_series "), 2.0);
    assert_eq!(h.metric("cortex_ingester_memory_users "), 1.0);
    assert_eq!(h.metric("cortex_ingester_memory_series_created_total{user=\"t\"}"), 3.0);
}

#[tokio::test]
async fn removal_frees_room_under_the_series_limit() {
    let limits = Limits { max_series_per_user: 2, ..Limits::default() };
    let h = harness_with(config(), limits);
    h.push("t", &labels("a", "1"), minutes(T0, 2));
    h.push("t", &labels("a", "2"), minutes(T0, 2));
    let third =
        PushSeries { labels: labels("a", "3"), samples: vec![Sample { timestamp_ms: T0, value: 1.0 }] };
    let request = PushRequest { series: vec![third], metadata: Vec::new() };
    assert!(h.ingester.push_sync(&tenant("t"), &request).is_err(), "limit reached");
    h.flusher.flush_all();
    h.flusher.wait_idle().await;
    h.clock.advance(5 * MINUTE);
    h.sweep().await;
    assert_eq!(h.ingester.series_count(&tenant("t")), 0);
    h.ingester.push_sync(&tenant("t"), &request).unwrap();
}

#[tokio::test]
async fn aged_series_flush_on_sample_time_span_not_wall_clock() {
    let h = harness();
    let old = labels("old", "a");
    let young = labels("young", "a");
    // 12h01m of samples: older than max_chunk_age.
    h.push("t", &old, minutes(T0 - 13 * HOUR, 12 * 60 + 2));
    // 11h of samples.
    h.push("t", &young, minutes(T0 - 13 * HOUR, 11 * 60));
    assert_eq!(h.sweep().await, 1);
    assert_eq!(h.metric("cortex_ingester_series_flushed_total{reason=\"Aged\"}"), 1.0);
    assert_eq!(h.sink.samples_of(&old).len(), 12 * 60 + 2);
    assert!(h.sink.samples_of(&young).is_empty());
    // New samples after the flush start a new span.
    h.push("t", &old, minutes(T0 - 13 * HOUR + (12 * 60 + 2) * MINUTE, 10));
    assert_eq!(h.sweep().await, 0);
}

#[tokio::test]
async fn spread_flushes_place_each_series_in_the_cycle() {
    let h = harness_with(IngesterConfig { spread_flushes: true, ..config() }, Limits::default());
    let base = (T0 / (12 * HOUR)) * 12 * HOUR - 24 * HOUR;
    let all: Vec<Labels> = (0..60).map(|i| labels("spread", &i.to_string())).collect();
    // Six hours of data: about half the series have passed their point of the 12h cycle.
    for series in &all {
        h.push("t", series, minutes(base, 6 * 60));
    }
    let first = h.sweep().await;
    assert!((10..=50).contains(&first), "{first} of 60 series flushed");
    assert_eq!(h.metric("cortex_ingester_series_flushed_total{reason=\"Spread\"}"), first as f64);
    // Six more hours: every series has now passed its point once.
    for series in &all {
        h.push("t", series, minutes(base + 6 * 60 * MINUTE, 6 * 60));
    }
    let second = h.sweep().await;
    assert_eq!(first + second, 60, "each series flushed exactly once per cycle");
    for series in &all {
        assert!(!h.sink.samples_of(series).is_empty());
    }
}

#[tokio::test]
async fn chunk_age_jitter_is_per_series() {
    let config = IngesterConfig { chunk_age_jitter: GoDuration(Duration::from_secs(3 * 3600)), ..config() };
    let h = harness_with(config, Limits::default());
    for i in 0..40 {
        h.push("t", &labels("jitter", &i.to_string()), minutes(T0 - 20 * HOUR, 10 * 60 + 30));
    }
    // 10h30m spans: flushed when the series' jitter exceeds 1h30m (about half of 0..3h).
    let flushed = h.sweep().await;
    assert!((5..=35).contains(&flushed), "{flushed} of 40");
    assert_eq!(h.metric("cortex_ingester_series_flushed_total{reason=\"Aged\"}"), flushed as f64);
}

#[tokio::test]
async fn stale_series_flush_after_the_stale_idle_period() {
    let h = harness();
    let gone = labels("gone", "a");
    let quiet = labels("quiet", "a");
    let mut samples = minutes(T0 - HOUR, 10);
    samples.push((T0 - HOUR + 10 * MINUTE, stale_nan()));
    h.push("t", &gone, samples);
    h.push("t", &quiet, minutes(T0 - HOUR, 10));
    h.clock.advance(2 * MINUTE);
    assert_eq!(h.sweep().await, 0);
    h.clock.advance(1);
    assert_eq!(h.sweep().await, 1);
    assert_eq!(h.metric("cortex_ingester_series_flushed_total{reason=\"Stale\"}"), 1.0);
    assert_eq!(h.sink.samples_of(&gone).len(), 11);
    assert!(h.sink.samples_of(&quiet).is_empty());
    h.clock.advance(3 * MINUTE);
    assert_eq!(h.sweep().await, 1, "the other series becomes idle");
    assert_eq!(h.metric("cortex_ingester_series_flushed_total{reason=\"Idle\"}"), 1.0);
}

#[tokio::test]
async fn flush_all_batches_each_tenants_series_into_few_calls() {
    let h = harness_with(IngesterConfig { concurrent_flushes: 1, ..config() }, Limits::default());
    for i in 0..300 {
        h.push("a", &labels("m", &i.to_string()), minutes(T0, 5));
    }
    for i in 0..20 {
        h.push("b", &labels("m", &i.to_string()), minutes(T0, 5));
    }
    assert_eq!(h.flusher.flush_all(), 320);
    h.flusher.wait_idle().await;
    let calls = h.sink.calls.lock();
    assert!(calls.len() <= 3, "{} sink calls", calls.len());
    for (tenant_id, series) in calls.iter() {
        let expected = if tenant_id.as_str() == "a" { 300 } else { 20 };
        assert!(series.len() >= expected / 2, "{tenant_id}: {} series in one call", series.len());
    }
    let per_tenant =
        |id: &str| calls.iter().filter(|(t, _)| t.as_str() == id).map(|(_, s)| s.len()).sum::<usize>();
    assert_eq!((per_tenant("a"), per_tenant("b")), (300, 20));
    drop(calls);
    assert_eq!(h.metric("cortex_ingester_series_flushed_total{reason=\"Immediate\"}"), 320.0);
    // Everything is stored: an immediate flush finds nothing more.
    assert_eq!(h.flusher.flush_all(), 0);
    assert_eq!(h.ingester.unflushed_series(), 0);
}

#[tokio::test]
async fn a_failed_flush_loses_nothing_and_is_retried() {
    let h = harness();
    let series = labels("m", "a");
    h.push("t", &series, minutes(T0 - HOUR, 200));
    h.sink.failing.store(true, Ordering::SeqCst);
    h.clock.advance(6 * MINUTE);
    assert_eq!(h.sweep().await, 1);
    assert_eq!(h.sink.series_stored(), 0);
    assert_eq!(h.metric("cortex_ingester_flush_failures_total"), 1.0);
    assert_eq!(h.flusher.failed_series_total(), 1, "what /flush?wait=true reports");
    assert_eq!(h.ingester.unflushed_series(), 1, "not marked as stored");
    // Long after the retain period nothing is dropped: it was never stored.
    h.clock.advance(HOUR);
    assert_eq!(h.sweep().await, 1);
    assert_eq!(h.in_memory("t", "m").await, 200);
    // Samples keep arriving meanwhile; once the store is back, all of them are stored once.
    h.push("t", &series, minutes(T0 - HOUR + 200 * MINUTE, 50));
    h.sink.failing.store(false, Ordering::SeqCst);
    assert!(h.flusher.flush_all_and_wait(Duration::from_secs(10)).await);
    let stored = h.sink.samples_of(&series);
    assert_eq!(stored, minutes(T0 - HOUR, 250).iter().map(|s| s.0).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_slow_store_times_out_and_is_retried() {
    struct Stuck;
    #[async_trait]
    impl ChunkSink for Stuck {
        async fn store(&self, _: &TenantId, _: Vec<FlushSeries>) -> Result<(), FlushError> {
            std::future::pending::<()>().await;
            Ok(())
        }
    }
    let mut registry = Registry::default();
    let config = IngesterConfig { flush_op_timeout: GoDuration(Duration::from_millis(50)), ..config() };
    let ingester =
        Ingester::new(config, Overrides::new(Limits::default()), DiscardedSamples::default(), &mut registry);
    let flusher = Flusher::new(ingester.clone(), Arc::new(Stuck), &mut registry);
    flusher.start();
    let series =
        PushSeries { labels: labels("m", "a"), samples: vec![Sample { timestamp_ms: 1, value: 1.0 }] };
    ingester.push_sync(&tenant("t"), &PushRequest { series: vec![series], metadata: Vec::new() }).unwrap();
    assert!(!flusher.flush_all_and_wait(Duration::from_millis(300)).await);
    assert_eq!(ingester.unflushed_series(), 1);
    flusher.stop();
}
