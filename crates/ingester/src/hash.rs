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

    /// Hashes a string together with its length, so that concatenations differ.
    fn write_str_with_len(&mut self, text: &str) {
        self.mix(text.len() as u64);
        self.write(text.as_bytes());
    }
}

impl Hasher for FoldHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut buf = [0u8; 8];
            buf.copy_from_slice(word);
            self.mix(u64::from_le_bytes(buf));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(buf) ^ ((rest.len() as u64) << 59));
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

/// A hasher for keys that already are good hashes (label-set hashes).
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
    fn distinct_label_sets_rarely_collide() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..100_000 {
            let labels = Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string())]);
            assert!(seen.insert(hash_labels(&labels)));
        }
    }
}
