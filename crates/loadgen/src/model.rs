//! How one series' value moves from one sample to the next: counters, gauges, constants and clocks.

use rand::rngs::StdRng;
use rand::Rng;

/// How many digits a generated value keeps, so values look like what exporters really expose.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Precision {
    /// Rounded to this many decimal places (e.g. 2 for CPU seconds, 0 for packet counts).
    Decimals(u32),
    /// Rounded to a multiple of this quantum (e.g. 4096 for memory measured in pages).
    Multiple(f64),
}

impl Precision {
    /// Rounds `value` to this precision.
    pub fn apply(self, value: f64) -> f64 {
        match self {
            Precision::Decimals(decimals) => {
                let scale = 10f64.powi(decimals as i32);
                (value * scale).round() / scale
            }
            Precision::Multiple(quantum) => (value / quantum).round() * quantum,
        }
    }
}

/// The shape of a series as declared in the per-instance template, before per-series jitter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueModel {
    /// A monotonic counter. Each interval it grows by a draw around `mean_increase` (scaled per
    /// series), except with probability `idle_probability` when it does not move at all.
    Counter { mean_increase: f64, idle_probability: f64, precision: Precision },
    /// A random walk clamped to `[min, max]` whose steps are at most `max_step`.
    Gauge { min: f64, max: f64, max_step: f64, precision: Precision },
    /// A value fixed for the whole run, picked per series among a few sizes (memory, disk size).
    Capacity { base: f64 },
    /// A value fixed for every series, e.g. a boot time or a success flag.
    Constant(f64),
    /// The sample's own timestamp in seconds, like `node_time_seconds`.
    Clock,
}

/// A series' value model after per-series jitter, plus the state needed to produce the next value.
#[derive(Clone, Debug)]
pub(crate) struct ValueWalker {
    model: ValueModel,
    current: f64,
    scale: f64,
}

impl ValueWalker {
    /// Draws this series' own parameters (scale, start value) from its private random stream.
    pub(crate) fn new(model: ValueModel, rng: &mut StdRng) -> ValueWalker {
        match model {
            ValueModel::Counter { mean_increase, precision, .. } => {
                let scale = rng.random_range(0.2..3.0);
                let uptime_intervals = rng.random_range(1_000.0..200_000.0);
                let current = precision.apply(mean_increase * scale * uptime_intervals);
                ValueWalker { model, current, scale }
            }
            ValueModel::Gauge { min, max, precision, .. } => {
                let current = precision.apply(rng.random_range(min..=max));
                ValueWalker { model, current, scale: 1.0 }
            }
            ValueModel::Capacity { base } => {
                let factor = [0.5, 1.0, 2.0, 4.0][rng.random_range(0..4)];
                ValueWalker { model, current: base * factor, scale: factor }
            }
            ValueModel::Constant(value) => ValueWalker { model, current: value, scale: 1.0 },
            ValueModel::Clock => ValueWalker { model, current: 0.0, scale: 1.0 },
        }
    }

    /// The value at the next sample, taken at `timestamp_ms`.
    pub(crate) fn next_value(&mut self, rng: &mut StdRng, timestamp_ms: i64) -> f64 {
        match self.model {
            ValueModel::Counter { mean_increase, idle_probability, precision } => {
                if rng.random::<f64>() >= idle_probability {
                    let increase = mean_increase * self.scale * rng.random_range(0.5..1.5);
                    self.current = precision.apply(self.current + increase);
                }
                self.current
            }
            ValueModel::Gauge { min, max, max_step, precision } => {
                let step = rng.random_range(-max_step..=max_step);
                self.current = precision.apply((self.current + step).clamp(min, max));
                self.current
            }
            ValueModel::Capacity { .. } | ValueModel::Constant(_) => self.current,
            ValueModel::Clock => timestamp_ms as f64 / 1000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn counters_never_decrease_and_keep_their_precision() {
        let mut rng = StdRng::seed_from_u64(7);
        let model = ValueModel::Counter {
            mean_increase: 0.37,
            idle_probability: 0.1,
            precision: Precision::Decimals(2),
        };
        let mut walker = ValueWalker::new(model, &mut rng);
        let mut previous = f64::MIN;
        for step in 0..1_000 {
            let value = walker.next_value(&mut rng, step * 15_000);
            assert!(value >= previous, "counter went from {previous} to {value}");
            assert_eq!(Precision::Decimals(2).apply(value), value);
            previous = value;
        }
    }

    #[test]
    fn gauges_stay_within_bounds() {
        let mut rng = StdRng::seed_from_u64(9);
        let model =
            ValueModel::Gauge { min: 0.0, max: 4.0, max_step: 0.5, precision: Precision::Decimals(2) };
        let mut walker = ValueWalker::new(model, &mut rng);
        let values: Vec<f64> = (0..1_000).map(|step| walker.next_value(&mut rng, step)).collect();
        assert!(values.iter().all(|value| (0.0..=4.0).contains(value)));
        assert!(values.windows(2).any(|pair| pair[0] != pair[1]), "a gauge must move");
    }

    #[test]
    fn multiples_round_to_the_quantum() {
        assert_eq!(Precision::Multiple(4096.0).apply(10_000.0), 8192.0);
        assert_eq!(Precision::Decimals(1).apply(0.26), 0.3);
    }
}
