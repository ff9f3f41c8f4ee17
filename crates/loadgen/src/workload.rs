//! The deterministic workload: which series exist, their labels, and each sample's timestamp and value.
//!
//! Everything is derived from `(seed, series index, sample index)`, so two runs with the same
//! spec produce identical series, timestamps and values, and any series can be generated on its own.

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::model::ValueWalker;
use crate::template::{node_exporter_template, TemplateSeries};

const REGIONS: [&str; 3] = ["eu-west-1", "us-east-1", "ap-south-1"];

/// Timestamps of one instance's scrape wander by up to this many milliseconds, as real scrapes do.
const SCRAPE_JITTER_MS: u64 = 3;

/// What to generate: how many series and samples, at which interval, from when, with which seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadSpec {
    /// Number of distinct series.
    pub series: usize,
    /// Samples per series.
    pub samples_per_series: usize,
    /// Scrape interval in milliseconds.
    pub interval_ms: i64,
    /// Timestamp (ms) of the first scrape round; each instance adds its own offset below one interval.
    pub start_ms: i64,
    /// Seed of every random draw.
    pub seed: u64,
}

impl WorkloadSpec {
    /// The start time that makes the last sample land just before `now_ms`, so a receiver does
    /// not reject the workload as too old or as coming from the future.
    pub fn start_for_end_at(now_ms: i64, samples_per_series: usize, interval_ms: i64) -> i64 {
        let rounds = i64::try_from(samples_per_series).unwrap_or(i64::MAX);
        now_ms.saturating_sub(rounds.saturating_mul(interval_ms)).saturating_sub(SCRAPE_JITTER_MS as i64 + 1)
    }
}

/// A generated workload. Labels and values are computed on demand from the spec.
#[derive(Clone, Debug)]
pub struct Workload {
    spec: WorkloadSpec,
    template: Vec<TemplateSeries>,
}

/// A label pair of a generated series.
pub type LabelPair = (String, String);

impl Workload {
    /// Prepares a workload for `spec` with the node-exporter template.
    pub fn new(spec: WorkloadSpec) -> Workload {
        Workload { spec, template: node_exporter_template() }
    }

    /// The spec this workload was built from.
    pub fn spec(&self) -> &WorkloadSpec {
        &self.spec
    }

    /// How many series one instance exposes; series `i` belongs to instance `i / series_per_instance()`.
    pub fn series_per_instance(&self) -> usize {
        self.template.len()
    }

    /// The labels of series `index`, sorted by name like Prometheus sends them.
    pub fn series_labels(&self, index: usize) -> Vec<LabelPair> {
        let instance = index / self.template.len();
        let entry = &self.template[index % self.template.len()];
        let region = REGIONS[instance % REGIONS.len()];
        let environment = if instance.is_multiple_of(5) { "staging" } else { "production" };
        let mut labels: Vec<LabelPair> = vec![
            ("__name__".to_owned(), entry.name.clone()),
            ("cluster".to_owned(), format!("{region}-k8s-{}", instance % 4)),
            ("env".to_owned(), environment.to_owned()),
            ("instance".to_owned(), format!("node-{instance:05}.{region}.internal:9100")),
            ("job".to_owned(), "node".to_owned()),
            ("region".to_owned(), region.to_owned()),
        ];
        labels.extend(entry.labels.iter().map(|(name, value)| ((*name).to_owned(), value.clone())));
        labels.sort();
        labels
    }

    /// The timestamp (ms) of sample `sample` of series `index`: the instance's scrape time.
    pub fn timestamp_ms(&self, index: usize, sample: usize) -> i64 {
        let instance = (index / self.template.len()) as u64;
        let interval = self.spec.interval_ms.max(1) as u64;
        let offset = mix(self.spec.seed ^ mix(instance)) % interval;
        let jitter = mix(self.spec.seed ^ mix(instance) ^ mix(sample as u64 + 1)) % (SCRAPE_JITTER_MS + 1);
        let nominal = self.spec.start_ms + sample as i64 * self.spec.interval_ms;
        nominal + (offset + jitter).min(interval - 1) as i64
    }

    /// All values of series `index`, one per sample, in time order.
    pub fn series_values(&self, index: usize) -> Vec<f64> {
        let entry = &self.template[index % self.template.len()];
        let mut rng = StdRng::seed_from_u64(mix(self.spec.seed ^ mix(index as u64 + 0x5eed)));
        let mut walker = ValueWalker::new(entry.model, &mut rng);
        (0..self.spec.samples_per_series)
            .map(|sample| walker.next_value(&mut rng, self.timestamp_ms(index, sample)))
            .collect()
    }
}

/// SplitMix64 finaliser: spreads nearby integers (series and sample indices) over the whole range.
fn mix(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn spec(series: usize) -> WorkloadSpec {
        WorkloadSpec {
            series,
            samples_per_series: 20,
            interval_ms: 15_000,
            start_ms: 1_700_000_000_000,
            seed: 1,
        }
    }

    #[test]
    fn series_labels_are_unique_sorted_and_about_eight() {
        let workload = Workload::new(spec(5_000));
        let mut seen = HashSet::new();
        let mut total_labels = 0;
        for index in 0..5_000 {
            let labels = workload.series_labels(index);
            assert!(labels.windows(2).all(|pair| pair[0].0 < pair[1].0), "labels must be sorted: {labels:?}");
            total_labels += labels.len();
            assert!(seen.insert(labels));
        }
        let average = total_labels as f64 / 5_000.0;
        assert!((6.0..=9.0).contains(&average), "average label count {average}");
    }

    #[test]
    fn timestamps_increase_by_about_one_interval() {
        let workload = Workload::new(spec(1_000));
        for index in [0, 411, 999] {
            for sample in 1..20 {
                let step = workload.timestamp_ms(index, sample) - workload.timestamp_ms(index, sample - 1);
                assert!((15_000 - 3..=15_000 + 3).contains(&step), "step {step}");
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_values_and_another_seed_does_not() {
        let first = Workload::new(spec(100));
        let second = Workload::new(spec(100));
        let other = Workload::new(WorkloadSpec { seed: 2, ..spec(100) });
        let values =
            |workload: &Workload| (0..100).flat_map(|i| workload.series_values(i)).collect::<Vec<_>>();
        assert_eq!(values(&first), values(&second));
        assert_ne!(values(&first), values(&other));
    }

    #[test]
    fn the_default_start_ends_before_now() {
        let now = 1_800_000_000_000;
        let start = WorkloadSpec::start_for_end_at(now, 120, 15_000);
        let workload =
            Workload::new(WorkloadSpec { start_ms: start, samples_per_series: 120, ..spec(1_000) });
        for index in 0..1_000 {
            let last = workload.timestamp_ms(index, 119);
            assert!(last < now && last > now - 30_000, "last sample at {last}, now {now}");
        }
    }
}
