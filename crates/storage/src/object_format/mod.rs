//! The chunk object format: what a chunk object holds, so a reader needs nothing else.
//!
//! ```text
//! magic     4 bytes  "NCCK"
//! version   1 byte   2 (1 is still read)
//! encoding  1 byte   0 = plain, 1 = zstd (the body below is one zstd frame)
//! body, version 2:
//!   labels      uvarint count, then per label: uvarint length + name, uvarint length + value
//!   samples     uvarint count
//!   timestamps  see `timestamps`: first, step, then grid or delta residuals as an integer column
//!   values      see `values`: constant, decimal mantissas (delta or delta of delta, divided by
//!               their gcd, exceptions kept bit for bit) or Gorilla XOR
//! body, version 1:
//!   labels      as above
//!   chunk       the rest: one Prometheus XOR chunk (2-byte sample count + bit stream)
//! ```
//!
//! Integer columns (see `ints`) are zigzag varints or frame-of-reference bit-packed blocks,
//! whichever compresses smaller. A version-2 object holds every sample of a series that one
//! flush wrote, however many in-memory chunks they came from. The object's CRC-32C (Castagnoli)
//! is the checksum in its key, so a reader verifies that the bytes it got are the bytes that
//! were written.

mod bits;
mod ints;
mod timestamps;
mod values;

use neocortex_chunk::XorIter;
use neocortex_core::{Label, Labels, Sample};

use crate::error::StorageError;
use ints::{put_uvarint, Reader};

/// First bytes of every chunk object.
pub const MAGIC: &[u8; 4] = b"NCCK";
/// The format version written.
pub const FORMAT_VERSION: u8 = 2;
/// The first version: labels plus one Prometheus XOR chunk. Still read.
pub const FORMAT_VERSION_XOR: u8 = 1;
const HEADER_LEN: usize = 6;
/// zstd level of compressed bodies. Objects are written once per flush and read many times;
/// decompression speed does not depend on the level, so a high one is affordable.
const ZSTD_LEVEL: i32 = 19;
/// Most samples one object may hold (a guard against hostile counts, far above a flush's).
pub const MAX_SAMPLES: usize = 1 << 22;

/// How the body of an object is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyEncoding {
    /// As is.
    Plain,
    /// One zstd frame.
    #[default]
    Zstd,
}

impl BodyEncoding {
    fn tag(self) -> u8 {
        match self {
            BodyEncoding::Plain => 0,
            BodyEncoding::Zstd => 1,
        }
    }
}

/// A decoded chunk object.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkObject {
    /// The series.
    pub labels: Labels,
    /// Its samples, in the order they were written (time order for everything the store writes).
    pub samples: Vec<Sample>,
}

fn put_labels(body: &mut Vec<u8>, labels: &Labels) {
    put_uvarint(body, labels.len() as u64);
    for label in labels {
        put_uvarint(body, label.name.len() as u64);
        body.extend_from_slice(label.name.as_bytes());
        put_uvarint(body, label.value.len() as u64);
        body.extend_from_slice(label.value.as_bytes());
    }
}

fn with_header(version: u8, body: Vec<u8>, encoding: BodyEncoding) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(MAGIC);
    out.push(version);
    out.push(encoding.tag());
    match encoding {
        BodyEncoding::Plain => out.extend_from_slice(&body),
        BodyEncoding::Zstd => match zstd::bulk::compress(&body, ZSTD_LEVEL) {
            Ok(compressed) => out.extend_from_slice(&compressed),
            Err(_) => {
                // Compression of an in-memory buffer does not fail in practice; fall back to plain.
                out[HEADER_LEN - 1] = BodyEncoding::Plain.tag();
                out.extend_from_slice(&body);
            }
        },
    }
    out
}

/// Encodes a version-2 object holding `labels` and `samples` (at most [`MAX_SAMPLES`]; the
/// write path gives them in time order, but any order round-trips).
pub fn encode(labels: &Labels, samples: &[Sample], encoding: BodyEncoding) -> Vec<u8> {
    let labels_len: usize = labels.iter().map(|l| l.name.len() + l.value.len() + 10).sum();
    let mut body = Vec::with_capacity(labels_len + samples.len() * 4 + 16);
    put_labels(&mut body, labels);
    put_uvarint(&mut body, samples.len() as u64);
    let times: Vec<i64> = samples.iter().map(|s| s.timestamp_ms).collect();
    timestamps::put(&mut body, &times);
    let values: Vec<f64> = samples.iter().map(|s| s.value).collect();
    values::put(&mut body, &values);
    with_header(FORMAT_VERSION, body, encoding)
}

