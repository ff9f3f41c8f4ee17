//! The XOR chunk: an appender that encodes samples as Prometheus does, an iterator that decodes
//! them, and validated construction from bytes.

use neocortex_core::{ErrorCode, Sample};

use crate::bstream::{refill_tail, BitReader, BitWriter};

/// Most samples one chunk can hold: the header counts them in 16 bits.
pub const MAX_SAMPLES_PER_CHUNK: usize = u16::MAX as usize;

/// Bytes of the sample-count header at the start of every chunk.
const HEADER_BYTES: usize = 2;

/// Initial buffer size of a new chunk: the header plus room for a few dozen samples.
const INITIAL_CAPACITY: usize = 64;

/// `leading` value meaning "no leading/trailing-zero window chosen yet".
const NO_WINDOW: u8 = 0xff;

/// Longest varint (10 bytes for 64 bits).
const MAX_VARINT_BYTES: usize = 10;

/// Why a chunk could not be decoded or extended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// Fewer than the two header bytes.
    #[error("chunk too short: {len} bytes, need at least 2")]
    TooShort {
        /// Length of the data given.
        len: usize,
    },
    /// The bit stream ended before the header's sample count was reached.
    #[error("chunk truncated: header says {expected} samples, data ends in sample {sample}")]
    Truncated {
        /// Samples announced by the header.
        expected: u16,
        /// Zero-based index of the sample that could not be read.
        sample: u16,
    },
    /// A varint longer than 64 bits.
    #[error("chunk corrupt: varint overflow in sample {sample}")]
    VarintOverflow {
        /// Zero-based index of the sample.
        sample: u16,
    },
    /// A value's leading-zero count and significant-bit count add up to more than 64.
    #[error("chunk corrupt: invalid xor window (leading {leading}, significant bits {significant}) in sample {sample}")]
    InvalidWindow {
        /// Zero-based index of the sample.
        sample: u16,
        /// Leading zeros read.
        leading: u8,
        /// Significant bits read.
        significant: u8,
    },
    /// The chunk already holds `MAX_SAMPLES_PER_CHUNK` samples.
    #[error("chunk full: {MAX_SAMPLES_PER_CHUNK} samples")]
    Full,
}

impl ChunkError {
    /// The error category: a corrupt or full chunk is our own fault, never the client's.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::Internal
    }
}

/// An XOR-encoded chunk being appended to. `bytes()` is at every moment a valid Prometheus
/// XOR chunk holding the samples appended so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XorChunk {
    stream: BitWriter,
    num_samples: u16,
    last_timestamp: i64,
    last_value_bits: u64,
    last_timestamp_delta: u64,
    leading: u8,
    trailing: u8,
}

impl Default for XorChunk {
    fn default() -> Self {
        Self::new()
    }
}

impl XorChunk {
    /// An empty chunk (just the zero sample-count header).
    pub fn new() -> Self {
        Self {
            stream: BitWriter::with_prefix(&[0; HEADER_BYTES], INITIAL_CAPACITY),
            num_samples: 0,
            last_timestamp: 0,
            last_value_bits: 0,
            last_timestamp_delta: 0,
            leading: NO_WINDOW,
            trailing: 0,
        }
    }

