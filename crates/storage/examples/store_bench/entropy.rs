//! An estimate of the information in one series' samples: about the fewest bits any lossless
//! encoding of that series alone needs, which is the yardstick for the chunk object format.
//!
//! It models what the load generator does: timestamps are a fixed step plus independent scrape
//! jitter; values are multiples of one quantum (10^-k, times the gcd of the steps) that move by
//! independent steps — a counter's increase or a gauge's step, spread evenly over a range, with
//! some probability of not moving at all (idle counters, gauges held at a bound). The estimate
//! charges each sample what an ideal coder that knows this model would (the model's entropy),
//! with the model's few parameters fitted on the series itself (their own cost, a few bytes per
//! series, is left out).

use std::collections::HashMap;

use neocortex_core::Sample;

/// Bits per series that no per-series encoding can avoid, split like the object's columns.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Floor {
    /// The timestamps: the jitter around the scrape grid.
    pub(crate) timestamp_bits: f64,
    /// The values, given the timestamps.
    pub(crate) value_bits: f64,
}

/// Distinct steps up to which the empirical distribution is used as is; above it the steps are
/// taken as uniform over their observed range (a plug-in entropy of a wide distribution from
/// 2,880 draws would be biased low).
const SMALL_ALPHABET: usize = 64;

/// The estimate for one series' samples (in time order).
pub(crate) fn series_floor(samples: &[Sample]) -> Floor {
    if samples.len() < 2 {
        return Floor::default();
    }
    let times: Vec<i64> = samples.iter().map(|s| s.timestamp_ms).collect();
    let mut steps: Vec<i64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    steps.sort_unstable();
    let step = steps[steps.len() / 2];
    let offsets: Vec<i64> =
        times.iter().enumerate().skip(1).map(|(i, t)| t - times[0] - i as i64 * step).collect();
    let timestamp_bits = plug_in_entropy(&offsets) * offsets.len() as f64;
    // A value that is its own timestamp in seconds (node_time_seconds) adds nothing to it.
    let value_bits = if samples.iter().all(|s| s.value == s.timestamp_ms as f64 / 1000.0) {
        0.0
    } else {
        value_bits(samples)
    };
    Floor { timestamp_bits, value_bits }
}

fn value_bits(samples: &[Sample]) -> f64 {
    let Some(mantissas) = (0..=9).find_map(|decimals| mantissas(samples, decimals)) else {
        return 64.0 * samples.len() as f64; // not decimals: charge raw doubles
    };
    let deltas: Vec<i64> = mantissas.windows(2).map(|w| w[1] - w[0]).collect();
    let divisor = deltas.iter().fold(0i64, |g, d| gcd(g, d.abs())).max(1);
    let steps: Vec<i64> = deltas.iter().map(|d| d / divisor).collect();
    let distinct: HashMap<i64, usize> = histogram(&steps);
    if distinct.len() <= SMALL_ALPHABET {
        return plug_in_entropy(&steps) * steps.len() as f64;
    }
    let moving: Vec<i64> = steps.iter().copied().filter(|d| *d != 0).collect();
    let still = (steps.len() - moving.len()) as f64 / steps.len() as f64;
    let (low, high) = (moving.iter().min().copied().unwrap_or(0), moving.iter().max().copied().unwrap_or(0));
    let per_move = ((high - low + 1) as f64).log2();
    steps.len() as f64 * (binary_entropy(still) + (1.0 - still) * per_move)
}

fn mantissas(samples: &[Sample], decimals: i32) -> Option<Vec<i64>> {
    let scale = 10f64.powi(decimals);
    samples
        .iter()
        .map(|s| {
            let m = (s.value * scale).round();
            (m.abs() < 9.0e15 && (m / scale).to_bits() == s.value.to_bits()).then_some(m as i64)
        })
        .collect()
}

fn gcd(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn histogram(values: &[i64]) -> HashMap<i64, usize> {
    let mut counts = HashMap::new();
    for value in values {
        *counts.entry(*value).or_insert(0) += 1;
    }
    counts
}

/// Entropy in bits of the empirical distribution of `values`.
fn plug_in_entropy(values: &[i64]) -> f64 {
    let total = values.len() as f64;
    histogram(values)
        .values()
        .map(|count| {
            let p = *count as f64 / total;
            -p * p.log2()
        })
        .sum()
}

fn binary_entropy(p: f64) -> f64 {
    if p <= 0.0 || p >= 1.0 {
        return 0.0;
    }
    -(p * p.log2() + (1.0 - p) * (1.0 - p).log2())
}