/// Where the bytes of a version-2 zstd object go, so benchmarks can show which part of the data
/// costs what. Each figure is what its section adds to one zstd frame of the sections before it
/// (labels first, then the sample count and timestamps, then values), so the three add up to the
/// object's length minus its fixed header; the frame's own overhead counts towards the labels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SectionSizes {
    /// The label set (and the zstd frame header).
    pub labels: usize,
    /// The sample count and the timestamp column.
    pub timestamps: usize,
    /// The value column.
    pub values: usize,
    /// The whole object, header included.
    pub object: usize,
}

/// Measures [`SectionSizes`] for the object [`encode`] would write with [`BodyEncoding::Zstd`].
pub fn section_sizes(labels: &Labels, samples: &[Sample]) -> SectionSizes {
    let compressed = |body: &[u8]| zstd::bulk::compress(body, ZSTD_LEVEL).map_or(body.len(), |c| c.len());
    let mut body = Vec::new();
    put_labels(&mut body, labels);
    let labels_len = compressed(&body);
    put_uvarint(&mut body, samples.len() as u64);
    let times: Vec<i64> = samples.iter().map(|s| s.timestamp_ms).collect();
    timestamps::put(&mut body, &times);
    let through_timestamps = compressed(&body);
    let object = encode(labels, samples, BodyEncoding::Zstd).len();
    SectionSizes {
        labels: labels_len,
        timestamps: through_timestamps.saturating_sub(labels_len),
        values: object.saturating_sub(HEADER_LEN + through_timestamps),
        object,
    }
}

/// Encodes a version-1 object holding `labels` and one XOR chunk, the format written before
/// version 2 (kept so that readers stay tested against objects already in stores).
pub fn encode_xor_v1(labels: &Labels, chunk: &[u8], encoding: BodyEncoding) -> Vec<u8> {
    let labels_len: usize = labels.iter().map(|l| l.name.len() + l.value.len() + 10).sum();
    let mut body = Vec::with_capacity(labels_len + chunk.len() + 5);
    put_labels(&mut body, labels);
    body.extend_from_slice(chunk);
    with_header(FORMAT_VERSION_XOR, body, encoding)
}

/// The checksum of an encoded object, as its key carries it.
pub fn checksum(object: &[u8]) -> u32 {
    crc32c::crc32c(object)
}

/// Longest body a compressed object may expand to (a 65,535-sample chunk plus labels fits).
const MAX_BODY_LEN: usize = 64 << 20;

/// Decodes an object of either version, refusing anything malformed (never panics on input).
pub fn decode(object: &[u8]) -> Result<ChunkObject, StorageError> {
    let opened = open(object)?;
    let mut samples = Vec::new();
    opened.decode_samples_into(&mut samples)?;
    Ok(ChunkObject { labels: opened.labels, samples })
}

/// An object whose labels are read and whose samples are still encoded, so a reader can hold
/// many series compactly and decode each one when it gets to it.
#[derive(Debug, Clone)]
pub struct OpenedObject {
    /// The series.
    pub labels: Labels,
    /// The format version (which sample encoding `samples` holds).
    version: u8,
    /// The encoded samples: the uncompressed body after the labels.
    samples: Box<[u8]>,
}

impl OpenedObject {
    /// Appends the object's samples to `out` in the order they were written; refuses malformed
    /// sample data (never panics on input).
    pub fn decode_samples_into(&self, out: &mut Vec<Sample>) -> Result<(), StorageError> {
        if self.version == FORMAT_VERSION_XOR {
            return decode_xor_chunk(&self.samples, out);
        }
        let mut reader = Reader::new(&self.samples);
        decode_columns(&mut reader, out).ok_or_else(|| {
            StorageError::corrupt("chunk object", "truncated or malformed sample columns".to_string())
        })
    }

    /// Bytes held for the encoded samples.
    pub fn encoded_len(&self) -> usize {
        self.samples.len()
    }
}

thread_local! {
    /// A decompression context per thread: creating one per object costs more than decompressing
    /// a small object.
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// Decompresses one zstd frame of at most [`MAX_BODY_LEN`] bytes.
fn decompress(frame: &[u8]) -> std::io::Result<Vec<u8>> {
    DECOMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        let decompressor = match cell.as_mut() {
            Some(decompressor) => decompressor,
            None => cell.insert(zstd::bulk::Decompressor::new()?),
        };
        decompressor.decompress(frame, MAX_BODY_LEN)
    })
}

