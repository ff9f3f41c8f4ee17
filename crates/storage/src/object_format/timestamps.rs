//! The timestamp column: the first timestamp, a step, and one small integer per later sample.
//!
//! Scrapes arrive every interval give or take a few milliseconds of jitter. Two ways of turning
//! that into small integers are tried and the smaller kept:
//!
//! - **grid**: each timestamp's offset from the previous sample's grid point plus the step; the
//!   grid point advances by the step while offsets stay within half a step (jitter does not
//!   accumulate) and jumps to the timestamp itself after a gap. Independent jitter of ±j ms
//!   costs the entropy of j alone.
//! - **delta**: each timestamp's distance from its predecessor minus the step, for intervals that
//!   drift away from any grid.

use neocortex_core::Sample;

use crate::object_format::ints::{compressed_len, put_column, put_varint, read_column_with, Reader};

const MODE_GRID: u8 = 0;
const MODE_DELTA: u8 = 1;

/// Appends the column for `timestamps` (at least one).
pub(crate) fn put(out: &mut Vec<u8>, timestamps: &[i64]) {
    let Some(&first) = timestamps.first() else { return };
    put_varint(out, first);
    if timestamps.len() == 1 {
        return;
    }
    let step = typical_step(timestamps);
    put_varint(out, step);
    let mut best: Option<Vec<u8>> = None;
    for mode in [MODE_GRID, MODE_DELTA] {
        let residuals = residuals(timestamps, step, mode);
        let mut candidate = vec![mode];
        put_column(&mut candidate, &residuals);
        if best.as_ref().is_none_or(|b| compressed_len(&candidate) < compressed_len(b)) {
            best = Some(candidate);
        }
    }
    out.extend_from_slice(&best.unwrap_or_default());
}

/// The median distance between neighbours.
fn typical_step(timestamps: &[i64]) -> i64 {
    let mut deltas: Vec<i64> = timestamps.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    let middle = deltas.len() / 2;
    *deltas.select_nth_unstable(middle).1
}

fn within_half_step(residual: i64, step: i64) -> bool {
    residual.unsigned_abs() <= step.unsigned_abs() / 2
}

fn residuals(timestamps: &[i64], step: i64, mode: u8) -> Vec<i64> {
    let mut grid = timestamps[0];
    let mut previous = timestamps[0];
    timestamps[1..]
        .iter()
        .map(|&t| {
            if mode == MODE_DELTA {
                let residual = t.wrapping_sub(previous).wrapping_sub(step);
                previous = t;
                return residual;
            }
            let predicted = grid.wrapping_add(step);
            let residual = t.wrapping_sub(predicted);
            grid = if within_half_step(residual, step) { predicted } else { t };
            residual
        })
        .collect()
}

/// Reads `len` timestamps written by [`put`], appending one sample per timestamp to `out`
/// with a zero value for [`super::values::read_into`] to fill in. On `None` some samples may
/// have been appended.
pub(crate) fn read_into(reader: &mut Reader<'_>, len: usize, out: &mut Vec<Sample>) -> Option<()> {
    if len == 0 {
        return Some(());
    }
    let first = reader.varint()?;
    let sample = |timestamp_ms| Sample { timestamp_ms, value: 0.0 };
    if len == 1 {
        out.push(sample(first));
        return Some(());
    }
    let step = reader.varint()?;
    let mode = reader.u8()?;
    if mode != MODE_GRID && mode != MODE_DELTA {
        return None;
    }
    // The column refuses lengths its bytes cannot hold before anything is pushed.
    if len - 1 > reader.remaining().saturating_mul(1 << 10) {
        return None;
    }
    let base = out.len();
    out.resize(base + len, sample(first));
    // Written through an iterator so the decoding state stays in registers.
    let mut slots = out[base + 1..].iter_mut();
    let decoded = if mode == MODE_DELTA {
        let mut previous = first;
        read_column_with(reader, len - 1, |residual| {
            previous = previous.wrapping_add(step).wrapping_add(residual);
            if let Some(slot) = slots.next() {
                slot.timestamp_ms = previous;
            }
        })
    } else {
        let mut grid = first;
        let half_step = step.unsigned_abs() / 2;
        read_column_with(reader, len - 1, |residual| {
            let predicted = grid.wrapping_add(step);
            let t = predicted.wrapping_add(residual);
            grid = if residual.unsigned_abs() <= half_step { predicted } else { t };
            if let Some(slot) = slots.next() {
                slot.timestamp_ms = t;
            }
        })
    };
    if decoded.is_none() {
        out.truncate(base);
    }
    decoded
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(timestamps: &[i64]) -> Vec<u8> {
        let mut out = Vec::new();
        put(&mut out, timestamps);
        let mut reader = Reader::new(&out);
        let mut samples = Vec::new();
        assert_eq!(read_into(&mut reader, timestamps.len(), &mut samples), Some(()));
        let decoded: Vec<i64> = samples.iter().map(|s| s.timestamp_ms).collect();
        assert_eq!(decoded, timestamps);
        assert_eq!(reader.remaining(), 0);
        out
    }

    #[test]
    fn jittered_scrapes_cost_about_the_jitter() {
        // 2,880 scrapes at 15 s with 0–3 ms of jitter and one missed scrape.
        let timestamps: Vec<i64> = (0..2_880i64)
            .filter(|i| *i != 1_000)
            .map(|i| 1_577_944_800_123 + i * 15_000 + (i * 7 + i / 3) % 4)
            .collect();
        let out = round_trip(&timestamps);
        let compressed = zstd::bulk::compress(&out, 3).unwrap();
        assert!(compressed.len() < 2_880 * 3 / 8, "{} bytes", compressed.len());
    }

    #[test]
    fn exact_intervals_cost_nothing_per_sample() {
        let timestamps: Vec<i64> = (0..2_880i64).map(|i| 1_000 + i * 15_000).collect();
        assert!(round_trip(&timestamps).len() < 20);
    }

    proptest! {
        #[test]
        fn any_timestamps_round_trip(timestamps in proptest::collection::vec(any::<i64>(), 1..300)) {
            round_trip(&timestamps);
        }

        #[test]
        fn jittered_timestamps_round_trip(start in any::<i64>(), steps in proptest::collection::vec(-20i64..60_000, 1..500)) {
            let mut t = start;
            let timestamps: Vec<i64> = steps.iter().map(|s| { t = t.wrapping_add(*s); t }).collect();
            round_trip(&timestamps);
        }
    }
}
