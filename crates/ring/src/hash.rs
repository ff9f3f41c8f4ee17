//! The series hash that places a series on the ring: FNV-1a 32 over the tenant id and every
//! label name and value (Cortex's shard-by-all-labels), so series of one metric spread evenly.

use neocortex_core::Labels;

const FNV32_OFFSET: u32 = 0x811c_9dc5;
const FNV32_PRIME: u32 = 0x0100_0193;

/// FNV-1a 32 state, fed byte slices in turn.
#[derive(Debug, Clone, Copy)]
pub struct Fnv32a(u32);

impl Default for Fnv32a {
    fn default() -> Self {
        Self(FNV32_OFFSET)
    }
}

impl Fnv32a {
    /// Mixes `bytes` into the hash.
    pub fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u32::from(*byte);
            self.0 = self.0.wrapping_mul(FNV32_PRIME);
        }
    }

    /// The hash so far.
    pub fn finish(self) -> u32 {
        self.0
    }
}

/// The ring token of a tenant's series.
pub fn series_token(tenant: &str, labels: &Labels) -> u32 {
    let mut hasher = Fnv32a::default();
    hasher.write(tenant.as_bytes());
    for label in labels {
        hasher.write(label.name.as_bytes());
        hasher.write(&[0xff]);
        hasher.write(label.value.as_bytes());
        hasher.write(&[0xff]);
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_known_values() {
        let mut empty = Fnv32a::default();
        empty.write(b"");
        assert_eq!(empty.finish(), 0x811c_9dc5);
        let mut a = Fnv32a::default();
        a.write(b"a");
        assert_eq!(a.finish(), 0xe40c_292c);
    }

    #[test]
    fn tenant_changes_the_token() {
        let labels = Labels::from_pairs([("__name__", "up")]);
        assert_ne!(series_token("a", &labels), series_token("b", &labels));
    }
}