/// Reads an object's header and labels (decompressing its body), leaving the samples encoded;
/// refuses anything malformed (never panics on input).
pub fn open(object: &[u8]) -> Result<OpenedObject, StorageError> {
    let corrupt = |message: &str| StorageError::corrupt("chunk object", message.to_string());
    if object.len() < HEADER_LEN || &object[..4] != MAGIC {
        return Err(corrupt("missing magic"));
    }
    let version = object[4];
    if version != FORMAT_VERSION && version != FORMAT_VERSION_XOR {
        return Err(corrupt(&format!("unknown format version {version}")));
    }
    let decompressed;
    let body: &[u8] = match object[5] {
        0 => &object[HEADER_LEN..],
        1 => {
            decompressed =
                decompress(&object[HEADER_LEN..]).map_err(|err| corrupt(&format!("zstd: {err}")))?;
            &decompressed
        }
        other => return Err(corrupt(&format!("unknown body encoding {other}"))),
    };
    let mut reader = Reader::new(body);
    let count = reader.count(body.len()).ok_or_else(|| corrupt("truncated or oversized label count"))?;
    let mut labels = Vec::with_capacity(count);
    for _ in 0..count {
        let name = reader.string().ok_or_else(|| corrupt("truncated or non-utf8 label name"))?;
        let value = reader.string().ok_or_else(|| corrupt("truncated or non-utf8 label value"))?;
        labels.push(Label { name, value });
    }
    if labels.windows(2).any(|pair| pair[0].name >= pair[1].name) {
        return Err(corrupt("labels not sorted by name"));
    }
    let labels = Labels::from_sorted(labels);
    Ok(OpenedObject { labels, version, samples: body[reader.position()..].into() })
}

/// Appends the samples of a version-1 XOR chunk to `out` with the chunk's bulk decoder;
/// leaves `out` as it was when the chunk is corrupt.
fn decode_xor_chunk(chunk: &[u8], out: &mut Vec<Sample>) -> Result<(), StorageError> {
    let base = out.len();
    XorIter::new(chunk).decode_into(out).map_err(|err| {
        out.truncate(base);
        StorageError::corrupt("chunk", err.to_string())
    })
}

/// Appends the samples of a version-2 body (from the sample count on) to `out`, timestamps
/// first and then the values written into the same samples, with no intermediate vectors.
/// Leaves `out` as it was when the columns are malformed.
fn decode_columns(reader: &mut Reader<'_>, out: &mut Vec<Sample>) -> Option<()> {
    let base = out.len();
    let decoded = (|| {
        let len = reader.count(MAX_SAMPLES)?;
        timestamps::read_into(reader, len, out)?;
        let samples = out.get_mut(base..)?;
        if samples.len() != len {
            return None;
        }
        values::read_into(reader, samples)?;
        (reader.remaining() == 0).then_some(())
    })();
    if decoded.is_none() {
        out.truncate(base);
    }
    decoded
}

#[cfg(test)]
mod tests {
    use super::*;
    use neocortex_chunk::XorChunk;
    use proptest::prelude::*;

    const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

    fn samples() -> Vec<Sample> {
        (0..100).map(|i| Sample { timestamp_ms: 1_000 + i * 15_000, value: i as f64 * 1.5 }).collect()
    }

    fn bits(samples: &[Sample]) -> Vec<(i64, u64)> {
        samples.iter().map(|s| (s.timestamp_ms, s.value.to_bits())).collect()
    }

    #[test]
    fn round_trip_both_encodings() {
        let labels = Labels::from_pairs([("__name__", "up"), ("job", "node")]);
        for encoding in [BodyEncoding::Plain, BodyEncoding::Zstd] {
            let object = encode(&labels, &samples(), encoding);
            assert_eq!(&object[..4], MAGIC);
            assert_eq!(object[4], FORMAT_VERSION);
            assert_eq!(object[5], encoding.tag());
            let decoded = decode(&object).unwrap();
            assert_eq!(decoded.labels, labels);
            assert_eq!(decoded.samples, samples());
        }
    }

    #[test]
    fn section_sizes_add_up_to_the_object() {
        let labels = Labels::from_pairs([("__name__", "node_load1"), ("instance", "node-00001:9100")]);
        let samples: Vec<Sample> = (0..1_000i64)
            .map(|i| Sample { timestamp_ms: 1_000 + i * 15_000, value: ((i * 7_919) % 1_000) as f64 / 100.0 })
            .collect();
        let sizes = section_sizes(&labels, &samples);
        assert_eq!(sizes.object, encode(&labels, &samples, BodyEncoding::Zstd).len());
        assert_eq!(sizes.labels + sizes.timestamps + sizes.values + HEADER_LEN, sizes.object);
        assert!(sizes.labels > 10, "{sizes:?}");
        // Exact 15 s steps cost a few bytes; a thousand scattered values far more.
        assert!(sizes.timestamps < sizes.values, "{sizes:?}");
    }

