//! Fast seeded hashing for label sets and interned strings. The standard SipHash costs more than
//! the rest of an append on the hot path; this folded-multiply hash is a few cycles per word.
//! The seed is random per process so clients cannot aim for collisions.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

use neocortex_core::Labels;

const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;
const FINAL_MULTIPLIER: u64 = 0xff51_afd7_ed55_8ccd;

fn folded_multiply(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

fn process_seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| RandomState::new().hash_one(0x5eed_u64) | 1)
}

/// A streaming hasher over 8-byte words.
#[derive(Debug, Clone)]
pub(crate) struct FoldHasher {
    state: u64,
}

impl FoldHasher {
    fn new() -> Self {
        Self { state: process_seed() }
    }

    fn mix(&mut self, word: u64) {
        self.state = folded_multiply(self.state ^ word, MULTIPLIER);
    }

    /// Hashes a string together with its length, so that concatenations differ. The length
    /// goes into the first step's multiplier: short strings (most label names and values) cost
    /// one step.
    fn write_str_with_len(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let (first, rest) = bytes.split_at(bytes.len().min(8));
        self.state =
            folded_multiply(self.state ^ load_partial(first), MULTIPLIER.wrapping_add(bytes.len() as u64));
        if !rest.is_empty() {
            self.write(rest);
        }
    }
}

/// Up to 8 bytes as a little-endian word, zero-padded, without a `memcpy` call.
fn load_partial(bytes: &[u8]) -> u64 {
    debug_assert!(bytes.len() <= 8);
    if let Ok(word) = <[u8; 8]>::try_from(bytes) {
        return u64::from_le_bytes(word);
    }
    bytes.iter().enumerate().fold(0u64, |word, (index, &byte)| word | (u64::from(byte) << (8 * index)))
}

/// Byte-slice equality that, unlike `==`, does not call `memcmp` for short slices.
pub(crate) fn bytes_equal(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut a_words = a.chunks_exact(8);
    let mut b_words = b.chunks_exact(8);
    for (a_word, b_word) in (&mut a_words).zip(&mut b_words) {
        if load_partial(a_word) != load_partial(b_word) {
            return false;
        }
    }
    load_partial(a_words.remainder()) == load_partial(b_words.remainder())
}

impl Hasher for FoldHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.mix(load_partial(word));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            self.mix(load_partial(rest) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.mix(value);
    }

    fn finish(&self) -> u64 {
        folded_multiply(self.state, FINAL_MULTIPLIER)
    }
}

/// Builds `FoldHasher`s (for hash maps keyed by strings).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FoldState;

impl BuildHasher for FoldState {
    type Hasher = FoldHasher;
    fn build_hasher(&self) -> FoldHasher {
        FoldHasher::new()
    }
}

/// The hash of a label set, used to find its series.
pub(crate) fn hash_labels(labels: &Labels) -> u64 {
    let mut hasher = FoldHasher::new();
    for label in labels {
        hasher.write_str_with_len(&label.name);
        hasher.write_str_with_len(&label.value);
    }
    hasher.finish()
}

/// A hasher for keys that already are good hashes, or small integer ids.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PassThroughHasher {
    value: u64,
}

impl Hasher for PassThroughHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.value = self.value.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.value = value;
    }

    fn write_u32(&mut self, value: u32) {
        // Small ids (interned label names) need spreading over all bits.
        self.value = u64::from(value).wrapping_mul(MULTIPLIER);
    }

    fn finish(&self) -> u64 {
        self.value
    }
}

/// Builds `PassThroughHasher`s.
pub(crate) type PassThroughState = std::hash::BuildHasherDefault<PassThroughHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_boundaries_matter() {
        let a = Labels::from_pairs([("ab", "c")]);
        let b = Labels::from_pairs([("a", "bc")]);
        assert_ne!(hash_labels(&a), hash_labels(&b));
        assert_eq!(hash_labels(&a), hash_labels(&a.clone()));
    }

    #[test]
    fn bytes_equal_agrees_with_eq() {
        let samples =
            ["", "a", "ab", "abcdefgh", "abcdefghi", "abcdefghij", "abcdefgh1", "node_cpu_seconds_total"];
        for a in samples {
            for b in samples {
                assert_eq!(bytes_equal(a.as_bytes(), b.as_bytes()), a == b, "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn distinct_label_sets_rarely_collide() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..100_000 {
            let labels = Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string())]);
            assert!(seen.insert(hash_labels(&labels)));
        }
    }
}
