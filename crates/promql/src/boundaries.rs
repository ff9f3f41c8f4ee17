//! Which samples a selector sees at an evaluation time, kept in one place so that a Prometheus 3.x
//! mode (left-open windows) can be added later by changing only this module.
//!
//! Prometheus 2.42 semantics:
//! - a range selector `x[r]` evaluated at reference time `t` sees samples with `t - r <= ts <= t`;
//! - an instant selector sees the newest sample with `t - lookback <= ts <= t`, unless that sample
//!   is a staleness marker.

/// The inclusive bounds of a range window ending at `reference_ms`.
pub(crate) fn range_window(reference_ms: i64, range_ms: i64) -> (i64, i64) {
    (reference_ms.saturating_sub(range_ms), reference_ms)
}

/// Whether a sample at `timestamp_ms` lies before a window starting at `window_start_ms`.
pub(crate) fn before_window(timestamp_ms: i64, window_start_ms: i64) -> bool {
    timestamp_ms < window_start_ms
}

/// Whether a sample at `timestamp_ms` is past a window ending at `window_end_ms`.
pub(crate) fn after_window(timestamp_ms: i64, window_end_ms: i64) -> bool {
    timestamp_ms > window_end_ms
}

/// Whether the newest sample at or before `reference_ms` is recent enough for an instant selector.
pub(crate) fn within_lookback(timestamp_ms: i64, reference_ms: i64, lookback_ms: i64) -> bool {
    timestamp_ms >= reference_ms.saturating_sub(lookback_ms)
}

/// The first millisecond an instant selector at `reference_ms` may read.
pub(crate) fn lookback_start(reference_ms: i64, lookback_ms: i64) -> i64 {
    reference_ms.saturating_sub(lookback_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_intervals_as_in_2_42() {
        let (start, end) = range_window(100, 10);
        assert!(!before_window(90, start) && !after_window(100, end));
        assert!(before_window(89, start) && after_window(101, end));
        assert!(within_lookback(0, 300_000, 300_000));
        assert!(!within_lookback(0, 300_001, 300_000));
    }
}
