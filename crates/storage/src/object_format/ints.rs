//! Integer columns: varints, zigzag, and the two packings an integer column can take
//! (zigzag varints, or frame-of-reference bit packing in fixed-size blocks), picked per column.

/// Appends `value` as an unsigned LEB128 varint.
pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Maps a signed integer onto an unsigned one so that small magnitudes stay small.
pub(crate) fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// Inverse of [`zigzag`].
pub(crate) fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// Appends `value` as a zigzag varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, value: i64) {
    put_uvarint(out, zigzag(value));
}

/// A cursor over a byte slice; every read returns `None` when the input is too short or malformed.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Bytes consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(byte)
    }

    pub(crate) fn u64_le(&mut self) -> Option<u64> {
        let bytes = self.take(8)?;
        let mut array = [0u8; 8];
        array.copy_from_slice(bytes);
        Some(u64::from_le_bytes(array))
    }

    pub(crate) fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(len)?;
        let bytes = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(bytes)
    }

    #[inline]
    pub(crate) fn uvarint(&mut self) -> Option<u64> {
        // One-byte varints (small residuals, counts) are by far the most common.
        let first = *self.bytes.get(self.pos)?;
        if first < 0x80 {
            self.pos += 1;
            return Some(u64::from(first));
        }
        self.uvarint_long()
    }

    fn uvarint_long(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(value);
            }
        }
        None
    }

    #[inline]
    pub(crate) fn varint(&mut self) -> Option<i64> {
        self.uvarint().map(unzigzag)
    }

    /// A uvarint that must not exceed `limit` (a count checked against the input size).
    pub(crate) fn count(&mut self, limit: usize) -> Option<usize> {
        let value = usize::try_from(self.uvarint()?).ok()?;
        (value <= limit).then_some(value)
    }

    pub(crate) fn string(&mut self) -> Option<String> {
        let len = usize::try_from(self.uvarint()?).ok()?;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }
}

const PACK_VARINTS: u8 = 0;
const PACK_BLOCKS: u8 = 1;
/// Block lengths (as powers of two) tried for frame-of-reference packing.
const BLOCK_SHIFTS: [u8; 3] = [6, 8, 10];

/// Appends `values` as an integer column in the packing that compresses smallest under zstd.
pub(crate) fn put_column(out: &mut Vec<u8>, values: &[i64]) {
    let mut best = varint_column(values);
    let mut best_cost = compressed_len(&best);
    for shift in BLOCK_SHIFTS {
        if shift > BLOCK_SHIFTS[0] && values.len() <= 1 << (shift - 1) {
            break;
        }
        let candidate = block_column(values, shift);
        let cost = compressed_len(&candidate);
        if cost < best_cost {
            best = candidate;
            best_cost = cost;
        }
    }
    out.extend_from_slice(&best);
}

/// Length of `bytes` after fast zstd, the measure packings are compared by.
pub(crate) fn compressed_len(bytes: &[u8]) -> usize {
    zstd::bulk::compress(bytes, 1).map_or(bytes.len(), |c| c.len().min(bytes.len()))
}

fn varint_column(values: &[i64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * 2 + 1);
    out.push(PACK_VARINTS);
    for value in values {
        put_varint(&mut out, *value);
    }
    out
}

/// Frame-of-reference packing: per block its minimum (zigzag varint), a bit width, and each
/// value's offset from the minimum in that many bits, least significant bit first.
fn block_column(values: &[i64], shift: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() + 16);
    out.push(PACK_BLOCKS);
    out.push(shift);
    for block in values.chunks(1 << shift) {
        let min = block.iter().copied().min().unwrap_or(0);
        let max_offset = block.iter().map(|v| v.wrapping_sub(min) as u64).max().unwrap_or(0);
        let width = (64 - max_offset.leading_zeros()) as u8;
        put_varint(&mut out, min);
        out.push(width);
        let mut bits = crate::object_format::bits::BitWriter::new(&mut out);
        for value in block {
            bits.write(value.wrapping_sub(min) as u64, width);
        }
        bits.finish();
    }
    out
}

/// Reads an integer column of `len` values written by [`put_column`].
#[cfg(test)]
pub(crate) fn read_column(reader: &mut Reader<'_>, len: usize) -> Option<Vec<i64>> {
    let mut values = Vec::with_capacity(len.min(1 << 20));
    read_column_with(reader, len, |value| values.push(value))?;
    Some(values)
}

