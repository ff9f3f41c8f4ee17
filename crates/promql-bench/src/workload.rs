//! The benchmark's data: node-exporter-like CPU counters `x{job,instance,mode}` and a classic
//! histogram `h_bucket{job,instance,le}`, every value a pure function of (series, slot) so any
//! time slice can be generated on its own, in time order, without keeping state.

use neocortex_testkit::remote_write::{encode_write_request, snappy_compress, RawSeries};

/// CPU modes of `x`, one series each per instance.
const MODES: [&str; 9] = ["idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice", "guest"];
/// Upper bounds of the `h_bucket` histogram.
const BOUNDS: [&str; 10] = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"];
/// Instances per job that also export the histogram.
const HISTOGRAM_INSTANCES_PER_JOB: usize = 10;

/// The shape and time span of the data.
#[derive(Clone, Debug)]
pub(crate) struct Workload {
    /// Distinct `job` values.
    pub(crate) jobs: usize,
    /// Instances per job.
    pub(crate) instances_per_job: usize,
    /// Milliseconds between samples.
    pub(crate) interval_ms: i64,
    /// Samples per series.
    pub(crate) slots: i64,
    /// Timestamp of the first sample.
    pub(crate) start_ms: i64,
}

/// One series' labels and how its values grow.
struct SeriesShape {
    labels: Vec<(String, String)>,
    kind: SeriesKind,
}

enum SeriesKind {
    /// A counter growing by `per_slot` plus a bounded jitter (still monotonic).
    Counter { per_slot: u64, seed: u64 },
    /// A histogram bucket: `floor(slot × observations_per_slot × fraction)`.
    Bucket { observations_per_slot: f64, fraction: f64 },
}

impl Workload {
    /// The timestamp of the last sample.
    pub(crate) fn end_ms(&self) -> i64 {
        self.start_ms + (self.slots - 1) * self.interval_ms
    }

    /// How many `x` series there are.
    pub(crate) fn counter_series(&self) -> usize {
        self.jobs * self.instances_per_job * MODES.len()
    }

    /// How many `h_bucket` series there are.
    pub(crate) fn bucket_series(&self) -> usize {
        self.jobs * self.instances_per_job.min(HISTOGRAM_INSTANCES_PER_JOB) * BOUNDS.len()
    }

    /// Every series of the workload.
    pub(crate) fn series_count(&self) -> usize {
        self.counter_series() + self.bucket_series()
    }

    fn shapes(&self) -> Vec<SeriesShape> {
        let mut shapes = Vec::with_capacity(self.series_count());
        for job in 0..self.jobs {
            for instance in 0..self.instances_per_job {
                let instance_label = format!("host-{job}-{instance}:9100");
                for (mode_index, mode) in MODES.iter().enumerate() {
                    let seed = (shapes.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                    shapes.push(SeriesShape {
                        labels: labels(&[
                            ("__name__", "x"),
                            ("job", &format!("node-{job}")),
                            ("instance", &instance_label),
                            ("mode", mode),
                        ]),
                        kind: SeriesKind::Counter {
                            per_slot: 1 + ((mode_index as u64 * 7 + instance as u64) % 23),
                            seed,
                        },
                    });
                }
                if instance >= HISTOGRAM_INSTANCES_PER_JOB {
                    continue;
                }
                let observations_per_slot = 5.0 + (instance * 3 + job) as f64 % 17.0;
                for (bucket, bound) in BOUNDS.iter().enumerate() {
                    let fraction =
                        if bucket + 1 == BOUNDS.len() { 1.0 } else { (bucket as f64 + 1.0) / 11.0 };
                    shapes.push(SeriesShape {
                        labels: labels(&[
                            ("__name__", "h_bucket"),
                            ("job", &format!("node-{job}")),
                            ("instance", &instance_label),
                            ("le", bound),
                        ]),
                        kind: SeriesKind::Bucket { observations_per_slot, fraction },
                    });
                }
            }
        }
        shapes
    }

    /// Snappy-compressed remote-write bodies, each with `slots_per_request` slots of every series,
    /// in time order (what Prometheus's remote-write receiver needs). Calls `sink` with each body.
    pub(crate) fn for_each_body(
        &self,
        slots_per_request: i64,
        mut sink: impl FnMut(Vec<u8>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let shapes = self.shapes();
        let mut first = 0;
        while first < self.slots {
            let last = (first + slots_per_request).min(self.slots);
            let series: Vec<RawSeries> = shapes
                .iter()
                .map(|shape| RawSeries {
                    labels: shape
                        .labels
                        .iter()
                        .map(|(name, value)| (name.as_bytes().to_vec(), value.as_bytes().to_vec()))
                        .collect(),
                    samples: (first..last)
                        .map(|slot| (self.start_ms + slot * self.interval_ms, value(&shape.kind, slot)))
                        .collect(),
                })
                .collect();
            sink(snappy_compress(&encode_write_request(&series)))?;
            first = last;
        }
        Ok(())
    }
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect()
}

fn value(kind: &SeriesKind, slot: i64) -> f64 {
    let slot = slot as u64;
    match kind {
        SeriesKind::Counter { per_slot, seed } => {
            // slot × per_slot + jitter in [0, per_slot): consecutive differences stay positive.
            let jitter = mix(seed ^ slot) % per_slot;
            (slot * per_slot + jitter) as f64
        }
        SeriesKind::Bucket { observations_per_slot, fraction } => {
            (slot as f64 * observations_per_slot * fraction).floor()
        }
    }
}

/// A 64-bit finalizer (splitmix64) for deterministic jitter.
fn mix(mut value: u64) -> u64 {
    value = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    value ^ (value >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_buckets_are_monotonic() {
        let workload =
            Workload { jobs: 2, instances_per_job: 12, interval_ms: 15_000, slots: 50, start_ms: 0 };
        assert_eq!(workload.series_count(), 2 * 12 * 9 + 2 * 10 * 10);
        for shape in workload.shapes() {
            let values: Vec<f64> = (0..50).map(|slot| value(&shape.kind, slot)).collect();
            assert!(values.windows(2).all(|pair| pair[0] <= pair[1]), "{:?}", shape.labels);
        }
    }
}