    #[test]
    fn version_one_objects_are_still_read() {
        let labels = Labels::from_pairs([("__name__", "up")]);
        let mut chunk = XorChunk::new();
        for sample in samples() {
            chunk.append(sample.timestamp_ms, sample.value).unwrap();
        }
        for encoding in [BodyEncoding::Plain, BodyEncoding::Zstd] {
            let object = encode_xor_v1(&labels, chunk.bytes(), encoding);
            assert_eq!(object[4], FORMAT_VERSION_XOR);
            let decoded = decode(&object).unwrap();
            assert_eq!(decoded.labels, labels);
            assert_eq!(decoded.samples, samples());
        }
    }

    #[test]
    fn empty_and_single_sample_objects() {
        let labels = Labels::from_pairs([("__name__", "up")]);
        assert!(decode(&encode(&labels, &[], BodyEncoding::Zstd)).unwrap().samples.is_empty());
        let one = [Sample { timestamp_ms: -5, value: f64::from_bits(STALE_NAN) }];
        assert_eq!(bits(&decode(&encode(&labels, &one, BodyEncoding::Plain)).unwrap().samples), bits(&one));
    }

    #[test]
    fn refuses_malformed_objects() {
        let labels = Labels::from_pairs([("__name__", "up")]);
        let object = encode(&labels, &samples(), BodyEncoding::Plain);
        assert!(decode(&object[..3]).is_err());
        let mut wrong_version = object.clone();
        wrong_version[4] = 9;
        assert!(decode(&wrong_version).is_err());
        let mut wrong_encoding = object.clone();
        wrong_encoding[5] = 7;
        assert!(decode(&wrong_encoding).is_err());
        for cut in HEADER_LEN..object.len() {
            assert!(decode(&object[..cut]).is_err(), "object cut at {cut} must be refused");
        }
        let mut trailing = object.clone();
        trailing.push(0);
        assert!(decode(&trailing).is_err());
    }

    fn special_value() -> impl Strategy<Value = f64> {
        prop_oneof![
            Just(f64::from_bits(STALE_NAN)),
            Just(f64::NAN),
            Just(-0.0),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            any::<u64>().prop_map(f64::from_bits),
        ]
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), plain in any::<bool>(), version in 1u8..=2) {
            let mut object = MAGIC.to_vec();
            object.push(version);
            object.push(if plain { 0 } else { 1 });
            object.extend_from_slice(&bytes);
            let _ = decode(&object);
        }

        #[test]
        fn scrape_like_series_round_trip_bit_for_bit(
            start in -10_000_000_000_000i64..10_000_000_000_000,
            interval in 1i64..120_000,
            jitter in proptest::collection::vec(-5i64..5, 1..400),
            base in -1_000_000i64..1_000_000,
            steps in proptest::collection::vec(-3_000i64..3_000, 400),
            decimals in 0i32..7,
            specials in proptest::collection::vec((0usize..400, special_value()), 0..6),
        ) {
            let mut m = base;
            let mut samples: Vec<Sample> = jitter.iter().enumerate().map(|(i, j)| {
                m += steps[i];
                Sample { timestamp_ms: start + i as i64 * interval + j, value: m as f64 / 10f64.powi(decimals) }
            }).collect();
            for (index, value) in specials {
                let len = samples.len();
                samples[index % len].value = value;
            }
            let labels = Labels::from_pairs([("__name__", "m"), ("a", "b")]);
            let decoded = decode(&encode(&labels, &samples, BodyEncoding::Zstd)).unwrap();
            prop_assert_eq!(decoded.labels, labels);
            prop_assert_eq!(bits(&decoded.samples), bits(&samples));
        }

        #[test]
        fn arbitrary_samples_round_trip_bit_for_bit(raw in proptest::collection::vec((any::<i64>(), any::<u64>()), 0..200)) {
            let samples: Vec<Sample> = raw.iter().map(|(t, v)| Sample { timestamp_ms: *t, value: f64::from_bits(*v) }).collect();
            let labels = Labels::from_pairs([("__name__", "m")]);
            let decoded = decode(&encode(&labels, &samples, BodyEncoding::Plain)).unwrap();
            prop_assert_eq!(bits(&decoded.samples), bits(&samples));
        }
    }
}
