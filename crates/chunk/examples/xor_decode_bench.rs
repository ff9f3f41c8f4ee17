//! XOR chunk decoding speed in nanoseconds per sample, on 120-sample chunks like the ones the
//! ingester cuts: scrapes every 15 s with 0–3 ms of jitter, values shaped like node-exporter
//! series (counters with two decimals that sometimes idle, whole-number counters, gauges that
//! random-walk with two decimals, full-precision gauges). Decodes with the iterator and with the
//! bulk `decode_into`; each figure is the median of several runs.
//!
//! `cargo run --release -p neocortex-chunk --example xor_decode_bench -- [chunks] [runs]`

use std::hint::black_box;
use std::time::Instant;

use neocortex_chunk::{XorChunk, XorIter};
use neocortex_core::Sample;

const SAMPLES_PER_CHUNK: i64 = 120;
const INTERVAL_MS: i64 = 15_000;
/// 2020-01-02T06:00:00Z.
const START_MS: i64 = 1_577_944_800_000;

/// A small deterministic generator (xorshift64*), so every run decodes the same chunks.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// One chunk of the given shape.
fn chunk(kind: usize, rng: &mut Rng) -> Vec<u8> {
    let mut chunk = XorChunk::new();
    let mut value = match kind {
        0 => round(rng.unit() * 1e6, 2),
        1 => (rng.unit() * 1e9).round(),
        _ => round(rng.unit() * 100.0, 2),
    };
    let mean_increase = rng.unit() * 20.0;
    for i in 0..SAMPLES_PER_CHUNK {
        let timestamp = START_MS + i * INTERVAL_MS + (rng.next() % 4) as i64;
        value = match kind {
            0 if rng.unit() < 0.1 => value,
            0 => round(value + mean_increase * (0.5 + rng.unit()), 2),
            1 => value + (mean_increase * 1_000.0 * (0.5 + rng.unit())).round(),
            2 => round((value + (rng.unit() - 0.5) * 4.0).clamp(0.0, 100.0), 2),
            _ => (value + rng.unit() - 0.5).abs() * 1.000_1,
        };
        chunk.append(timestamp, value).expect("chunk has room");
    }
    chunk.into_bytes()
}

/// Median nanoseconds per sample over `runs` runs of `decode_all`, which returns how many
/// samples it decoded.
fn median_ns_per_sample(runs: usize, mut decode_all: impl FnMut() -> usize) -> f64 {
    let mut figures: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            let decoded = decode_all();
            started.elapsed().as_nanos() as f64 / decoded as f64
        })
        .collect();
    figures.sort_by(f64::total_cmp);
    figures[figures.len() / 2]
}

#[inline(never)]
fn with_iterator(chunks: &[Vec<u8>], out: &mut Vec<Sample>) -> usize {
    let mut total = 0;
    for chunk in chunks {
        out.clear();
        let mut iter = XorIter::new(chunk);
        out.extend(iter.by_ref().map(|(timestamp_ms, value)| Sample { timestamp_ms, value }));
        assert!(iter.error().is_none());
        total += black_box(&out).len();
    }
    total
}

#[inline(never)]
fn with_decode_into(chunks: &[Vec<u8>], out: &mut Vec<Sample>) -> usize {
    let mut total = 0;
    for chunk in chunks {
        out.clear();
        XorIter::new(chunk).decode_into(out).expect("valid chunk");
        total += black_box(&out).len();
    }
    total
}

fn main() {
    let mut args = std::env::args().skip(1);
    let chunks: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(7).max(1);
    // Optionally only one shape (its index), e.g. to count instructions under callgrind.
    let only: Option<usize> = args.next().and_then(|a| a.parse().ok());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let kinds = ["counter .2f", "counter int", "gauge .2f", "gauge float"];
    println!("{chunks} chunks x {SAMPLES_PER_CHUNK} samples per shape, median of {runs} runs, ns/sample");
    println!("{:<12} {:>8} {:>10} {:>12}", "shape", "B/sample", "iterator", "decode_into");
    let mut out = Vec::with_capacity(SAMPLES_PER_CHUNK as usize);
    for (kind, name) in kinds.iter().enumerate() {
        let encoded: Vec<Vec<u8>> = (0..chunks).map(|_| chunk(kind, &mut rng)).collect();
        if only.is_some_and(|only| only != kind) {
            continue;
        }
        let bytes: usize = encoded.iter().map(Vec::len).sum();
        let per_sample = bytes as f64 / (chunks as f64 * SAMPLES_PER_CHUNK as f64);
        let iterator = median_ns_per_sample(runs, || with_iterator(&encoded, &mut out));
        let bulk = median_ns_per_sample(runs, || with_decode_into(&encoded, &mut out));
        println!("{name:<12} {per_sample:>8.2} {iterator:>10.2} {bulk:>12.2}");
    }
}
