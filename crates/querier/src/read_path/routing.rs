//! Which source a read goes to, by time: Cortex's `-querier.query-ingesters-within` and
//! `-querier.query-store-after`.
//!
//! Ingesters hold only recent data, so a select whose range ends before `now -
//! query_ingesters_within` skips them. The store only holds data that has been flushed, so it is
//! asked only for the part of the range older than `now - query_store_after` (the end is clamped,
//! and a range left empty skips the store). Zero turns either rule off.

use std::time::Duration;

use neocortex_core::SelectHints;

use crate::config::QuerierConfig;

/// The time rules of one querier, taken from its configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Routing {
    /// `query_ingesters_within` in milliseconds (0 = always ask the ingesters).
    pub query_ingesters_within_ms: i64,
    /// `query_store_after` in milliseconds (0 = always ask the store).
    pub query_store_after_ms: i64,
    /// Whether the series and label APIs also read the store (`query_store_for_labels_enabled`).
    pub query_store_for_labels: bool,
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl Routing {
    /// The rules `config` sets.
    pub fn from_config(config: &QuerierConfig) -> Self {
        Self {
            query_ingesters_within_ms: millis(config.query_ingesters_within.0),
            query_store_after_ms: millis(config.query_store_after.0),
            query_store_for_labels: config.query_store_for_labels_enabled,
        }
    }

    /// Whether a select over `hints` asks the ingesters at `now_ms`.
    pub fn ask_ingesters(&self, hints: SelectHints, now_ms: i64) -> bool {
        self.query_ingesters_within_ms == 0
            || hints.end_ms >= now_ms.saturating_sub(self.query_ingesters_within_ms)
    }

    /// The part of `hints` the store is asked for at `now_ms`, or `None` when nothing is left.
    pub fn store_range(&self, hints: SelectHints, now_ms: i64) -> Option<SelectHints> {
        let end_ms = if self.query_store_after_ms == 0 {
            hints.end_ms
        } else {
            hints.end_ms.min(now_ms.saturating_sub(self.query_store_after_ms))
        };
        (end_ms >= hints.start_ms).then_some(SelectHints { start_ms: hints.start_ms, end_ms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000_000;
    const HOUR: i64 = 3_600_000;

    fn hints(start_ms: i64, end_ms: i64) -> SelectHints {
        SelectHints { start_ms, end_ms }
    }

    #[test]
    fn zero_means_always_ask_both() {
        let routing = Routing::default();
        let old = hints(0, 10);
        assert!(routing.ask_ingesters(old, NOW));
        assert_eq!(routing.store_range(old, NOW), Some(old));
        let recent = hints(NOW - 10, NOW + HOUR);
        assert!(routing.ask_ingesters(recent, NOW));
        assert_eq!(routing.store_range(recent, NOW), Some(recent));
    }

    #[test]
    fn ingesters_are_skipped_for_ranges_ending_before_the_window() {
        let routing = Routing { query_ingesters_within_ms: 13 * HOUR, ..Routing::default() };
        assert!(!routing.ask_ingesters(hints(0, NOW - 13 * HOUR - 1), NOW));
        assert!(routing.ask_ingesters(hints(0, NOW - 13 * HOUR), NOW));
        assert!(routing.ask_ingesters(hints(NOW - HOUR, NOW), NOW));
    }

    #[test]
    fn store_end_is_clamped_and_empty_ranges_skip_it() {
        let routing = Routing { query_store_after_ms: 12 * HOUR, ..Routing::default() };
        let cut = NOW - 12 * HOUR;
        assert_eq!(routing.store_range(hints(0, NOW), NOW), Some(hints(0, cut)));
        assert_eq!(routing.store_range(hints(0, cut - 5), NOW), Some(hints(0, cut - 5)));
        assert_eq!(routing.store_range(hints(cut, NOW), NOW), Some(hints(cut, cut)));
        assert_eq!(routing.store_range(hints(cut + 1, NOW), NOW), None);
    }

    #[test]
    fn durations_come_from_the_config() {
        let mut config = QuerierConfig::default();
        config.query_ingesters_within.0 = Duration::from_secs(13 * 3600);
        config.query_store_after.0 = Duration::from_secs(12 * 3600);
        config.query_store_for_labels_enabled = true;
        let routing = Routing::from_config(&config);
        assert_eq!(routing.query_ingesters_within_ms, 13 * HOUR);
        assert_eq!(routing.query_store_after_ms, 12 * HOUR);
        assert!(routing.query_store_for_labels);
    }
}
