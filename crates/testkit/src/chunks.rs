//! Test samples encoded as Prometheus XOR chunks, for tests that write straight to the chunk
//! store instead of going through an ingester.

use neocortex_chunk::XorChunk;
use neocortex_core::Sample;

/// `samples` (in time order) encoded as consecutive chunks of at most `samples_per_chunk`
/// samples each, as an ingester cuts a series into chunks.
///
/// # Panics
/// When `samples_per_chunk` is 0 or the samples are out of time order (the test's own data is
/// wrong).
pub fn xor_chunks(samples: &[Sample], samples_per_chunk: usize) -> Vec<XorChunk> {
    samples
        .chunks(samples_per_chunk)
        .map(|part| {
            let mut chunk = XorChunk::new();
            for sample in part {
                chunk.append(sample.timestamp_ms, sample.value).expect("test samples are in time order");
            }
            chunk
        })
        .collect()
}

/// SplitMix64 of `(seed, i)`: deterministic noise that no compressor sees through, for test
/// data that must cost what real data costs (random scrape jitter, random values).
pub fn noise(seed: u64, i: u64) -> u64 {
    let mut z = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(i).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_into_chunks_of_the_given_size_and_keeps_every_sample() {
        let samples: Vec<Sample> =
            (0..250).map(|i| Sample { timestamp_ms: 1_000 * i, value: i as f64 * 0.5 }).collect();
        let chunks = xor_chunks(&samples, 120);
        let sizes: Vec<usize> = chunks.iter().map(XorChunk::num_samples).collect();
        assert_eq!(sizes, [120, 120, 10]);
        let decoded: Vec<(i64, f64)> = chunks.iter().flat_map(XorChunk::iter).collect();
        let expected: Vec<(i64, f64)> = samples.iter().map(|s| (s.timestamp_ms, s.value)).collect();
        assert_eq!(decoded, expected);
        assert!(xor_chunks(&[], 120).is_empty());
    }
}
