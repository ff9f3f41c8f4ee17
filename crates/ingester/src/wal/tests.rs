//! WAL tests against a real directory: replay restores exactly what was acknowledged, torn
//! tails are cut and counted, checkpoints replace segments, restarts chain.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use prometheus_client::registry::Registry;
use proptest::prelude::*;

use neocortex_core::metrics::DiscardedSamples;
use neocortex_core::{Labels, Limits, Overrides, PushRequest, PushSeries, Sample, TenantId};

use super::segment::{self, HEADER_BYTES};
use super::{ReplayStats, Wal, WalMetrics};
use crate::{Ingester, IngesterConfig, WalConfig};

type State = BTreeMap<(String, Labels), Vec<(i64, u64)>>;

fn wal_config(dir: &Path) -> WalConfig {
    WalConfig { wal_dir: dir.to_string_lossy().into_owned(), ..WalConfig::default() }
}

/// A fresh ingester with the WAL in `dir` opened (and replayed).
fn open(dir: &Path, segment_bytes: u64) -> (Arc<Ingester>, Arc<Wal>, ReplayStats, WalMetrics) {
    let mut registry = Registry::default();
    let limits = Limits { max_series_per_user: 0, max_series_per_metric: 0, ..Limits::default() };
    let ingester = Ingester::new(
        IngesterConfig::default(),
        Overrides::new(limits),
        DiscardedSamples::default(),
        &mut registry,
    );
    let metrics = WalMetrics::register(&mut registry);
    let (wal, stats) = Wal::open_with(ingester.clone(), &wal_config(dir), metrics.clone(), segment_bytes)
        .expect("WAL opens");
    (ingester, wal, stats, metrics)
}

fn state(ingester: &Ingester) -> State {
    let mut out = State::new();
    for db in ingester.tenant_dbs() {
        for series in db.select(i64::MIN, i64::MAX, &[]) {
            let samples = series.samples.iter().map(|s| (s.timestamp_ms, s.value.to_bits())).collect();
            out.insert((db.tenant().as_str().to_string(), series.labels), samples);
        }
    }
    out
}

fn push(ingester: &Ingester, tenant: &str, series: &[(u32, Vec<(i64, f64)>)]) {
    let request = PushRequest {
        series: series
            .iter()
            .map(|(id, samples)| PushSeries {
                labels: Labels::from_pairs([
                    ("__name__", format!("metric_{}", id % 7)),
                    ("instance", format!("host-{id}")),
                ]),
                samples: samples
                    .iter()
                    .map(|&(timestamp_ms, value)| Sample { timestamp_ms, value })
                    .collect(),
            })
            .collect(),
        metadata: Vec::new(),
    };
    // Out-of-order samples are refused (and not logged); the rest must survive.
    let _ = ingester.push_sync(&TenantId::new(tenant).expect("tenant"), &request);
}

/// Pushes `rounds` scrapes of `series` series for two tenants.
fn load(ingester: &Ingester, rounds: i64, series: u32, start_ms: i64) {
    for round in 0..rounds {
        for tenant in ["team-a", "team-b"] {
            let batch: Vec<(u32, Vec<(i64, f64)>)> = (0..series)
                .map(|id| {
                    let ts = start_ms + round * 15_000 + i64::from(id % 13);
                    let value = if id % 3 == 0 {
                        (round * 10 + i64::from(id)) as f64
                    } else {
                        round as f64 * 0.1 + 0.01
                    };
                    (id, vec![(ts, value)])
                })
                .collect();
            push(ingester, tenant, &batch);
        }
    }
}

fn last_segment(dir: &Path) -> std::path::PathBuf {
    let listing = segment::list(dir).expect("listing");
    segment::segment_path(dir, *listing.segments.last().expect("a segment"))
}

#[test]
fn replay_restores_every_logged_sample() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ingester, wal, stats, metrics) = open(dir.path(), super::DEFAULT_SEGMENT_BYTES);
    assert_eq!(stats.series, 0);
    load(&ingester, 300, 50, 1_700_000_000_000);
    push(
        &ingester,
        "team-a",
        &[(999, vec![(1, f64::NAN), (2, -0.0), (3, f64::from_bits(0x7ff0_0000_0000_0002))])],
    );
    let expected = state(&ingester);
    assert!(metrics.records_logged.get() >= 601);
    assert!(metrics.logged_bytes.get() > 0);
    drop(wal);
    drop(ingester);

    let (restored, _wal, stats, _) = open(dir.path(), super::DEFAULT_SEGMENT_BYTES);
    assert_eq!(state(&restored), expected);
    assert_eq!(stats.series, 101);
    assert_eq!(stats.samples, 300 * 100 + 3);
    assert_eq!(stats.corruptions, 0);
    assert_eq!(restored.total_series(), 101);
}