    /// Decodes and validates `bytes`, returning a chunk that can be read and appended to.
    /// Corrupt data gives an error, never a panic. Bytes after the last sample's bits are
    /// dropped (except the one spare byte Prometheus's writer leaves, which is kept).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ChunkError> {
        let mut iter = XorIter::new(bytes);
        for _ in iter.by_ref() {}
        if let Some(err) = iter.error() {
            return Err(err.clone());
        }
        let state = iter.state();
        let bits_used = HEADER_BYTES * 8 + iter.bits_read();
        Ok(Self {
            stream: BitWriter::resume(bytes.to_vec(), bits_used),
            num_samples: iter.total,
            last_timestamp: state.timestamp,
            last_value_bits: state.value_bits,
            last_timestamp_delta: state.timestamp_delta,
            leading: if iter.read > 0 && state.window_set { state.leading } else { NO_WINDOW },
            trailing: state.trailing,
        })
    }

    /// The encoded chunk, header included.
    pub fn bytes(&self) -> &[u8] {
        self.stream.bytes()
    }

    /// Number of samples appended.
    pub fn num_samples(&self) -> usize {
        usize::from(self.num_samples)
    }

    /// Whether no sample was appended yet.
    pub fn is_empty(&self) -> bool {
        self.num_samples == 0
    }

    /// The last sample appended, if any.
    pub fn last_sample(&self) -> Option<(i64, f64)> {
        (self.num_samples > 0).then(|| (self.last_timestamp, f64::from_bits(self.last_value_bits)))
    }

    /// Heap bytes reserved by the chunk's buffer (capacity, not length).
    pub fn heap_bytes(&self) -> usize {
        self.stream.capacity()
    }

    /// Reserves room for `total_samples` samples in all, extrapolating from the bytes used by
    /// the samples so far (plus an eighth), so a chunk that will be cut at a known count grows
    /// its buffer once instead of many times.
    pub fn reserve_for_samples(&mut self, total_samples: usize) {
        let appended = self.num_samples();
        if appended == 0 || total_samples <= appended {
            return;
        }
        let used = self.bytes().len();
        let expected = used * total_samples / appended;
        let target = expected + expected / 8 + 8;
        self.stream.reserve_total(target);
    }

    /// Releases spare buffer capacity, e.g. once the chunk is complete.
    pub fn shrink_to_fit(&mut self) {
        self.stream.shrink_to_fit();
    }

    /// Gives up the encoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.stream.into_bytes()
    }

    /// Decodes the samples in order.
    pub fn iter(&self) -> XorIter<'_> {
        XorIter::new(self.bytes())
    }

    /// Appends a sample. Timestamps are expected to increase (the caller enforces order, as
    /// Prometheus's head does); any sequence still round-trips because arithmetic wraps.
    pub fn append(&mut self, timestamp_ms: i64, value: f64) -> Result<(), ChunkError> {
        if usize::from(self.num_samples) >= MAX_SAMPLES_PER_CHUNK {
            return Err(ChunkError::Full);
        }
        let value_bits = value.to_bits();
        let mut timestamp_delta = 0;
        match self.num_samples {
            0 => {
                self.write_varint(zigzag(timestamp_ms));
                self.stream.write_bits(value_bits, 64);
            }
            1 => {
                timestamp_delta = timestamp_ms.wrapping_sub(self.last_timestamp) as u64;
                self.write_varint(timestamp_delta);
                self.write_value_delta(value_bits);
            }
            _ => {
                timestamp_delta = timestamp_ms.wrapping_sub(self.last_timestamp) as u64;
                let delta_of_delta = timestamp_delta.wrapping_sub(self.last_timestamp_delta) as i64;
                self.write_delta_of_delta(delta_of_delta);
                self.write_value_delta(value_bits);
            }
        }
        self.last_timestamp = timestamp_ms;
        self.last_value_bits = value_bits;
        self.last_timestamp_delta = timestamp_delta;
        self.num_samples += 1;
        self.stream.bytes_mut()[..HEADER_BYTES].copy_from_slice(&self.num_samples.to_be_bytes());
        Ok(())
    }

    fn write_varint(&mut self, mut value: u64) {
        let mut buf = [0u8; MAX_VARINT_BYTES];
        let mut len = 0;
        while value >= 0x80 {
            buf[len] = (value as u8) | 0x80;
            value >>= 7;
            len += 1;
        }
        buf[len] = value as u8;
        self.stream.write_bytes(&buf[..=len]);
    }

    fn write_delta_of_delta(&mut self, delta_of_delta: i64) {
        if delta_of_delta == 0 {
            self.stream.write_bit(false);
        } else if fits_in_bits(delta_of_delta, 14) {
            self.stream.write_bits(0b10, 2);
            self.stream.write_bits(delta_of_delta as u64, 14);
        } else if fits_in_bits(delta_of_delta, 17) {
            self.stream.write_bits(0b110, 3);
            self.stream.write_bits(delta_of_delta as u64, 17);
        } else if fits_in_bits(delta_of_delta, 20) {
            self.stream.write_bits(0b1110, 4);
            self.stream.write_bits(delta_of_delta as u64, 20);
        } else {
            self.stream.write_bits(0b1111, 4);
            self.stream.write_bits(delta_of_delta as u64, 64);
        }
    }

    fn write_value_delta(&mut self, value_bits: u64) {
        let xor = value_bits ^ self.last_value_bits;
        if xor == 0 {
            self.stream.write_bit(false);
            return;
        }
        self.stream.write_bit(true);
        // Five bits hold the leading-zero count, so it is capped at 31.
        let leading = (xor.leading_zeros() as u8).min(31);
        let trailing = xor.trailing_zeros() as u8;
        if self.leading != NO_WINDOW && leading >= self.leading && trailing >= self.trailing {
            // The new value's significant bits fit in the previous window.
            self.stream.write_bit(false);
            let significant = 64 - u32::from(self.leading) - u32::from(self.trailing);
            self.stream.write_bits(xor >> self.trailing, significant);
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        self.stream.write_bit(true);
        self.stream.write_bits(u64::from(leading), 5);
        let significant = 64 - u32::from(leading) - u32::from(trailing);
        // 64 significant bits do not fit in six bits; it is written as 0 and read back as 64.
        self.stream.write_bits(u64::from(significant) & 0x3f, 6);
        self.stream.write_bits(xor >> trailing, significant);
    }
}

/// Zigzag encoding of a signed varint (Go's `binary.PutVarint`).
fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// Whether `value` fits the `bits`-bit delta-of-delta bucket: Prometheus's asymmetric range
/// `-(2^(bits-1) - 1) ..= 2^(bits-1)`.
fn fits_in_bits(value: i64, bits: u32) -> bool {
    let half = 1i64 << (bits - 1);
    -(half - 1) <= value && value <= half
}

/// Decoder state after the last sample read.
#[derive(Debug, Clone, Copy, Default)]
struct DecodeState {
    timestamp: i64,
    value_bits: u64,
    timestamp_delta: u64,
    leading: u8,
    trailing: u8,
    window_set: bool,
}

/// What went wrong in one sample; [`XorIter`] adds the sample index.
#[derive(Debug, Clone, Copy)]
enum Fault {
    Truncated,
    VarintOverflow,
    InvalidWindow { leading: u8, significant: u8 },
}

