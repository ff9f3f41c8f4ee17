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
pub(crate) struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    acc: u128,
    available: u32,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0, acc: 0, available: 0 }
    }

    /// Reads `width` bits (at most 64).
    pub(crate) fn read(&mut self, width: u8) -> Option<u64> {
        if width == 0 {
            return Some(0);
        }
        let width = u32::from(width.min(64));
        while self.available < width {
            let byte = *self.bytes.get(self.pos)?;
            self.pos += 1;
            self.acc |= u128::from(byte) << self.available;
            self.available += 8;
        }
        let value = if width == 64 { self.acc as u64 } else { (self.acc as u64) & ((1u64 << width) - 1) };
        self.acc >>= width;
        self.available -= width;
        Some(value)
    }

    /// Reads one bit.
    pub(crate) fn bit(&mut self) -> Option<bool> {
        self.read(1).map(|b| b == 1)
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
    }
}
