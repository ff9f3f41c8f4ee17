//! When a series is flushed, and why: Cortex's flush reasons, decided from the series' oldest
//! unflushed sample, its last sample, its last append (wall clock) and its fingerprint.

use std::time::Duration;

use crate::config::IngesterConfig;

/// Why a series was queued for flushing (Cortex's reason label values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlushReason {
    /// `/flush`, `/shutdown` or process shutdown.
    Immediate,
    /// The unflushed samples span more than `max_chunk_age` (minus the series' jitter).
    Aged,
    /// The unflushed samples span the series' point in the `max_chunk_age` cycle
    /// (`spread_flushes`).
    Spread,
    /// No sample for `max_chunk_idle`.
    Idle,
    /// The last sample is a staleness marker and none came for `max_stale_chunk_idle`.
    Stale,
}

impl FlushReason {
    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            FlushReason::Immediate => "Immediate",
            FlushReason::Aged => "Aged",
            FlushReason::Spread => "Spread",
            FlushReason::Idle => "Idle",
            FlushReason::Stale => "Stale",
        }
    }
}

/// The state of one series the decision looks at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SeriesView {
    /// First sample time of the oldest unflushed chunk; `None` when everything is stored.
    pub(crate) first_unflushed_ms: Option<i64>,
    /// Timestamp of the last sample.
    pub(crate) last_sample_ms: i64,
    /// Wall-clock time of the last append.
    pub(crate) last_update_ms: i64,
    /// Whether the last sample is a staleness marker.
    pub(crate) ends_stale: bool,
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The flush settings, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FlushPolicy {
    pub(crate) max_chunk_age_ms: i64,
    pub(crate) chunk_age_jitter_ms: i64,
    pub(crate) max_chunk_idle_ms: i64,
    pub(crate) max_stale_chunk_idle_ms: i64,
    pub(crate) spread_flushes: bool,
    pub(crate) retain_period_ms: i64,
}

impl FlushPolicy {
    /// The policy of `config`.
    pub(crate) fn from_config(config: &IngesterConfig) -> Self {
        Self {
            max_chunk_age_ms: millis(config.max_chunk_age.0),
            chunk_age_jitter_ms: millis(config.chunk_age_jitter.0),
            max_chunk_idle_ms: millis(config.max_chunk_idle.0),
            max_stale_chunk_idle_ms: millis(config.max_stale_chunk_idle.0),
            spread_flushes: config.spread_flushes,
            retain_period_ms: millis(config.retain_period.0),
        }
    }

    /// Whether and why a series should be flushed now. `fingerprint` places the series in the
    /// jitter range and in the spread cycle.
    pub(crate) fn decide(
        &self,
        series: &SeriesView,
        fingerprint: u64,
        now_ms: i64,
        immediate: bool,
    ) -> Option<FlushReason> {
        let first = series.first_unflushed_ms?;
        if immediate {
            return Some(FlushReason::Immediate);
        }
        if self.max_chunk_age_ms > 0 {
            let jitter = if self.chunk_age_jitter_ms > 0 {
                (fingerprint % self.chunk_age_jitter_ms as u64) as i64
            } else {
                0
            };
            if series.last_sample_ms.saturating_sub(first) > self.max_chunk_age_ms - jitter {
                return Some(FlushReason::Aged);
            }
            if self.spread_flushes
                && first < spread_slot(series.last_sample_ms, fingerprint, self.max_chunk_age_ms)
            {
                return Some(FlushReason::Spread);
            }
        }
        let idle = now_ms.saturating_sub(series.last_update_ms);
        if idle > self.max_chunk_idle_ms {
            return Some(FlushReason::Idle);
        }
        if self.max_stale_chunk_idle_ms > 0 && series.ends_stale && idle > self.max_stale_chunk_idle_ms {
            return Some(FlushReason::Stale);
        }
        None
    }
}