#[test]
fn torn_tails_are_truncated_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ingester, wal, _, _) = open(dir.path(), super::DEFAULT_SEGMENT_BYTES);
    load(&ingester, 40, 20, 1_000_000);
    let expected = state(&ingester);
    drop((wal, ingester));
    let path = last_segment(dir.path());
    let full = fs::read(&path).expect("segment");

    // Garbage after the last record (a torn write): everything before it survives.
    let mut torn = full.clone();
    torn.extend_from_slice(&[0x40, 0, 0, 0, 1, 2, 3]);
    fs::write(&path, &torn).expect("write");
    let (restored, wal, stats, metrics) = open(dir.path(), super::DEFAULT_SEGMENT_BYTES);
    assert_eq!(state(&restored), expected);
    assert_eq!(stats.corruptions, 1);
    assert_eq!(metrics.corruptions.get(), 1);
    assert_eq!(fs::read(&path).expect("segment"), full, "cut back to the last good record");
    drop((wal, restored));

    // Cut anywhere: replay never fails and keeps a prefix of the pushes.
    for cut in [HEADER_BYTES + 3, full.len() / 3, full.len() / 2 + 1, full.len() - 1] {
        let scratch = tempfile::tempdir().expect("tempdir");
        let copy = scratch.path().join(path.file_name().expect("name"));
        fs::write(&copy, &full[..cut]).expect("write");
        let (restored, _wal, stats, _) = open(scratch.path(), super::DEFAULT_SEGMENT_BYTES);
        assert_eq!(stats.corruptions, 1, "cut at {cut}");
        let got = state(&restored);
        for (key, samples) in &got {
            let all = &expected[key];
            assert_eq!(&all[..samples.len()], &samples[..], "a prefix of {key:?}");
        }
        assert!(fs::metadata(&copy).expect("segment").len() <= cut as u64);
    }

    // A bit flipped in the middle: the segment ends there, replay carries on.
    let mut flipped = full.clone();
    let middle = full.len() / 2;
    flipped[middle] ^= 0xff;
    fs::write(&path, &flipped).expect("write");
    let (_restored, _wal, stats, _) = open(dir.path(), super::DEFAULT_SEGMENT_BYTES);
    assert_eq!(stats.corruptions, 1);
    assert!(stats.samples < 40 * 40 && stats.samples > 0);
}

#[test]
fn checkpoint_replaces_segments_and_replay_restarts_from_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ingester, wal, _, metrics) = open(dir.path(), 16 << 10);
    load(&ingester, 200, 40, 5_000_000);
    let before = segment::list(dir.path()).expect("listing");
    assert!(before.segments.len() > 3, "small segments roll: {:?}", before.segments);
    let stats = wal.checkpoint().expect("checkpoint");
    assert_eq!(stats.series, 80);
    assert_eq!(stats.deleted_segments, before.segments.len() as u64);
    assert_eq!(metrics.checkpoint_creations.get(), 1);
    load(&ingester, 50, 45, 5_000_000 + 200 * 15_000);
    let second = wal.checkpoint().expect("second checkpoint");
    assert_eq!(second.deleted_checkpoints, 1);
    assert_eq!(metrics.checkpoint_deletions.get(), 1);
    load(&ingester, 30, 45, 5_000_000 + 250 * 15_000);
    let expected = state(&ingester);
    let after = segment::list(dir.path()).expect("listing");
    assert_eq!(after.checkpoints, vec![second.index]);
    assert!(after.segments.iter().all(|&s| s >= second.index));
    drop((wal, ingester));

    let (restored, _wal, stats, _) = open(dir.path(), 16 << 10);
    assert_eq!(stats.checkpoint, Some(second.index));
    assert_eq!(state(&restored), expected);
    assert_eq!(stats.samples, 30 * 90, "only the samples after the checkpoint come from segments");
    assert_eq!(stats.checkpoint_samples, (200 * 80 + 50 * 90) as u64);
    assert_eq!(
        restored.chunk_count(&TenantId::new("team-a").expect("tenant")),
        expected
            .iter()
            .filter(|((tenant, _), _)| tenant == "team-a")
            .map(|(_, samples)| samples.len().div_ceil(crate::SAMPLES_PER_CHUNK))
            .sum::<usize>()
    );
}

