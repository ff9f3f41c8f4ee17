//! Times decoding chunk objects (format v2, inline columns) back into samples: nanoseconds per
//! sample for the value and timestamp shapes the PromQL benchmark and real exporters produce.
//!
//! Usage: `cargo run --release -p neocortex-storage --example object_decode_bench [series] [samples]`

use std::time::Instant;

use neocortex_core::{Labels, Sample};
use neocortex_storage::object_format::{self, BodyEncoding, OpenedObject};
use neocortex_testkit::chunks::noise;

fn objects(series: usize, len: usize, shape: &str) -> Vec<OpenedObject> {
    (0..series)
        .map(|s| {
            let labels = Labels::from_pairs([("__name__", "x"), ("series", &s.to_string())]);
            let mut value = 0.0;
            let samples: Vec<Sample> = (0..len)
                .map(|i| {
                    let noise = noise(s as u64, i as u64);
                    let timestamp_ms = match shape {
                        "jittered" => i as i64 * 15_000 + (noise % 50) as i64,
                        _ => i as i64 * 15_000,
                    };
                    value += match shape {
                        "decimal" => (noise % 1000) as f64 / 100.0,
                        _ => (100 + noise % 100) as f64,
                    };
                    if shape == "decimal" {
                        value = (value * 100.0).round() / 100.0;
                    }
                    Sample { timestamp_ms, value }
                })
                .collect();
            object_format::open(&object_format::encode(&labels, &samples, BodyEncoding::Zstd))
                .expect("own object")
        })
        .collect()
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let series = args.first().copied().unwrap_or(2000);
    let len = args.get(1).copied().unwrap_or(5761);
    for shape in ["integer", "decimal", "jittered"] {
        let objects = objects(series, len, shape);
        let mut out = Vec::with_capacity(len);
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let started = Instant::now();
            for object in &objects {
                out.clear();
                object.decode_samples_into(&mut out).expect("decodes");
            }
            best = best.min(started.elapsed().as_secs_f64());
        }
        println!(
            "{shape:>9}: {:.2} ns/sample (best of 5, {series} objects x {len} samples)",
            best * 1e9 / (series * len) as f64
        );
    }
}
