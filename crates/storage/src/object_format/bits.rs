//! Bit-level writing and reading, least significant bit first, for packed integer blocks and
//! Gorilla-style XOR values.

/// Appends bits to a byte vector; [`BitWriter::finish`] flushes the last partial byte.
pub(crate) struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u128,
    used: u32,
}

impl<'a> BitWriter<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        Self { out, acc: 0, used: 0 }
    }

    /// Writes the low `width` bits of `value` (`width` at most 64).
    pub(crate) fn write(&mut self, value: u64, width: u8) {
        if width == 0 {
            return;
        }
        let masked = if width >= 64 { value } else { value & ((1u64 << width) - 1) };
        self.acc |= u128::from(masked) << self.used;
        self.used += u32::from(width);
        while self.used >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.used -= 8;
        }
    }

    /// Writes one bit.
    pub(crate) fn bit(&mut self, set: bool) {
        self.write(u64::from(set), 1);
    }

    /// Pads the last byte with zero bits.
    pub(crate) fn finish(mut self) {
        if self.used > 0 {
            self.out.push(self.acc as u8);
            self.acc = 0;
            self.used = 0;
        }
    }
}

/// Reads bits written by [`BitWriter`]; `None` once the input runs out.
///
/// The next bits sit at the low end of a 64-bit register refilled a whole little-endian word at
/// a time, so a read is a mask and a shift. Register bits above `available` are the stream's own
/// next bits or zeros past its end: a peek may look at them, only `available` may be consumed.
pub(crate) struct BitReader<'a> {
    bytes: &'a [u8],
    /// First byte not loaded into the register yet.
    pos: usize,
    acc: u64,
    /// How many low bits of `acc` are data (0..=64).
    available: u32,
}

/// Longest read the register serves in one go; longer ones are split in two.
const MAX_DIRECT_READ: u32 = 56;

impl<'a> BitReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0, acc: 0, available: 0 }
    }

    /// Tops the register up to at least 56 bits, or to the end of the input.
    #[inline]
    pub(crate) fn refill(&mut self) {
        if self.available >= MAX_DIRECT_READ {
            return;
        }
        match self.bytes.get(self.pos..).and_then(<[u8]>::first_chunk::<8>) {
            Some(word) => {
                self.acc |= u64::from_le_bytes(*word) << self.available;
                let loaded = (63 - self.available) / 8;
                self.pos += loaded as usize;
                self.available += loaded * 8;
            }
            None => self.refill_tail(),
        }
    }

    #[cold]
    fn refill_tail(&mut self) {
        while self.available <= 56 {
            let Some(&byte) = self.bytes.get(self.pos) else { break };
            self.acc |= u64::from(byte) << self.available;
            self.pos += 1;
            self.available += 8;
        }
    }

    /// The register (next bit least significant) and how many of its bits are data; call
    /// [`BitReader::refill`] first to see as many as there are.
    #[inline]
    pub(crate) fn peek(&self) -> (u64, u32) {
        (self.acc, self.available)
    }

    /// Drops `count` bits a [`BitReader::peek`] showed to be data.
    #[inline]
    pub(crate) fn consume(&mut self, count: u32) {
        debug_assert!(count <= self.available);
        self.acc = self.acc.checked_shr(count).unwrap_or(0);
        self.available -= count;
    }

    /// Reads `width` bits (at most 64).
    #[inline]
    pub(crate) fn read(&mut self, width: u8) -> Option<u64> {
        let width = u32::from(width.min(64));
        if width > MAX_DIRECT_READ {
            let low = self.read(32)?;
            let high = self.read((width - 32) as u8)?;
            return Some(low | (high << 32));
        }
        if self.available < width {
            self.refill();
            if self.available < width {
                return None;
            }
        }
        let value = self.acc & ((1u64 << width) - 1);
        self.consume(width);
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn bits_round_trip(fields in proptest::collection::vec((any::<u64>(), 0u8..=64), 0..100)) {
            let mut out = Vec::new();
            let mut writer = BitWriter::new(&mut out);
            for (value, width) in &fields {
                writer.write(*value, *width);
            }
            writer.finish();
            let total: usize = fields.iter().map(|(_, w)| usize::from(*w)).sum();
            prop_assert_eq!(out.len(), total.div_ceil(8));
            let mut reader = BitReader::new(&out);
            for (value, width) in &fields {
                let mask = if *width == 64 { u64::MAX } else { (1u64 << width) - 1 };
                prop_assert_eq!(reader.read(*width), Some(value & mask));
            }
        }

        #[test]
        fn register_reader_matches_bit_by_bit_reads(
            bytes in proptest::collection::vec(any::<u8>(), 0..40),
            widths in proptest::collection::vec(0u8..=64, 0..80),
        ) {
            let mut reader = BitReader::new(&bytes);
            let mut position = 0usize;
            for width in widths {
                let expected = (position + usize::from(width) <= bytes.len() * 8).then(|| {
                    (0..usize::from(width)).fold(0u64, |value, i| {
                        let bit = (bytes[(position + i) / 8] >> ((position + i) % 8)) & 1;
                        value | (u64::from(bit) << i)
                    })
                });
                let actual = reader.read(width);
                prop_assert_eq!(actual, expected);
                if expected.is_none() {
                    // A failed read may have consumed part of a split read: stop here, as
                    // every caller does.
                    break;
                }
                position += usize::from(width);
            }
        }
    }
}