/// The bit reader and the decoder state: everything decoding one sample touches, kept in one
/// small value so the bulk loop can hold it in registers.
#[derive(Debug, Clone)]
struct Cursor<'a> {
    reader: BitReader<'a>,
    state: DecodeState,
}

/// Control bits, leading-zero count and significant-bit count of a new XOR window.
const NEW_WINDOW_HEADER: u32 = 2 + 5 + 6;

impl Cursor<'_> {
    fn read_bits(&mut self, count: u32) -> Result<u64, Fault> {
        self.reader.read_bits(count).ok_or(Fault::Truncated)
    }

    fn read_uvarint(&mut self) -> Result<u64, Fault> {
        let mut value: u64 = 0;
        for index in 0..MAX_VARINT_BYTES {
            let byte = self.reader.read_byte().ok_or(Fault::Truncated)?;
            if index == MAX_VARINT_BYTES - 1 && byte > 1 {
                return Err(Fault::VarintOverflow);
            }
            value |= u64::from(byte & 0x7f) << (7 * index);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(Fault::VarintOverflow)
    }

    /// Decodes sample number `index` (the first two are stored differently from the rest).
    fn decode(&mut self, index: u16) -> Result<(), Fault> {
        match index {
            0 => {
                let raw = self.read_uvarint()?;
                self.state.timestamp = ((raw >> 1) as i64) ^ -((raw & 1) as i64);
                self.state.value_bits = self.read_bits(64)?;
                Ok(())
            }
            1 => {
                self.state.timestamp_delta = self.read_uvarint()?;
                self.state.timestamp = self.state.timestamp.wrapping_add(self.state.timestamp_delta as i64);
                self.decode_value()
            }
            _ => self.decode_later(),
        }
    }

    /// Decodes a sample after the second: a delta of delta and a value.
    #[inline(always)]
    fn decode_later(&mut self) -> Result<(), Fault> {
        let delta_of_delta = self.decode_delta_of_delta()?;
        self.state.timestamp_delta = self.state.timestamp_delta.wrapping_add(delta_of_delta as u64);
        self.state.timestamp = self.state.timestamp.wrapping_add(self.state.timestamp_delta as i64);
        self.decode_value()
    }

    /// Reads a delta of delta: its `0` / `10` / `110` / `1110` / `1111` prefix is counted
    /// with one look at the register, and the bucket's bits are taken from the same look.
    #[inline(always)]
    fn decode_delta_of_delta(&mut self) -> Result<i64, Fault> {
        self.reader.refill();
        let (buffer, valid) = self.reader.peek();
        let (prefix, width) = match buffer.leading_ones() {
            0 => {
                if valid == 0 {
                    return Err(Fault::Truncated);
                }
                self.reader.consume(1);
                return Ok(0);
            }
            1 => (2, 14),
            2 => (3, 17),
            3 => (4, 20),
            _ => {
                if valid < 4 {
                    return Err(Fault::Truncated);
                }
                self.reader.consume(4);
                return Ok(self.read_bits(64)? as i64);
            }
        };
        if valid < prefix + width {
            return Err(Fault::Truncated);
        }
        let raw = (buffer << prefix) >> (64 - width);
        self.reader.consume(prefix + width);
        // Values above 2^(width-1) are negative numbers in `width`-bit two's complement.
        let signed = if raw > (1u64 << (width - 1)) { raw.wrapping_sub(1u64 << width) } else { raw };
        Ok(signed as i64)
    }

    /// Reads a value: `0` (unchanged), `10` (XOR in the previous window) or `11` plus a 5-bit
    /// leading-zero count and a 6-bit significant-bit count (a new window), then the XOR bits.
    #[inline(always)]
    fn decode_value(&mut self) -> Result<(), Fault> {
        self.reader.refill();
        let (buffer, valid) = self.reader.peek();
        if valid == 0 {
            return Err(Fault::Truncated);
        }
        if buffer >> 63 == 0 {
            self.reader.consume(1);
            return Ok(());
        }
        if valid < 2 {
            return Err(Fault::Truncated);
        }
        if (buffer >> 62) & 1 == 0 {
            self.reader.consume(2);
        } else {
            if valid < NEW_WINDOW_HEADER {
                return Err(Fault::Truncated);
            }
            let leading = ((buffer >> 57) & 0x1f) as u8;
            let significant = match ((buffer >> 51) & 0x3f) as u8 {
                0 => 64,
                significant => significant,
            };
            if u32::from(leading) + u32::from(significant) > 64 {
                return Err(Fault::InvalidWindow { leading, significant });
            }
            self.reader.consume(NEW_WINDOW_HEADER);
            self.state.leading = leading;
            self.state.trailing = 64 - leading - significant;
            self.state.window_set = true;
        }
        let significant = 64 - u32::from(self.state.leading) - u32::from(self.state.trailing);
        let bits = self.read_bits(significant)?;
        self.state.value_bits ^= bits << self.state.trailing;
        Ok(())
    }
}

/// Iterates over the samples of an encoded chunk. On corrupt data it stops early and
/// `error()` says why.
#[derive(Debug, Clone)]
pub struct XorIter<'a> {
    cursor: Cursor<'a>,
    total: u16,
    read: u16,
    error: Option<ChunkError>,
}

