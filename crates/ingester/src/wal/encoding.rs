//! The bytes of the WAL: framed records (length + CRC-32C), varints, and the two record kinds —
//! a push record (new series + accepted samples of one push) and a checkpoint record (series
//! with their chunks). Pure functions, no I/O; decoding never panics on bad input.

use neocortex_core::{Label, Labels};

/// Bytes before each record's payload: payload length (u32 LE) and CRC-32C of the payload.
pub(crate) const FRAME_HEADER: usize = 8;
/// Largest payload a reader accepts; a longer length field is corruption.
pub(crate) const MAX_RECORD: usize = 256 << 20;
/// Record type: the new series and accepted samples of one push.
pub(crate) const TYPE_PUSH: u8 = 1;
/// Record type: a batch of series with their chunks, in a checkpoint.
pub(crate) const TYPE_CHECKPOINT: u8 = 2;

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The record ends before a field does.
    #[error("record truncated")]
    Truncated,
    /// A field holds a value that cannot be right.
    #[error("invalid record: {0}")]
    Invalid(&'static str),
}

/// Appends `value` as an unsigned LEB128 varint.
#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Zigzag-maps a signed value so small magnitudes encode short.
#[inline]
pub(crate) fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

#[inline]
fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

#[inline]
pub(crate) fn put_signed(out: &mut Vec<u8>, value: i64) {
    put_varint(out, zigzag(value));
}

pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Largest integer magnitude stored as a varint (beyond it f64 loses integer precision).
const MAX_EXACT_INT: u64 = 1 << 52;

/// A value: integral values (most counters and many gauges) as `zigzag(v) << 1`, anything else
/// (fractions, NaN, staleness markers, infinities, -0) as the flag `1` plus its 8 raw bytes.
#[inline]
pub(crate) fn put_value(out: &mut Vec<u8>, value: f64) {
    let integer = value as i64;
    if integer.unsigned_abs() < MAX_EXACT_INT && (integer as f64).to_bits() == value.to_bits() {
        put_varint(out, zigzag(integer) << 1);
    } else {
        out.push(1);
        out.extend_from_slice(&value.to_bits().to_le_bytes());
    }
}

/// Frames `payload` (type byte first) into `out`: length, CRC-32C, payload.
pub(crate) fn frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// What reading one frame from a buffer gave.
#[cfg(test)]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// A whole, checksum-valid record payload and the bytes it took.
    Record(&'a [u8], usize),
    /// Nothing left.
    End,
    /// A torn or corrupt record starts here.
    Bad(&'static str),
}

/// Reads the frame at the start of `bytes` (the framing the segment reader applies to files).
#[cfg(test)]
pub(crate) fn read_frame(bytes: &[u8]) -> Frame<'_> {
    if bytes.is_empty() {
        return Frame::End;
    }
    if bytes.len() < FRAME_HEADER {
        return Frame::Bad("torn record header");
    }
    let length = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let crc = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    if length == 0 || length > MAX_RECORD {
        return Frame::Bad("invalid record length");
    }
    let Some(payload) = bytes.get(FRAME_HEADER..FRAME_HEADER + length) else {
        return Frame::Bad("torn record");
    };
    if crc32c::crc32c(payload) != crc {
        return Frame::Bad("checksum mismatch");
    }
    Frame::Record(payload, FRAME_HEADER + length)
}

