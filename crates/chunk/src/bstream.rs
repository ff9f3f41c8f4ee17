//! Bit-level writer and reader over byte buffers, most significant bit first.
//!
//! The writer reproduces the exact byte layout of Prometheus's `bstream`, including its one
//! quirk: writing whole bytes onto a byte-aligned stream leaves an extra, still empty byte at
//! the end (the next write fills it). Chunks must match byte for byte, so that spare byte is
//! kept rather than trimmed.

/// Appends bits to a growable byte buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BitWriter {
    buf: Vec<u8>,
    /// Bits still free in the last byte of `buf` (0 to 8), as in Prometheus's `bstream.count`.
    free_bits: u8,
}

/// Smallest growth step of the buffer, in bytes.
const MIN_GROWTH: usize = 16;

impl BitWriter {
    /// A writer whose stream starts after `prefix` (already complete bytes).
    pub(crate) fn with_prefix(prefix: &[u8], capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity.max(prefix.len()));
        buf.extend_from_slice(prefix);
        Self { buf, free_bits: 0 }
    }

    /// Resumes writing after `bits_used` bits of `buf`; bytes past that point are dropped (except
    /// a spare zero byte on an aligned stream) and the unused tail of the last byte is cleared.
    pub(crate) fn resume(mut buf: Vec<u8>, bits_used: usize) -> Self {
        let bytes_used = bits_used.div_ceil(8);
        let spare_byte_follows = buf.get(bytes_used) == Some(&0);
        if bits_used.is_multiple_of(8) && spare_byte_follows {
            // Keep the spare byte Prometheus's writer leaves after whole-byte writes.
            buf.truncate(bytes_used + 1);
            return Self { buf, free_bits: 8 };
        }
        buf.truncate(bytes_used);
        let free_bits = (bytes_used * 8 - bits_used) as u8;
        if let Some(last) = buf.last_mut() {
            // Keep only the used (high) bits of the last byte.
            let keep_mask = !((1u16 << free_bits) - 1) as u8;
            *last &= keep_mask;
        }
        Self { buf, free_bits }
    }

    /// The bytes written so far.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Mutable access to the bytes, for patching a header in place.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// Heap bytes held by the buffer.
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Makes the buffer's capacity at least `total` bytes, exactly.
    pub(crate) fn reserve_total(&mut self, total: usize) {
        if total > self.buf.capacity() {
            self.buf.reserve_exact(total - self.buf.len());
        }
    }

    /// Drops spare capacity (used when a chunk is complete).
    pub(crate) fn shrink_to_fit(&mut self) {
        self.buf.shrink_to_fit();
    }

    /// Gives up the buffer.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Makes room for `additional` more bytes, growing the buffer by a moderate step rather than
    /// doubling so that many small open chunks do not waste half their memory.
    fn reserve(&mut self, additional: usize) {
        if self.buf.capacity() - self.buf.len() < additional {
            let step = (self.buf.len() / 2).max(MIN_GROWTH).max(additional);
            self.buf.reserve_exact(step);
        }
    }

    /// Writes one bit.
    pub(crate) fn write_bit(&mut self, bit: bool) {
        self.write_bits(u64::from(bit), 1);
    }

    /// Writes the low `count` bits of `value` (`count` in 0..=64), most significant first.
    ///
    /// The bytes come out exactly as Prometheus's `writeBits` makes them: it writes whole bytes
    /// with `writeByte` and the rest bit by bit, and `writeByte` on a byte-aligned stream
    /// leaves a spare empty byte. So a write of a multiple of 8 bits that starts aligned ends
    /// with a spare byte; any other write does not.
    pub(crate) fn write_bits(&mut self, value: u64, count: u32) {
        debug_assert!(count <= 64);
        if count == 0 {
            return;
        }
        let starts_aligned = self.free_bits == 0 || self.free_bits == 8;
        let leaves_spare_byte = starts_aligned && count >= 8 && count.is_multiple_of(8);
        if self.free_bits == 8 {
            // The spare byte is empty; treat it as not yet written.
            self.buf.pop();
            self.free_bits = 0;
        }
        self.reserve(10);
        // Left-align the bits so the next one to write is the most significant.
        let mut pending = value << (64 - count);
        let mut remaining = count;
        if self.free_bits > 0 {
            let take = u32::from(self.free_bits).min(remaining);
            let bits = (pending >> (64 - take)) as u8;
            let index = self.buf.len() - 1;
            self.buf[index] |= bits << (u32::from(self.free_bits) - take);
            self.free_bits -= take as u8;
            pending = pending.checked_shl(take).unwrap_or(0);
            remaining -= take;
        }
        while remaining >= 8 {
            self.buf.push((pending >> 56) as u8);
            pending <<= 8;
            remaining -= 8;
        }
        if remaining > 0 {
            self.buf.push((pending >> 56) as u8);
            self.free_bits = (8 - remaining) as u8;
        }
        if leaves_spare_byte {
            self.buf.push(0);
            self.free_bits = 8;
        }
    }

    /// Writes whole bytes (varints), each as Prometheus's `writeByte` would.
    pub(crate) fn write_bytes(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_bits(u64::from(byte), 8);
        }
    }
}

