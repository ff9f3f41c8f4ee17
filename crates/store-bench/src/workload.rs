//! The workload, from `neocortex-loadgen`: node-exporter-like series (seed 42), 12 h at
//! 15 s, encoded into remote-write bodies before anything is timed, plus what each benchmark
//! query must answer (series and samples), computed from the generator itself.

use neocortex_loadgen::encode::{encode_workload, BatchingSpec, EncodedWorkload};
use neocortex_loadgen::workload::{Workload, WorkloadSpec};

/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;
/// How far before "now" the data ends at the latest.
const END_BEFORE_NOW_MS: i64 = 10 * 60_000;

/// The generated data and its time span.
pub(crate) struct BenchWorkload {
    /// The generator.
    pub(crate) workload: Workload,
    /// Bodies per connection, in sending order.
    pub(crate) encoded: EncodedWorkload,
    /// Earliest possible sample timestamp (the first scrape round).
    pub(crate) start_ms: i64,
    /// Later than every sample timestamp (the end of the last scrape interval).
    pub(crate) end_ms: i64,
}

/// A start time that puts `samples` samples at `interval_ms` in the past, ending at least ten
/// minutes before `now_ms`, and inside one UTC day when that day has room (as the library-level
/// benchmark's data does: one daily index bucket per series). The day before is used when today
/// has not yet had enough time.
pub(crate) fn start_ms(now_ms: i64, samples: usize, interval_ms: i64) -> i64 {
    let span_ms = samples as i64 * interval_ms;
    let latest_end = now_ms - END_BEFORE_NOW_MS;
    let today = latest_end.div_euclid(DAY_MS) * DAY_MS;
    if span_ms >= DAY_MS {
        return latest_end - span_ms;
    }
    if latest_end - span_ms >= today {
        latest_end - span_ms
    } else {
        // Ends one minute before midnight, inside yesterday.
        today - 60_000 - span_ms
    }
}

impl BenchWorkload {
    /// Generates and encodes `series` series of `samples` samples each.
    pub(crate) fn generate(series: usize, samples: usize, interval_ms: i64, now_ms: i64) -> BenchWorkload {
        let start_ms = start_ms(now_ms, samples, interval_ms);
        let workload = Workload::new(WorkloadSpec {
            series,
            samples_per_series: samples,
            interval_ms,
            start_ms,
            seed: 42,
        });
        // 40 samples (10 min) of 500 series per request, on two connections.
        let batching = BatchingSpec { series_per_request: 500, samples_per_request: 40, connections: 2 };
        let encoded = encode_workload(&workload, &batching);
        BenchWorkload { workload, encoded, start_ms, end_ms: start_ms + samples as i64 * interval_ms }
    }

    /// Every sample of the workload.
    pub(crate) fn total_samples(&self) -> u64 {
        self.encoded.total_samples
    }

    /// Series whose metric name is `name` and, when given, whose `label` has `value`.
    pub(crate) fn matching_series(&self, name: &str, label: Option<(&str, &str)>) -> usize {
        (0..self.workload.spec().series)
            .filter(|&index| {
                let labels = self.workload.series_labels(index);
                let has = |key: &str, wanted: &str| labels.iter().any(|(k, v)| k == key && v == wanted);
                has("__name__", name) && label.is_none_or(|(key, value)| has(key, value))
            })
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twelve_hours_stay_inside_one_day_and_in_the_past() {
        let span = 2_880 * 15_000;
        for now in [1_700_000_000_000_i64, 1_700_000_000_000 / DAY_MS * DAY_MS + 3_600_000] {
            let start = start_ms(now, 2_880, 15_000);
            let end = start + span;
            assert!(end <= now - END_BEFORE_NOW_MS, "{now}: ends at {end}");
            assert_eq!(start.div_euclid(DAY_MS), (end - 1).div_euclid(DAY_MS), "{now}: crosses midnight");
        }
        // Longer than a day: just ends before now.
        let start = start_ms(1_700_000_000_000, 10_000, 15_000);
        assert_eq!(start + 10_000 * 15_000, 1_700_000_000_000 - END_BEFORE_NOW_MS);
    }

    #[test]
    fn expected_answers_come_from_the_generator() {
        let bench = BenchWorkload::generate(700, 3, 15_000, 1_700_000_000_000);
        assert_eq!(bench.total_samples(), 2_100);
        let cpu = bench.matching_series("node_cpu_seconds_total", None);
        let idle = bench.matching_series("node_cpu_seconds_total", Some(("mode", "idle")));
        assert!(cpu > idle && idle > 0, "{cpu} {idle}");
        assert_eq!(bench.matching_series("no_such_metric", None), 0);
    }
}