/// A cursor over a record payload.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, position: 0 }
    }

    #[inline]
    pub(crate) fn byte(&mut self) -> Result<u8, DecodeError> {
        let byte = *self.bytes.get(self.position).ok_or(DecodeError::Truncated)?;
        self.position += 1;
        Ok(byte)
    }

    #[inline]
    pub(crate) fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        let mut shift = 0;
        loop {
            let byte = self.byte()?;
            if shift == 63 && byte > 1 {
                return Err(DecodeError::Invalid("varint overflows 64 bits"));
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
            shift += 7;
            if shift > 63 {
                return Err(DecodeError::Invalid("varint too long"));
            }
        }
    }

    #[inline]
    pub(crate) fn signed(&mut self) -> Result<i64, DecodeError> {
        self.varint().map(unzigzag)
    }

    /// A count of items that each take at least one byte (so a bad count cannot allocate much).
    pub(crate) fn count(&mut self) -> Result<usize, DecodeError> {
        let count = self.varint()?;
        if count > self.remaining() as u64 {
            return Err(DecodeError::Invalid("count larger than the record"));
        }
        Ok(count as usize)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        u32::try_from(self.varint()?).map_err(|_| DecodeError::Invalid("value exceeds 32 bits"))
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let length = self.count()?;
        let slice = &self.bytes[self.position..self.position + length];
        self.position += length;
        Ok(slice)
    }

    pub(crate) fn string(&mut self) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| DecodeError::Invalid("string is not UTF-8"))
    }

    pub(crate) fn fixed_u64(&mut self) -> Result<u64, DecodeError> {
        let slice = self.bytes.get(self.position..self.position + 8).ok_or(DecodeError::Truncated)?;
        self.position += 8;
        let mut word = [0u8; 8];
        word.copy_from_slice(slice);
        Ok(u64::from_le_bytes(word))
    }

    #[inline]
    pub(crate) fn value(&mut self) -> Result<f64, DecodeError> {
        let head = self.varint()?;
        if head & 1 == 0 {
            return Ok(unzigzag(head >> 1) as f64);
        }
        if head != 1 {
            return Err(DecodeError::Invalid("bad value flag"));
        }
        Ok(f64::from_bits(self.fixed_u64()?))
    }

    pub(crate) fn labels(&mut self) -> Result<Labels, DecodeError> {
        let count = self.count()?;
        let mut labels = Vec::with_capacity(count);
        for _ in 0..count {
            let name = self.string()?;
            let value = self.string()?;
            labels.push(Label::new(name, value));
        }
        let sorted = labels.windows(2).all(|pair| pair[0].name < pair[1].name);
        if !sorted {
            return Err(DecodeError::Invalid("labels not sorted or repeated"));
        }
        Ok(Labels::from_sorted(labels))
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.position
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }
}

pub(crate) fn put_labels(out: &mut Vec<u8>, labels: &Labels) {
    put_varint(out, labels.len() as u64);
    for label in labels.iter() {
        put_bytes(out, label.name.as_bytes());
        put_bytes(out, label.value.as_bytes());
    }
}

/// Builds the push record of one push while the push appends to memory: the series it
/// created and the samples memory accepted, in that order. Empty when the push stored nothing.
#[derive(Debug, Default)]
pub struct RecordBuilder {
    series_count: u64,
    series: Vec<u8>,
    sample_count: u64,
    samples: Vec<u8>,
    previous_ref: u32,
    previous_timestamp_ms: i64,
}

impl RecordBuilder {
    /// Records a series created in memory under `series_ref`.
    pub(crate) fn series(&mut self, series_ref: u32, labels: &Labels) {
        self.series_count += 1;
        put_varint(&mut self.series, u64::from(series_ref));
        put_labels(&mut self.series, labels);
    }

    /// Records one sample memory accepted for `series_ref`.
    #[inline]
    pub(crate) fn sample(&mut self, series_ref: u32, timestamp_ms: i64, value: f64) {
        if self.samples.capacity() == 0 {
            self.samples.reserve(4096);
        }
        self.sample_count += 1;
        put_signed(&mut self.samples, i64::from(series_ref) - i64::from(self.previous_ref));
        put_signed(&mut self.samples, timestamp_ms.wrapping_sub(self.previous_timestamp_ms));
        put_value(&mut self.samples, value);
        self.previous_ref = series_ref;
        self.previous_timestamp_ms = timestamp_ms;
    }