/// The series' flush point at or before `last_ms`: its fingerprint's offset into the
/// `max_age_ms` cycle of sample time, as Cortex's `-ingester.spread-flushes` places it.
fn spread_slot(last_ms: i64, fingerprint: u64, max_age_ms: i64) -> i64 {
    let offset = (fingerprint % max_age_ms as u64) as i64;
    let slot = last_ms - last_ms.rem_euclid(max_age_ms) + offset;
    if slot > last_ms {
        slot - max_age_ms
    } else {
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;
    const HOUR: i64 = 60 * MINUTE;

    fn policy(spread: bool, jitter_ms: i64) -> FlushPolicy {
        FlushPolicy {
            max_chunk_age_ms: 12 * HOUR,
            chunk_age_jitter_ms: jitter_ms,
            max_chunk_idle_ms: 5 * MINUTE,
            max_stale_chunk_idle_ms: 2 * MINUTE,
            spread_flushes: spread,
            retain_period_ms: 5 * MINUTE,
        }
    }

    fn view(first: Option<i64>, last: i64, updated: i64, stale: bool) -> SeriesView {
        SeriesView {
            first_unflushed_ms: first,
            last_sample_ms: last,
            last_update_ms: updated,
            ends_stale: stale,
        }
    }

    #[test]
    fn every_reason() {
        let p = policy(false, 0);
        let now = 100 * HOUR;
        assert_eq!(p.decide(&view(None, now, now - HOUR, true), 7, now, true), None, "nothing to flush");
        assert_eq!(p.decide(&view(Some(now), now, now, false), 7, now, true), Some(FlushReason::Immediate));
        assert_eq!(p.decide(&view(Some(now - HOUR), now, now, false), 7, now, false), None);
        let aged = view(Some(now - 12 * HOUR - 1), now, now, false);
        assert_eq!(p.decide(&aged, 7, now, false), Some(FlushReason::Aged));
        let exactly = view(Some(now - 12 * HOUR), now, now, false);
        assert_eq!(p.decide(&exactly, 7, now, false), None, "Cortex flushes strictly after the age");
        let idle = view(Some(now - HOUR), now - 5 * MINUTE - 1, now - 5 * MINUTE - 1, false);
        assert_eq!(p.decide(&idle, 7, now, false), Some(FlushReason::Idle));
        let stale = view(Some(now - HOUR), now - 3 * MINUTE, now - 3 * MINUTE, true);
        assert_eq!(p.decide(&stale, 7, now, false), Some(FlushReason::Stale));
        let fresh_stale = view(Some(now - HOUR), now - MINUTE, now - MINUTE, true);
        assert_eq!(p.decide(&fresh_stale, 7, now, false), None);
        let no_stale_rule = FlushPolicy { max_stale_chunk_idle_ms: 0, ..p };
        assert_eq!(no_stale_rule.decide(&stale, 7, now, false), None);
        // Idle is wall-clock: old sample timestamps alone do not make a series idle.
        let backfill = view(Some(HOUR), 2 * HOUR, now, false);
        assert_eq!(p.decide(&backfill, 7, now, false), None);
    }

    #[test]
    fn jitter_shortens_the_age_per_series() {
        let p = policy(false, HOUR);
        let now = 100 * HOUR;
        let span = view(Some(now - 12 * HOUR + 30 * MINUTE), now, now, false);
        // Fingerprint 40 minutes into the jitter range: 11h20m is enough.
        assert_eq!(p.decide(&span, (40 * MINUTE) as u64, now, false), Some(FlushReason::Aged));
        assert_eq!(p.decide(&span, (10 * MINUTE) as u64, now, false), None);
    }

    #[test]
    fn spread_flushes_each_series_at_its_own_point_of_the_cycle() {
        let p = policy(true, 0);
        let cycle = 12 * HOUR;
        let base = 1000 * cycle;
        let fingerprint = (3 * HOUR) as u64;
        assert_eq!(spread_slot(base + 4 * HOUR, fingerprint, cycle), base + 3 * HOUR);
        assert_eq!(spread_slot(base + 2 * HOUR, fingerprint, cycle), base - 9 * HOUR);
        let now = base + 4 * HOUR;
        // Unflushed data since 2h into the cycle spans the 3h point: flush.
        let spans = view(Some(base + 2 * HOUR), base + 4 * HOUR, now, false);
        assert_eq!(p.decide(&spans, fingerprint, now, false), Some(FlushReason::Spread));
        // Data starting after the point waits for the next cycle.
        let after = view(Some(base + 3 * HOUR + 1), base + 4 * HOUR, now, false);
        assert_eq!(p.decide(&after, fingerprint, now, false), None);
        let other_series = (5 * HOUR) as u64;
        assert_eq!(p.decide(&spans, other_series, now, false), None);
    }
}