/// Reads bits from a byte slice, failing cleanly at the end of the data.
///
/// The next bits are kept left-aligned in a 64-bit register that is refilled a whole word at a
/// time, so a read is a shift of the register rather than an index into the slice. Bits of the
/// register past `valid` are either the stream's own next bits or zeros past its end, so a peek
/// may look at them but only `valid` bits may be consumed.
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Index of the first byte not yet loaded into `buffer`.
    next_byte: usize,
    /// The next bits of the stream, most significant first.
    buffer: u64,
    /// How many bits of `buffer` are data (0..=64).
    valid: u32,
}

/// Longest read served by the register in one go; longer ones are split in two.
const MAX_DIRECT_READ: u32 = 56;

impl<'a> BitReader<'a> {
    /// A reader at the first bit of `data`.
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, next_byte: 0, buffer: 0, valid: 0 }
    }

    /// The reader taken apart (data, register, next byte, valid bits), for a decoding loop
    /// that keeps each part in a local variable; [`BitReader::from_parts`] puts it back.
    pub(crate) fn into_parts(self) -> (&'a [u8], u64, usize, u32) {
        (self.data, self.buffer, self.next_byte, self.valid)
    }

    /// A reader from the parts [`BitReader::into_parts`] gave.
    pub(crate) fn from_parts(data: &'a [u8], buffer: u64, next_byte: usize, valid: u32) -> Self {
        Self { data, next_byte, buffer, valid }
    }

    /// Bits consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.next_byte * 8 - self.valid as usize
    }

    /// Tops the register up to at least 56 valid bits, or to the end of the data.
    #[inline]
    pub(crate) fn refill(&mut self) {
        if self.valid >= MAX_DIRECT_READ {
            return;
        }
        match self.data.get(self.next_byte..).and_then(<[u8]>::first_chunk::<8>) {
            Some(word) => {
                // `valid` < 56 here, so the shift is in range and at least one byte fits.
                self.buffer |= u64::from_be_bytes(*word) >> self.valid;
                let bytes = (63 - self.valid) / 8;
                self.next_byte += bytes as usize;
                self.valid += bytes * 8;
            }
            None => self.refill_tail(),
        }
    }

    #[cold]
    fn refill_tail(&mut self) {
        (self.buffer, self.next_byte, self.valid) =
            refill_tail(self.data, self.buffer, self.next_byte, self.valid);
    }

    /// The register (next bit most significant) and how many of its bits are data; call
    /// [`BitReader::refill`] first to see as many as possible.
    #[inline]
    pub(crate) fn peek(&self) -> (u64, u32) {
        (self.buffer, self.valid)
    }

    /// Drops `count` bits that a [`BitReader::peek`] showed to be valid (`count` <= valid).
    #[inline]
    pub(crate) fn consume(&mut self, count: u32) {
        debug_assert!(count <= self.valid);
        self.buffer = self.buffer.checked_shl(count).unwrap_or(0);
        self.valid -= count;
    }

    /// Reads `count` bits (0..=64) as an unsigned number; `None` if the data ends first.
    #[inline]
    pub(crate) fn read_bits(&mut self, count: u32) -> Option<u64> {
        debug_assert!(count <= 64);
        if count > MAX_DIRECT_READ {
            return self.read_long(count);
        }
        if self.valid < count {
            self.refill();
            if self.valid < count {
                return None;
            }
        }
        if count == 0 {
            return Some(0);
        }
        let value = self.buffer >> (64 - count);
        self.buffer <<= count;
        self.valid -= count;
        Some(value)
    }

    /// A read of 57 to 64 bits, in two parts (nothing is consumed if the data ends first).
    fn read_long(&mut self, count: u32) -> Option<u64> {
        let bits_left = (self.data.len() - self.next_byte) * 8 + self.valid as usize;
        if bits_left < count as usize {
            return None;
        }
        let high = self.read_bits(count - 32)?;
        let low = self.read_bits(32)?;
        Some((high << 32) | low)
    }

    /// Reads one whole byte from the bit position.
    pub(crate) fn read_byte(&mut self) -> Option<u8> {
        self.read_bits(8).map(|bits| bits as u8)
    }
}