impl<'a> XorIter<'a> {
    /// An iterator over the chunk `bytes` (header included).
    pub fn new(bytes: &'a [u8]) -> Self {
        let (total, body, error) = match bytes {
            [high, low, body @ ..] => (u16::from_be_bytes([*high, *low]), body, None),
            _ => (0, &[][..], Some(ChunkError::TooShort { len: bytes.len() })),
        };
        let cursor = Cursor { reader: BitReader::new(body), state: DecodeState::default() };
        Self { cursor, total, read: 0, error }
    }

    /// Why iteration stopped early, if it did.
    pub fn error(&self) -> Option<&ChunkError> {
        self.error.as_ref()
    }

    /// Number of samples the header announces.
    pub fn num_samples(&self) -> usize {
        usize::from(self.total)
    }

    fn state(&self) -> DecodeState {
        self.cursor.state
    }

    /// Bits of the body consumed so far.
    fn bits_read(&self) -> usize {
        self.cursor.reader.position()
    }

    /// Records and returns the error `fault` makes of sample number `self.read`.
    #[cold]
    fn fail(&mut self, fault: Fault) -> ChunkError {
        let sample = self.read;
        let err = match fault {
            Fault::Truncated => ChunkError::Truncated { expected: self.total, sample },
            Fault::VarintOverflow => ChunkError::VarintOverflow { sample },
            Fault::InvalidWindow { leading, significant } => {
                ChunkError::InvalidWindow { sample, leading, significant }
            }
        };
        self.error = Some(err.clone());
        err
    }

    /// Appends every remaining sample to `out`. On corrupt data the samples before the bad one
    /// are appended, the error is returned, and `error()` reports it from then on. Faster than
    /// the iterator: no per-sample `Option`, one capacity reservation, and the decoder state
    /// stays in registers.
    pub fn decode_into(&mut self, out: &mut Vec<Sample>) -> Result<(), ChunkError> {
        self.decode_range_into(i64::MIN, i64::MAX, out)
    }

    /// Appends the remaining samples whose timestamps lie in `min_time_ms..=max_time_ms` to
    /// `out`, stopping at (and consuming) the first sample after `max_time_ms`: samples come in
    /// time order. Errors as [`XorIter::decode_into`].
    pub fn decode_range_into(
        &mut self,
        min_time_ms: i64,
        max_time_ms: i64,
        out: &mut Vec<Sample>,
    ) -> Result<(), ChunkError> {
        if let Some(err) = &self.error {
            return Err(err.clone());
        }
        out.reserve(usize::from(self.total - self.read));
        while self.read < self.total.min(2) {
            if let Err(fault) = self.cursor.decode(self.read) {
                return Err(self.fail(fault));
            }
            self.read += 1;
            let Sample { timestamp_ms, .. } = self.current();
            if timestamp_ms > max_time_ms {
                return Ok(());
            }
            if timestamp_ms >= min_time_ms {
                out.push(self.current());
            }
        }
        let mut read = self.read;
        let outcome =
            decode_later_samples(&mut self.cursor, &mut read, self.total, min_time_ms, max_time_ms, out);
        self.read = read;
        outcome.map_err(|fault| self.fail(fault))
    }

    /// The sample decoded last.
    fn current(&self) -> Sample {
        Sample {
            timestamp_ms: self.cursor.state.timestamp,
            value: f64::from_bits(self.cursor.state.value_bits),
        }
    }
}