    /// Whether nothing was recorded.
    pub(crate) fn is_empty(&self) -> bool {
        self.series_count == 0 && self.sample_count == 0
    }

    /// The framed record for `tenant`.
    pub(crate) fn finish(&self, tenant: &str) -> Vec<u8> {
        let mut framed =
            Vec::with_capacity(FRAME_HEADER + 32 + tenant.len() + self.series.len() + self.samples.len());
        framed.extend_from_slice(&[0u8; FRAME_HEADER]);
        framed.push(TYPE_PUSH);
        put_bytes(&mut framed, tenant.as_bytes());
        put_varint(&mut framed, self.series_count);
        framed.extend_from_slice(&self.series);
        put_varint(&mut framed, self.sample_count);
        framed.extend_from_slice(&self.samples);
        let length = (framed.len() - FRAME_HEADER) as u32;
        let crc = crc32c::crc32c(&framed[FRAME_HEADER..]);
        framed[..4].copy_from_slice(&length.to_le_bytes());
        framed[4..FRAME_HEADER].copy_from_slice(&crc.to_le_bytes());
        framed
    }
}

/// One decoded sample of a push record, with the writer's series ref.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RefSample {
    pub(crate) series_ref: u32,
    pub(crate) timestamp_ms: i64,
    pub(crate) value: f64,
}