/// Byte-by-byte refill for the last few bytes of the data, on a reader taken apart (see
/// [`BitReader::into_parts`]): returns the new register, next byte and valid-bit count.
#[cold]
pub(crate) fn refill_tail(
    data: &[u8],
    mut buffer: u64,
    mut next_byte: usize,
    mut valid: u32,
) -> (u64, usize, u32) {
    while valid <= 56 {
        let Some(&byte) = data.get(next_byte) else { break };
        buffer |= u64::from(byte) << (56 - valid);
        next_byte += 1;
        valid += 8;
    }
    (buffer, next_byte, valid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_across_byte_boundaries() {
        let mut writer = BitWriter::with_prefix(&[], 0);
        writer.write_bit(true);
        writer.write_bits(0b101, 3);
        writer.write_bits(0x1234_5678_9abc_def0, 64);
        writer.write_bits(0x3ff, 10);
        let bytes = writer.into_bytes();
        let mut reader = BitReader::new(&bytes);
        assert_eq!(reader.read_bits(1), Some(1));
        assert_eq!(reader.read_bits(3), Some(0b101));
        assert_eq!(reader.read_bits(64), Some(0x1234_5678_9abc_def0));
        assert_eq!(reader.read_bits(10), Some(0x3ff));
    }

    #[test]
    fn whole_bytes_on_an_aligned_stream_leave_a_spare_byte() {
        let mut writer = BitWriter::with_prefix(&[], 0);
        writer.write_bits(0xab, 8);
        assert_eq!(writer.bytes(), &[0xab, 0x00]);
        writer.write_bit(true);
        assert_eq!(writer.bytes(), &[0xab, 0x80]);
    }

    #[test]
    fn single_bits_filling_a_byte_leave_no_spare_byte() {
        let mut writer = BitWriter::with_prefix(&[], 0);
        writer.write_bits(0b1111, 4);
        writer.write_bits(0, 4);
        assert_eq!(writer.bytes(), &[0xf0]);
    }

    #[test]
    fn reading_past_the_end_is_none() {
        let mut reader = BitReader::new(&[0xff]);
        assert_eq!(reader.read_bits(9), None);
        assert_eq!(reader.read_bits(8), Some(0xff));
        assert_eq!(reader.read_bits(1), None);
    }

    /// A literal model of Prometheus's `bstream` writer (`writeBit`, `writeByte`, `writeBits`),
    /// one bit or byte at a time, to check the fast writer against.
    struct ReferenceStream {
        stream: Vec<u8>,
        count: u8,
    }

    impl ReferenceStream {
        fn write_bit(&mut self, bit: bool) {
            if self.count == 0 {
                self.stream.push(0);
                self.count = 8;
            }
            let last = self.stream.len() - 1;
            if bit {
                self.stream[last] |= 1 << (self.count - 1);
            }
            self.count -= 1;
        }

        fn write_byte(&mut self, byte: u8) {
            if self.count == 0 {
                self.stream.push(0);
                self.count = 8;
            }
            let last = self.stream.len() - 1;
            self.stream[last] |= ((u16::from(byte)) >> (8 - self.count)) as u8;
            self.stream.push(((u16::from(byte)) << self.count) as u8);
        }

        fn write_bits(&mut self, value: u64, count: u32) {
            let mut shifted = if count == 0 { 0 } else { value << (64 - count) };
            let mut remaining = count;
            while remaining >= 8 {
                self.write_byte((shifted >> 56) as u8);
                shifted <<= 8;
                remaining -= 8;
            }
            while remaining > 0 {
                self.write_bit(shifted >> 63 == 1);
                shifted <<= 1;
                remaining -= 1;
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn fast_writer_matches_prometheus_bstream(writes in proptest::collection::vec((proptest::num::u64::ANY, 0u32..=64), 0..60)) {
            let mut fast = BitWriter::with_prefix(&[], 0);
            let mut reference = ReferenceStream { stream: Vec::new(), count: 0 };
            for (value, count) in writes {
                let value = if count == 64 { value } else { value & ((1u64 << count) - 1) };
                fast.write_bits(value, count);
                reference.write_bits(value, count);
                proptest::prop_assert_eq!(fast.bytes(), &reference.stream[..]);
            }
        }
    }

    /// Reads bit by bit straight from the slice: what the register reader must agree with.
    fn reference_read(data: &[u8], position: &mut usize, count: u32) -> Option<u64> {
        if *position + count as usize > data.len() * 8 {
            return None;
        }
        let mut value = 0u64;
        for _ in 0..count {
            let bit = (data[*position / 8] >> (7 - *position % 8)) & 1;
            value = (value << 1) | u64::from(bit);
            *position += 1;
        }
        Some(value)
    }

    proptest::proptest! {
        #[test]
        fn register_reader_matches_bit_by_bit_reads(
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
            reads in proptest::collection::vec(0u32..=64, 0..80),
        ) {
            let mut reader = BitReader::new(&data);
            let mut position = 0;
            for count in reads {
                proptest::prop_assert_eq!(reader.read_bits(count), reference_read(&data, &mut position, count));
                proptest::prop_assert_eq!(reader.position(), position);
            }
        }
    }

    #[test]
    fn resume_clears_unused_tail_bits() {
        let writer = BitWriter::resume(vec![0xff, 0xff, 0xff], 12);
        assert_eq!(writer.bytes(), &[0xff, 0xf0]);
    }
}