/// The bulk loop over the samples after the second: the same decoding as
/// [`Cursor::decode_later`], flattened so that the register, the stream position and the
/// decoder state are plain local variables (kept in CPU registers), and the sample pushed
/// straight into `out`. Stops after `total` samples, at the first sample after `max_time_ms`,
/// or at a fault (`read` is then the index of the sample that failed).
fn decode_later_samples(
    cursor: &mut Cursor<'_>,
    read: &mut u16,
    total: u16,
    min_time_ms: i64,
    max_time_ms: i64,
    out: &mut Vec<Sample>,
) -> Result<(), Fault> {
    let (data, mut buffer, mut next_byte, mut valid) = cursor.reader.clone().into_parts();
    let DecodeState {
        mut timestamp,
        mut value_bits,
        mut timestamp_delta,
        mut leading,
        mut trailing,
        mut window_set,
    } = cursor.state;
    let mut index = *read;

    // Tops the register up to 56 valid bits or the end of the data.
    macro_rules! refill {
        () => {
            if valid < 56 {
                match data.get(next_byte..).and_then(<[u8]>::first_chunk::<8>) {
                    Some(word) => {
                        buffer |= u64::from_be_bytes(*word) >> valid;
                        let bytes = (63 - valid) / 8;
                        next_byte += bytes as usize;
                        valid += bytes * 8;
                    }
                    None => (buffer, next_byte, valid) = refill_tail(data, buffer, next_byte, valid),
                }
            }
        };
    }
    // Takes `$n` (1..=valid, at most 63) bits from the register.
    macro_rules! take {
        ($n:expr) => {{
            let n: u32 = $n;
            let bits = buffer >> (64 - n);
            buffer <<= n;
            valid -= n;
            bits
        }};
    }
    // Reads `$n` (1..=64) bits, refilling as needed; `None` when the data ends first.
    macro_rules! read_bits {
        ($n:expr) => {{
            let n: u32 = $n;
            if valid < n {
                refill!();
            }
            if valid >= n && n < 64 {
                Some(take!(n))
            } else if n > 32 && (data.len() - next_byte) * 8 + valid as usize >= n as usize {
                let high = take!(n - 32);
                refill!();
                let low = take!(32);
                Some((high << 32) | low)
            } else {
                None
            }
        }};
    }

    let outcome = loop {
        if index >= total {
            break Ok(());
        }
        refill!();
        let delta_of_delta = match buffer.leading_ones() {
            0 => {
                if valid == 0 {
                    break Err(Fault::Truncated);
                }
                take!(1);
                0
            }
            ones @ 1..=3 => {
                let (prefix, width) = match ones {
                    1 => (2, 14),
                    2 => (3, 17),
                    _ => (4, 20),
                };
                if valid < prefix + width {
                    break Err(Fault::Truncated);
                }
                let raw = take!(prefix + width) & ((1u64 << width) - 1);
                // Values above 2^(width-1) are negative numbers in `width`-bit two's complement.
                if raw > (1u64 << (width - 1)) {
                    raw.wrapping_sub(1u64 << width)
                } else {
                    raw
                }
            }
            _ => {
                if valid < 4 {
                    break Err(Fault::Truncated);
                }
                take!(4);
                match read_bits!(64) {
                    Some(bits) => bits,
                    None => break Err(Fault::Truncated),
                }
            }
        };
        timestamp_delta = timestamp_delta.wrapping_add(delta_of_delta);
        timestamp = timestamp.wrapping_add(timestamp_delta as i64);

        refill!();
        if valid == 0 {
            break Err(Fault::Truncated);
        }
        if buffer >> 63 == 1 {
            if valid < 2 {
                break Err(Fault::Truncated);
            }
            if (buffer >> 62) & 1 == 0 {
                take!(2);
            } else {
                if valid < NEW_WINDOW_HEADER {
                    break Err(Fault::Truncated);
                }
                let new_leading = ((buffer >> 57) & 0x1f) as u8;
                let significant = match ((buffer >> 51) & 0x3f) as u8 {
                    0 => 64,
                    significant => significant,
                };
                if u32::from(new_leading) + u32::from(significant) > 64 {
                    break Err(Fault::InvalidWindow { leading: new_leading, significant });
                }
                take!(NEW_WINDOW_HEADER);
                leading = new_leading;
                trailing = 64 - new_leading - significant;
                window_set = true;
            }
            let significant = 64 - u32::from(leading) - u32::from(trailing);
            match read_bits!(significant) {
                Some(bits) => value_bits ^= bits << trailing,
                None => break Err(Fault::Truncated),
            }
        } else {
            take!(1);
        }

        index += 1;
        if timestamp > max_time_ms {
            break Ok(());
        }
        if timestamp >= min_time_ms {
            out.push(Sample { timestamp_ms: timestamp, value: f64::from_bits(value_bits) });
        }
    };
    cursor.reader = BitReader::from_parts(data, buffer, next_byte, valid);
    cursor.state = DecodeState { timestamp, value_bits, timestamp_delta, leading, trailing, window_set };
    *read = index;
    outcome
}