/// Decodes the rest of a push record (after its type byte and tenant): calls `series` for
/// each new series, then fills `samples`.
pub(crate) fn decode_push(
    reader: &mut Reader<'_>,
    mut series: impl FnMut(u32, Labels),
    samples: &mut Vec<RefSample>,
) -> Result<(), DecodeError> {
    let series_count = reader.count()?;
    for _ in 0..series_count {
        let series_ref = reader.u32()?;
        let labels = reader.labels()?;
        series(series_ref, labels);
    }
    let sample_count = reader.count()?;
    samples.reserve(sample_count);
    let mut series_ref: i64 = 0;
    let mut timestamp_ms: i64 = 0;
    for _ in 0..sample_count {
        series_ref += reader.signed()?;
        timestamp_ms = timestamp_ms.wrapping_add(reader.signed()?);
        let value = reader.value()?;
        let series_ref =
            u32::try_from(series_ref).map_err(|_| DecodeError::Invalid("series ref out of range"))?;
        samples.push(RefSample { series_ref, timestamp_ms, value });
    }
    if !reader.is_empty() {
        return Err(DecodeError::Invalid("trailing bytes after push record"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(framed: &[u8]) -> (String, Vec<(u32, Labels)>, Vec<RefSample>) {
        let Frame::Record(payload, used) = read_frame(framed) else { panic!("bad frame") };
        assert_eq!(used, framed.len());
        assert_eq!(payload[0], TYPE_PUSH);
        let mut reader = Reader::new(&payload[1..]);
        let mut series = Vec::new();
        let mut samples = Vec::new();
        let tenant = reader.string().expect("tenant").to_string();
        decode_push(&mut reader, |r, l| series.push((r, l)), &mut samples).expect("valid");
        (tenant, series, samples)
    }

    #[test]
    fn push_record_round_trips() {
        let mut builder = RecordBuilder::default();
        assert!(builder.is_empty());
        let labels = Labels::from_pairs([("__name__", "up"), ("job", "node")]);
        builder.series(7, &labels);
        builder.sample(7, 1_000, 1.0);
        builder.sample(3, 999, 0.5);
        builder.sample(u32::MAX, -5, f64::NAN);
        builder.sample(0, i64::MAX, -0.0);
        builder.sample(9, i64::MIN, f64::from_bits(0x7ff0_0000_0000_0002)); // staleness-like NaN
        builder.sample(9, 0, 4_503_599_627_370_496.0); // 2^52: stored raw
        let (tenant, series, samples) = decode_all(&builder.finish("team-a"));
        assert_eq!(tenant, "team-a");
        assert_eq!(series, vec![(7, labels)]);
        let expected = [
            (7, 1_000, 1.0f64),
            (3, 999, 0.5),
            (u32::MAX, -5, f64::NAN),
            (0, i64::MAX, -0.0),
            (9, i64::MIN, f64::from_bits(0x7ff0_0000_0000_0002)),
            (9, 0, 4_503_599_627_370_496.0),
        ];
        assert_eq!(samples.len(), expected.len());
        for (sample, (series_ref, timestamp_ms, value)) in samples.iter().zip(expected) {
            assert_eq!(sample.series_ref, series_ref);
            assert_eq!(sample.timestamp_ms, timestamp_ms);
            assert_eq!(sample.value.to_bits(), value.to_bits());
        }
    }

    #[test]
    fn integral_samples_are_compact() {
        let mut builder = RecordBuilder::default();
        for i in 0..500u32 {
            builder.sample(i, 1_700_000_000_000 + i64::from(i % 50), f64::from(i * 1000));
        }
        let framed = builder.finish("fake");
        assert!(framed.len() < 500 * 6, "{} bytes for 500 samples", framed.len());
    }

    #[test]
    fn damaged_frames_are_reported_not_decoded() {
        let mut builder = RecordBuilder::default();
        builder.sample(1, 1, 1.0);
        let framed = builder.finish("t");
        for cut in 1..framed.len() {
            assert!(matches!(read_frame(&framed[..cut]), Frame::Bad(_)), "cut at {cut}");
        }
        let mut flipped = framed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x10;
        assert_eq!(read_frame(&flipped), Frame::Bad("checksum mismatch"));
        assert_eq!(read_frame(&[0u8; 16]), Frame::Bad("invalid record length"));
        assert_eq!(read_frame(&[]), Frame::End);
    }

    #[test]
    fn malformed_payloads_give_errors() {
        let mut samples = Vec::new();
        for payload in [&[][..], &[5, b'a'], &[1, 200], &[0, 1, 0, 0, 3, 7]] {
            assert!(decode_push(&mut Reader::new(payload), |_, _| {}, &mut samples).is_err(), "{payload:?}");
        }
        let mut unsorted = Vec::new();
        put_varint(&mut unsorted, 1);
        put_varint(&mut unsorted, 1);
        put_varint(&mut unsorted, 2);
        for text in ["b", "1", "a", "2"] {
            put_bytes(&mut unsorted, text.as_bytes());
        }
        put_varint(&mut unsorted, 0);
        assert_eq!(
            decode_push(&mut Reader::new(&unsorted), |_, _| {}, &mut samples),
            Err(DecodeError::Invalid("labels not sorted or repeated"))
        );
    }

    proptest! {
        #[test]
        fn any_samples_round_trip(raw in proptest::collection::vec((any::<u32>(), any::<i64>(), any::<u64>()), 0..200)) {
            let mut builder = RecordBuilder::default();
            for &(series_ref, timestamp_ms, bits) in &raw {
                builder.sample(series_ref, timestamp_ms, f64::from_bits(bits));
            }
            let (_, _, samples) = decode_all(&builder.finish("p"));
            prop_assert_eq!(samples.len(), raw.len());
            for (sample, &(series_ref, timestamp_ms, bits)) in samples.iter().zip(&raw) {
                prop_assert_eq!(sample.series_ref, series_ref);
                prop_assert_eq!(sample.timestamp_ms, timestamp_ms);
                prop_assert_eq!(sample.value.to_bits(), bits);
            }
        }

        #[test]
        fn integral_values_round_trip(value in -(1i64 << 53)..(1i64 << 53)) {
            let mut out = Vec::new();
            put_value(&mut out, value as f64);
            prop_assert_eq!(Reader::new(&out).value().expect("decodes").to_bits(), (value as f64).to_bits());
        }
    }
}
