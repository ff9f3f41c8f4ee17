//! Where the chunk objects' bytes go: each encoding of the same samples side by side, then per
//! metric family the object's sections (labels, timestamps, values) beside the information the
//! samples carry (see `entropy`), all in bytes per sample.

use std::collections::BTreeMap;
use std::time::Instant;

use neocortex_chunk::XorChunk;
use neocortex_storage::object_format::{self, BodyEncoding};

use crate::entropy::series_floor;
use crate::{ingester_chunks, BenchSeries};

#[derive(Default)]
struct Family {
    series: usize,
    samples: usize,
    object: usize,
    labels: usize,
    timestamps: usize,
    values: usize,
    floor_timestamp_bits: f64,
    floor_value_bits: f64,
}

impl Family {
    fn add(&mut self, other: &Family) {
        self.series += other.series;
        self.samples += other.samples;
        self.object += other.object;
        self.labels += other.labels;
        self.timestamps += other.timestamps;
        self.values += other.values;
        self.floor_timestamp_bits += other.floor_timestamp_bits;
        self.floor_value_bits += other.floor_value_bits;
    }

    fn row(&self, name: &str, all_bytes: usize) {
        let per = |bytes: usize| bytes as f64 / self.samples as f64;
        let (floor_t, floor_v) = (
            self.floor_timestamp_bits / 8.0 / self.samples as f64,
            self.floor_value_bits / 8.0 / self.samples as f64,
        );
        println!(
            "| {name} | {} | {:.1}% | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            self.series,
            self.object as f64 * 100.0 / all_bytes as f64,
            per(self.object),
            per(self.labels),
            per(self.timestamps),
            per(self.values),
            floor_t,
            floor_v,
            floor_t
                + floor_v
                + per(self.labels)
                + per(self.object - self.labels - self.timestamps - self.values),
        );
    }
}

/// Prints the comparison of encodings and the per-family profile (the 20 largest families).
pub(crate) fn print_profile(series: &[BenchSeries], total_samples: f64) {
    let started = Instant::now();
    let (mut xor120, mut xor_whole, mut v1) = (0usize, 0usize, 0usize);
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for one in series {
        xor120 += ingester_chunks(one).chunks.iter().map(|c| c.bytes().len()).sum::<usize>();
        let mut whole = XorChunk::new();
        for s in &one.samples {
            whole.append(s.timestamp_ms, s.value).expect("append");
        }
        xor_whole += whole.bytes().len();
        v1 += object_format::encode_xor_v1(&one.labels, whole.bytes(), BodyEncoding::Zstd).len();
        let sizes = object_format::section_sizes(&one.labels, &one.samples);
        let floor = series_floor(&one.samples);
        let family = Family {
            series: 1,
            samples: one.samples.len(),
            object: sizes.object,
            labels: sizes.labels,
            timestamps: sizes.timestamps,
            values: sizes.values,
            floor_timestamp_bits: floor.timestamp_bits,
            floor_value_bits: floor.value_bits,
        };
        families.entry(one.labels.metric_name().unwrap_or("").to_string()).or_default().add(&family);
    }
    let mut total = Family::default();
    families.values().for_each(|family| total.add(family));
    let per = |bytes: usize| bytes as f64 / total_samples;
    println!(
        "encodings (bytes/sample): Prometheus XOR, 120-sample chunks {:.3}; one XOR chunk per series {:.3}; \
         v1 object (labels + XOR, zstd) {:.3}; v2 object {:.3} (profiled in {:.1}s)",
        per(xor120),
        per(xor_whole),
        per(v1),
        per(total.object),
        started.elapsed().as_secs_f64()
    );
    println!("\nv2 objects by metric family, bytes per sample (floor = timestamp + value information, plus labels and header as written):\n");
    println!("| family | series | share of bytes | object | labels | timestamps | values | info: timestamps | info: values | floor |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut ranked: Vec<(String, Family)> = families.into_iter().collect();
    ranked.sort_by_key(|(_, family)| std::cmp::Reverse(family.object));
    for (name, family) in ranked.iter().take(20) {
        family.row(&format!("`{name}`"), total.object);
    }
    let mut rest = Family::default();
    ranked.iter().skip(20).for_each(|(_, family)| rest.add(family));
    if rest.series > 0 {
        rest.row(&format!("{} other families", ranked.len() - 20), total.object);
    }
    total.row("**all**", total.object);
    println!();
}