/// Reads an integer column of `len` values written by [`put_column`], handing each value to
/// `sink` in order (so callers decode straight into their output). On `None` the sink may have
/// seen some of the values.
#[inline(always)]
pub(crate) fn read_column_with(reader: &mut Reader<'_>, len: usize, mut sink: impl FnMut(i64)) -> Option<()> {
    // Every value takes at least one byte as a varint, and a block of up to 1,024 values at
    // least two bytes, so a column cannot claim more values than this bound.
    if len > reader.remaining().saturating_mul(1 << 10) {
        return None;
    }
    match reader.u8()? {
        PACK_VARINTS => {
            for _ in 0..len {
                sink(reader.varint()?);
            }
        }
        PACK_BLOCKS => {
            let shift = reader.u8()?;
            if !BLOCK_SHIFTS.contains(&shift) {
                return None;
            }
            let block_len = 1usize << shift;
            let mut done = 0;
            while done < len {
                let count = block_len.min(len - done);
                let min = reader.varint()?;
                let width = reader.u8()?;
                if width > 64 {
                    return None;
                }
                let bytes = reader.take((count * usize::from(width)).div_ceil(8))?;
                unpack_block(bytes, count, width, |offset| sink(min.wrapping_add(offset as i64)))?;
                done += count;
            }
        }
        _ => return None,
    }
    Some(())
}

/// Unpacks `count` offsets of `width` bits, least significant bit first, from `bytes` (which
/// holds exactly enough bytes for them).
#[inline(always)]
fn unpack_block(bytes: &[u8], count: usize, width: u8, mut sink: impl FnMut(u64)) -> Option<()> {
    match width {
        // A plain loop: `for_each` goes through an `Iterator::fold` that is not always inlined,
        // which would keep the sink's state in memory instead of registers.
        0 => {
            for _ in 0..count {
                sink(0);
            }
        }
        // A value starts at most 7 bits into the word it is loaded from, so up to 57 bits fit.
        1..=56 => {
            let width = usize::from(width);
            let mask = (1u64 << width) - 1;
            for index in 0..count {
                let bit = index * width;
                let start = bit / 8;
                let word = match bytes.get(start..).and_then(<[u8]>::first_chunk::<8>) {
                    Some(word) => u64::from_le_bytes(*word),
                    None => {
                        // The last few bytes: load what is there, zero-padded.
                        let mut padded = [0u8; 8];
                        let tail = bytes.get(start..)?;
                        padded[..tail.len()].copy_from_slice(tail);
                        u64::from_le_bytes(padded)
                    }
                };
                sink((word >> (bit % 8)) & mask);
            }
        }
        _ => {
            let mut bits = crate::object_format::bits::BitReader::new(bytes);
            for _ in 0..count {
                sink(bits.read(width)?);
            }
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn columns_round_trip(values in proptest::collection::vec(any::<i64>(), 0..600), small in proptest::collection::vec(-5i64..5, 0..3000)) {
            for column in [&values, &small] {
                let mut out = Vec::new();
                put_column(&mut out, column);
                let mut reader = Reader::new(&out);
                let decoded = read_column(&mut reader, column.len());
                prop_assert_eq!(decoded.as_ref(), Some(column));
                prop_assert_eq!(reader.remaining(), 0);
            }
        }

        #[test]
        fn every_block_width_round_trips(width in 0u32..=64, seed in any::<u64>(), len in 0usize..1_500) {
            // Offsets spread over exactly `width` bits, so every width from 0 to 64 is packed.
            let values: Vec<i64> = (0..len as u64)
                .map(|i| {
                    let mixed = (seed ^ i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                    if width == 0 { 7 } else { (mixed >> (64 - width)) as i64 }
                })
                .collect();
            for shift in BLOCK_SHIFTS {
                let column = block_column(&values, shift);
                let mut reader = Reader::new(&column);
                let decoded = read_column(&mut reader, values.len());
                prop_assert_eq!(decoded.as_ref(), Some(&values));
                prop_assert_eq!(reader.remaining(), 0);
                for cut in [column.len().saturating_sub(1), column.len() / 2] {
                    if cut < column.len() && !values.is_empty() {
                        prop_assert_eq!(read_column(&mut Reader::new(&column[..cut]), values.len()), None);
                    }
                }
            }
        }

        #[test]
        fn uvarints_round_trip(value in any::<u64>()) {
            let mut out = Vec::new();
            put_uvarint(&mut out, value);
            let mut reader = Reader::new(&out);
            prop_assert_eq!(reader.uvarint(), Some(value));
            prop_assert_eq!(reader.remaining(), 0);
            prop_assert_eq!(Reader::new(&out[..out.len() - 1]).uvarint(), None);
        }

        #[test]
        fn zigzag_round_trips(value in any::<i64>()) {
            prop_assert_eq!(unzigzag(zigzag(value)), value);
        }
    }

    #[test]
    fn blocks_beat_varints_on_uniform_noise() {
        // Offsets spread evenly over 2^12: twelve bits a value packed, two bytes as varints.
        let values: Vec<i64> = (0..2_880i64).map(|i| 1_000_000 + (i * 2_654_435_761) % 4_096).collect();
        let mut out = Vec::new();
        put_column(&mut out, &values);
        assert_eq!(out[0], PACK_BLOCKS);
        assert!(out.len() < 2_880 * 13 / 8, "{} bytes", out.len());
    }
}