#[test]
fn restarts_chain_without_checkpoints() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut start = 0;
    let mut expected = State::new();
    for restart in 0..4 {
        let (ingester, wal, _, _) = open(dir.path(), 32 << 10);
        assert_eq!(state(&ingester), expected, "after restart {restart}");
        // New series in every run plus the old ones, so refs of different runs overlap.
        load(&ingester, 25, 10 + restart * 5, start);
        start += 25 * 15_000;
        wal.close().expect("close");
        assert!(
            ingester
                .push_sync(
                    &TenantId::new("x").expect("tenant"),
                    &PushRequest {
                        series: vec![PushSeries {
                            labels: Labels::from_pairs([("__name__", "late")]),
                            samples: vec![Sample { timestamp_ms: 1, value: 1.0 }]
                        }],
                        metadata: Vec::new(),
                    }
                )
                .is_err(),
            "no acknowledgement once the WAL is closed"
        );
        // The refused push stays in memory but was never acknowledged nor logged.
        expected = state(&ingester).into_iter().filter(|((tenant, _), _)| tenant != "x").collect();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any interleaving of pushes (some out of order), checkpoints and restarts replays to the
    /// state the ingester had.
    #[test]
    fn checkpoints_and_replay_are_equivalent_to_memory(
        steps in proptest::collection::vec((0u8..10, 0u32..30, 1i64..4, -2i64..40), 1..40)
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut ingester, mut wal, _, _) = open(dir.path(), 8 << 10);
        let mut clock = 0i64;
        for (action, series, samples, jump) in steps {
            match action {
                0 => { wal.checkpoint().expect("checkpoint"); }
                1 => {
                    let expected = state(&ingester);
                    drop((wal, ingester));
                    let reopened = open(dir.path(), 8 << 10);
                    ingester = reopened.0;
                    wal = reopened.1;
                    prop_assert_eq!(state(&ingester), expected);
                }
                _ => {
                    clock += jump * 1000;
                    let batch: Vec<(u32, Vec<(i64, f64)>)> = (0..=series)
                        .map(|id| (id, (0..samples).map(|k| (clock + k * 10, (clock + k + i64::from(id)) as f64 / 3.0)).collect()))
                        .collect();
                    push(&ingester, if series % 2 == 0 { "even" } else { "odd" }, &batch);
                }
            }
        }
        let expected = state(&ingester);
        drop((wal, ingester));
        let (restored, _wal, stats, _) = open(dir.path(), 8 << 10);
        prop_assert_eq!(stats.corruptions, 0);
        prop_assert_eq!(state(&restored), expected);
    }
}

/// Two pushes to one series can reach the WAL in the opposite order to memory: the later
/// record may carry an older sample, or a sample of a series whose record comes after it.
#[test]
fn records_reordered_by_concurrent_pushes_replay_completely() {
    use super::encoding::RecordBuilder;
    use super::writer::WalWriter;

    let dir = tempfile::tempdir().expect("tempdir");
    let writer = WalWriter::create(dir.path(), 1, 42, 1 << 20, WalMetrics::default()).expect("writer");
    let labels = Labels::from_pairs([("__name__", "raced"), ("job", "a")]);
    // Push B appended t=20 to the series push A created (ref 5) and reached the WAL first.
    let mut b = RecordBuilder::default();
    b.sample(5, 20, 2.0);
    writer.log(&b.finish("t")).expect("log");
    let mut a = RecordBuilder::default();
    a.series(5, &labels);
    a.sample(5, 10, 1.0);
    writer.log(&a.finish("t")).expect("log");
    // Push D appended t=40 before push C's t=30 reached the WAL.
    let mut d = RecordBuilder::default();
    d.sample(5, 40, 4.0);
    writer.log(&d.finish("t")).expect("log");
    let mut c = RecordBuilder::default();
    c.sample(5, 30, 3.0);
    c.sample(5, 20, 2.0); // already held: skipped
    writer.log(&c.finish("t")).expect("log");
    writer.close().expect("close");

    let (restored, _wal, stats, _) = open(dir.path(), super::DEFAULT_SEGMENT_BYTES);
    let got = state(&restored);
    let samples = &got[&("t".to_string(), labels)];
    let expected: Vec<(i64, u64)> =
        [(10, 1.0f64), (20, 2.0), (30, 3.0), (40, 4.0)].iter().map(|&(t, v)| (t, v.to_bits())).collect();
    assert_eq!(samples, &expected);
    assert_eq!(stats.samples, 4);
    assert_eq!(stats.skipped_samples, 1);
    assert_eq!(stats.orphan_samples, 0);
}