impl Iterator for XorIter<'_> {
    type Item = (i64, f64);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.error.is_some() || self.read >= self.total {
            return None;
        }
        let decoded = if self.read >= 2 { self.cursor.decode_later() } else { self.cursor.decode(self.read) };
        if let Err(fault) = decoded {
            self.fail(fault);
            return None;
        }
        self.read += 1;
        Some((self.cursor.state.timestamp, f64::from_bits(self.cursor.state.value_bits)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(usize::from(self.total - self.read)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STALE_NAN_BITS: u64 = neocortex_core::STALE_NAN_BITS;

    fn encode(samples: &[(i64, f64)]) -> XorChunk {
        let mut chunk = XorChunk::new();
        for &(t, v) in samples {
            chunk.append(t, v).expect("chunk has room");
        }
        chunk
    }

    fn bits_of(samples: &[(i64, f64)]) -> Vec<(i64, u64)> {
        samples.iter().map(|&(t, v)| (t, v.to_bits())).collect()
    }

    /// Bytes worked out by hand from the format description:
    /// header `00 03`; first timestamp 1000 as a zigzag varint (2000 = `d0 0f`); 1.0 as 64 raw
    /// bits (`3f f0 00 00 00 00 00 00`); second timestamp as uvarint delta 1000 (`e8 07`), written
    /// into the spare byte the aligned 64-bit write left; value unchanged: bit `0`; third sample:
    /// delta-of-delta 0: bit `0`; value 2.0 XOR 1.0 = 0x7ff0_0000_0000_0000 (1 leading zero,
    /// 52 trailing, 11 significant): bits `1 1 00001 001011 11111111111`. Bit string after
    /// `e8 07`: `0011 0000 | 1001 0111 | 1111 1111 | 11` = `30 97 ff c0`.
    #[test]
    fn golden_three_samples() {
        let chunk = encode(&[(1000, 1.0), (2000, 1.0), (3000, 2.0)]);
        let expected: &[u8] = &[
            0x00, 0x03, 0xd0, 0x0f, 0x3f, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe8, 0x07, 0x30, 0x97,
            0xff, 0xc0,
        ];
        assert_eq!(chunk.bytes(), expected);
        assert_eq!(chunk.num_samples(), 3);
        let decoded: Vec<_> = XorIter::new(expected).collect();
        assert_eq!(decoded, vec![(1000, 1.0), (2000, 1.0), (3000, 2.0)]);
    }

    /// A single sample leaves Prometheus's spare byte after the aligned 64-bit value.
    #[test]
    fn golden_one_sample_keeps_spare_byte() {
        let chunk = encode(&[(1000, 1.0)]);
        let expected: &[u8] = &[0x00, 0x01, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x00];
        assert_eq!(chunk.bytes(), expected);
        let reloaded = XorChunk::from_bytes(expected).expect("valid chunk");
        assert_eq!(reloaded.bytes(), expected);
    }

    /// Delta-of-delta buckets by hand: timestamps 0, 10, 30 give dod 10, in the 14-bit bucket:
    /// `10` then 10 in 14 bits. Values stay 0.0 (bit `0` each).
    #[test]
    fn golden_delta_of_delta_bucket() {
        let chunk = encode(&[(0, 0.0), (10, 0.0), (30, 0.0)]);
        // first: varint 0 = `00`, 64 zero bits, spare byte; second: uvarint 10 = `0a` in the spare
        // byte, then value bit 0; third: `10` + `00000000001010` + value bit `0`.
        // bits after `0a`: 0 10 00000000001010 0 -> 0100 0000 | 0000 0101 | 00 -> 40 05 00
        let expected: &[u8] = &[0x00, 0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a, 0x40, 0x05, 0x00];
        assert_eq!(chunk.bytes(), expected);
    }

    #[test]
    fn empty_chunk_is_just_the_header() {
        let chunk = XorChunk::new();
        assert_eq!(chunk.bytes(), &[0, 0]);
        assert_eq!(chunk.iter().count(), 0);
        assert_eq!(chunk.last_sample(), None);
    }

    #[test]
    fn staleness_marker_bits_round_trip() {
        let stale = f64::from_bits(STALE_NAN_BITS);
        let chunk = encode(&[(1, 5.0), (2, stale), (3, 6.0), (4, stale), (5, f64::NAN)]);
        let decoded: Vec<u64> = chunk.iter().map(|(_, v)| v.to_bits()).collect();
        assert_eq!(
            decoded,
            vec![5.0f64.to_bits(), STALE_NAN_BITS, 6.0f64.to_bits(), STALE_NAN_BITS, f64::NAN.to_bits()]
        );
    }

    #[test]
    fn every_delta_of_delta_bucket_and_edge_round_trips() {
        let mut samples = vec![(0i64, 0.0), (100, 1.0)];
        let mut delta: i64 = 100;
        for dod in
            [0i64, 1, -1, 8192, -8191, 8193, -8192, 65536, -65535, 65537, 524288, -524287, 524289, 1 << 40]
        {
            delta += dod;
            let last = samples.last().expect("not empty").0;
            samples.push((last + delta, dod as f64));
        }
        let chunk = encode(&samples);
        assert_eq!(bits_of(&chunk.iter().collect::<Vec<_>>()), bits_of(&samples));
    }

    #[test]
    fn truncated_chunk_is_an_error_not_a_panic() {
        let chunk = encode(&[(1000, 1.0), (2000, 1.5), (3000, 2.0)]);
        let bytes = chunk.bytes();
        for len in 0..bytes.len() - 1 {
            assert!(XorChunk::from_bytes(&bytes[..len]).is_err(), "prefix of {len} bytes accepted");
        }
        let mut wrong_count = bytes.to_vec();
        wrong_count[1] = 200;
        assert_eq!(XorChunk::from_bytes(&wrong_count).err().map(|e| e.code()), Some(ErrorCode::Internal));
    }

    #[test]
    fn invalid_window_is_an_error() {
        // Second sample: delta 1, then value bits `1 1`, leading 31 (`11111`), significant 63
        // (`111111`): 31 + 63 > 64.
        let mut bytes = vec![0x00, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x01];
        bytes.extend_from_slice(&[0xff, 0xf8, 0x00, 0x00]);
        assert!(matches!(XorChunk::from_bytes(&bytes), Err(ChunkError::InvalidWindow { .. })));
    }

    #[test]
    fn appending_after_from_bytes_matches_appending_from_scratch() {
        let samples: Vec<(i64, f64)> =
            (0..50).map(|i| (i * 15_000 + (i % 3), (i * i) as f64 * 0.5)).collect();
        for split in 0..samples.len() {
            let prefix = encode(&samples[..split]);
            let mut resumed = XorChunk::from_bytes(prefix.bytes()).expect("valid");
            for &(t, v) in &samples[split..] {
                resumed.append(t, v).expect("room");
            }
            assert_eq!(resumed.bytes(), encode(&samples).bytes(), "split at {split}");
        }
    }

    #[test]
    fn reserve_for_samples_extrapolates_once() {
        let mut chunk = XorChunk::new();
        for i in 0..16 {
            chunk.append(i * 15_000, (i * 7) as f64).expect("room");
        }
        chunk.reserve_for_samples(120);
        let reserved = chunk.heap_bytes();
        assert!(reserved >= chunk.bytes().len() * 120 / 16, "reserved {reserved}");
        for i in 16..120 {
            chunk.append(i * 15_000, (i * 7) as f64).expect("room");
        }
        assert_eq!(chunk.heap_bytes(), reserved, "no regrowth for a steady series");
    }

    #[test]
    fn full_chunk_refuses_more_samples() {
        let mut chunk = XorChunk::new();
        for i in 0..MAX_SAMPLES_PER_CHUNK as i64 {
            chunk.append(i, 0.0).expect("room");
        }
        assert_eq!(chunk.append(1 << 20, 1.0), Err(ChunkError::Full));
        assert_eq!(chunk.iter().count(), MAX_SAMPLES_PER_CHUNK);
    }

    /// The decoder as first written (one bit at a time from the byte slice), kept as the
    /// reference the register-based decoder must match sample for sample and error for error.
    fn reference_decode(bytes: &[u8]) -> (Vec<(i64, u64)>, Option<ChunkError>) {
        struct Bits<'a> {
            data: &'a [u8],
            position: usize,
        }
        impl Bits<'_> {
            fn bit(&mut self) -> Option<bool> {
                let byte = *self.data.get(self.position / 8)?;
                self.position += 1;
                Some((byte >> (7 - (self.position - 1) % 8)) & 1 == 1)
            }
            fn bits(&mut self, count: u32) -> Option<u64> {
                if self.position + count as usize > self.data.len() * 8 {
                    return None;
                }
                (0..count).try_fold(0u64, |value, _| Some((value << 1) | u64::from(self.bit()?)))
            }
        }
        let [high, low, body @ ..] = bytes else {
            return (Vec::new(), Some(ChunkError::TooShort { len: bytes.len() }));
        };
        let total = u16::from_be_bytes([*high, *low]);
        let mut bits = Bits { data: body, position: 0 };
        let mut samples = Vec::new();
        let (mut t, mut v, mut delta, mut leading, mut trailing) = (0i64, 0u64, 0u64, 0u8, 0u8);
        for sample in 0..total {
            let truncated = ChunkError::Truncated { expected: total, sample };
            let uvarint = |bits: &mut Bits<'_>| -> Result<u64, ChunkError> {
                let mut value = 0u64;
                for index in 0..MAX_VARINT_BYTES {
                    let byte = bits.bits(8).ok_or(truncated.clone())?;
                    if index == MAX_VARINT_BYTES - 1 && byte > 1 {
                        return Err(ChunkError::VarintOverflow { sample });
                    }
                    value |= (byte & 0x7f) << (7 * index);
                    if byte < 0x80 {
                        return Ok(value);
                    }
                }
                Err(ChunkError::VarintOverflow { sample })
            };
            let step = (|| -> Result<(), ChunkError> {
                if sample == 0 {
                    let raw = uvarint(&mut bits)?;
                    t = ((raw >> 1) as i64) ^ -((raw & 1) as i64);
                    v = bits.bits(64).ok_or(truncated.clone())?;
                    return Ok(());
                }
                if sample == 1 {
                    delta = uvarint(&mut bits)?;
                } else {
                    let mut ones = 0;
                    while ones < 4 && bits.bit().ok_or(truncated.clone())? {
                        ones += 1;
                    }
                    let dod = match ones {
                        0 => 0,
                        4 => bits.bits(64).ok_or(truncated.clone())?,
                        _ => {
                            let width = [14, 17, 20][ones - 1];
                            let raw = bits.bits(width).ok_or(truncated.clone())?;
                            if raw > (1u64 << (width - 1)) {
                                raw.wrapping_sub(1u64 << width)
                            } else {
                                raw
                            }
                        }
                    };
                    delta = delta.wrapping_add(dod);
                }
                t = t.wrapping_add(delta as i64);
                if !bits.bit().ok_or(truncated.clone())? {
                    return Ok(());
                }
                if bits.bit().ok_or(truncated.clone())? {
                    let lead = bits.bits(5).ok_or(truncated.clone())? as u8;
                    let significant = match bits.bits(6).ok_or(truncated.clone())? as u8 {
                        0 => 64,
                        s => s,
                    };
                    if u32::from(lead) + u32::from(significant) > 64 {
                        return Err(ChunkError::InvalidWindow { sample, leading: lead, significant });
                    }
                    leading = lead;
                    trailing = 64 - lead - significant;
                }
                let significant = 64 - u32::from(leading) - u32::from(trailing);
                v ^= bits.bits(significant).ok_or(truncated.clone())? << trailing;
                Ok(())
            })();
            if let Err(err) = step {
                return (samples, Some(err));
            }
            samples.push((t, v));
        }
        (samples, None)
    }

    /// Decodes `bytes` with the iterator and with `decode_into`, checks that both agree, and
    /// returns what they decoded.
    fn fast_decode(bytes: &[u8]) -> (Vec<(i64, u64)>, Option<ChunkError>) {
        let mut iter = XorIter::new(bytes);
        let iterated: Vec<(i64, u64)> = iter.by_ref().map(|(t, v)| (t, v.to_bits())).collect();
        let mut bulk = Vec::new();
        let mut bulk_iter = XorIter::new(bytes);
        let result = bulk_iter.decode_into(&mut bulk);
        let bulk: Vec<(i64, u64)> = bulk.iter().map(|s| (s.timestamp_ms, s.value.to_bits())).collect();
        assert_eq!(bulk, iterated, "decode_into and the iterator disagree");
        assert_eq!(result.err().as_ref(), iter.error());
        assert_eq!(bulk_iter.error(), iter.error());
        (iterated, iter.error().cloned())
    }

    #[test]
    fn decode_range_into_keeps_the_range_and_stops_after_it() {
        let samples: Vec<(i64, f64)> = (0..120).map(|i| (i * 15_000, i as f64)).collect();
        let chunk = encode(&samples);
        let mut out = Vec::new();
        let mut iter = chunk.iter();
        iter.decode_range_into(30_000, 60_000, &mut out).expect("valid chunk");
        let times: Vec<i64> = out.iter().map(|s| s.timestamp_ms).collect();
        assert_eq!(times, vec![30_000, 45_000, 60_000]);
        assert_eq!(iter.next(), Some((90_000, 6.0)), "stopped after consuming 75,000");
    }

    #[test]
    fn decode_into_reports_the_error_after_the_good_samples() {
        let chunk = encode(&[(1000, 1.0), (2000, 1.5), (3000, 2.0)]);
        let bytes = &chunk.bytes()[..chunk.bytes().len() - 2];
        let mut out = Vec::new();
        let mut iter = XorIter::new(bytes);
        let err = iter.decode_into(&mut out).expect_err("truncated");
        assert!(matches!(err, ChunkError::Truncated { expected: 3, .. }), "{err:?}");
        assert_eq!(iter.error(), Some(&err));
        assert_eq!(out.len(), reference_decode(bytes).0.len());
        assert_eq!(iter.decode_into(&mut out), Err(err), "the error sticks");
    }

    fn increasing_samples() -> impl Strategy<Value = Vec<(i64, f64)>> {
        let start = any::<i64>().prop_map(|t| t / 4);
        let steps = prop::collection::vec(
            (
                prop_oneof![0i64..3, 14_990i64..15_010, 0i64..(1 << 22), 0i64..(1 << 40)],
                prop_oneof![
                    any::<u64>().prop_map(f64::from_bits),
                    Just(f64::from_bits(STALE_NAN_BITS)),
                    (0u32..1000).prop_map(f64::from),
                    any::<f64>(),
                ],
            ),
            0..300,
        );
        (start, steps).prop_map(|(start, steps)| {
            let mut t = start;
            steps
                .into_iter()
                .map(|(step, v)| {
                    t = t.saturating_add(step);
                    (t, v)
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn round_trip_increasing_timestamps_any_value_bits(samples in increasing_samples()) {
            let chunk = encode(&samples);
            let mut iter = chunk.iter();
            let decoded: Vec<_> = iter.by_ref().collect();
            prop_assert!(iter.error().is_none());
            prop_assert_eq!(bits_of(&decoded), bits_of(&samples));
            let reloaded = XorChunk::from_bytes(chunk.bytes()).expect("own chunk is valid");
            prop_assert_eq!(reloaded.bytes(), chunk.bytes());
            prop_assert_eq!(reloaded.num_samples(), samples.len());
        }

        #[test]
        fn arbitrary_timestamps_round_trip(samples in prop::collection::vec((any::<i64>(), any::<u64>()), 0..100)) {
            let samples: Vec<(i64, f64)> = samples.into_iter().map(|(t, v)| (t, f64::from_bits(v))).collect();
            let chunk = encode(&samples);
            prop_assert_eq!(bits_of(&chunk.iter().collect::<Vec<_>>()), bits_of(&samples));
        }

        #[test]
        fn fast_decoder_matches_the_reference_on_valid_and_cut_chunks(samples in increasing_samples(), cut in any::<prop::sample::Index>()) {
            let chunk = encode(&samples);
            let bytes = chunk.bytes();
            prop_assert_eq!(fast_decode(bytes), reference_decode(bytes));
            let cut = bytes[..cut.index(bytes.len() + 1)].to_vec();
            prop_assert_eq!(fast_decode(&cut), reference_decode(&cut));
        }

        #[test]
        fn fast_decoder_matches_the_reference_on_corrupt_chunks(
            samples in increasing_samples(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..4),
        ) {
            let chunk = encode(&samples);
            let mut bytes = chunk.bytes().to_vec();
            for (flip, bit) in flips {
                let index = flip.index(bytes.len());
                bytes[index] ^= 1 << bit;
            }
            prop_assert_eq!(fast_decode(&bytes), reference_decode(&bytes));
        }

        #[test]
        fn fast_decoder_matches_the_reference_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(fast_decode(&bytes), reference_decode(&bytes));
        }

        #[test]
        fn corrupt_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = XorChunk::from_bytes(&bytes);
            let _ = XorIter::new(&bytes).count();
        }

        #[test]
        fn flipped_bits_never_panic(samples in increasing_samples(), flip in any::<prop::sample::Index>(), bit in 0u8..8) {
            let chunk = encode(&samples);
            let mut bytes = chunk.bytes().to_vec();
            let index = flip.index(bytes.len());
            bytes[index] ^= 1 << bit;
            if let Ok(mut reloaded) = XorChunk::from_bytes(&bytes) {
                // Whatever decoded must still extend cleanly.
                let _ = reloaded.append(i64::MAX, 1.0);
                let _ = reloaded.iter().count();
            }
        }
    }
}
