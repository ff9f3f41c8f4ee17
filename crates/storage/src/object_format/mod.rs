//! The chunk object format: what a chunk object holds, so a reader needs nothing else.
//!
//! ```text
//! magic     4 bytes  "NCCK"
//! version   1 byte   4 (1, 2 and 3 are still read)
//! encoding  1 byte   0 = plain, 1 = zstd (the body below is one zstd frame)
//! body, version 4 (segmented):
//!   labels      uvarint count, then per label: uvarint length + name, uvarint length + value
//!   samples     uvarint count
//!   segment     uvarint samples per segment (the last segment holds the rest)
//!   timestamps  1 byte: 0 = each segment starts with its own timestamp column, 1 = shared with
//!               other series, followed by where they are: fingerprint (8 bytes LE), from and
//!               through (zigzag varints), checksum (4 bytes LE) of a timestamps object of the
//!               same tenant
//!   table       per segment, oldest first: its byte length (uvarint) and its first timestamp
//!               (zigzag varint; after the first segment, the difference from the previous one's)
//!   segments    newest first: its timestamp column (unless shared), then its value column
//! body, version 2 (one segment, timestamps inline, no table):
//!   labels      as above
//!   samples     uvarint count
//!   timestamps  see `timestamps`: first, step, then grid or delta residuals as an integer column
//!   values      see `values`: constant, decimal mantissas (delta or delta of delta, divided by
//!               their gcd, exceptions kept bit for bit) or Gorilla XOR
//! body, version 3 (one segment, timestamps shared, no table):
//!   labels      as above
//!   samples     uvarint count
//!   timestamps  the timestamps object's reference, as in version 4
//!   values      as above
//! body, version 1:
//!   labels      as above
//!   chunk       the rest: one Prometheus XOR chunk (2-byte sample count + bit stream)
//! ```
//!
//! **Segments** let a range read decode only what it needs. A flush writes every sample of a
//! series since the last one into one object, up to a day of them, while a dashboard asks for
//! the last hour. Each segment of [`SEGMENT_SAMPLES`] samples restarts its columns (its own
//! first timestamp, first mantissa and encodings), so a reader that knows from the table which
//! segments overlap a time range decodes those and skips the rest. Segments are written only
//! for strictly increasing timestamps (everything the write path stores); otherwise the object
//! is one segment. They are stored newest first, and a zstd body ends a block after the head
//! and newest segment and after each later segment, so a reader of recent samples
//! ([`open_range`]) stops decompressing after the segments it needs. Restarts, table and block
//! ends cost about 0.02 bytes per sample.
//!
//! Every series scraped from one target carries the same timestamps, and jittered scrape times
//! cost about a quarter of an object. So when several series of a flush share a timestamp
//! column, it is written once as a **timestamps object** (magic "NCTS", version 1, encoding
//! byte, body = uvarint count + the timestamp column) keyed like a chunk,
//! `<user>/<fingerprint>:<from>:<through>:<checksum>`, with the FNV-1a 64 of the timestamps in
//! place of the series fingerprint; each series' object then names it. A reader fetches the
//! timestamps object once for all the objects that name it.
//!
//! Integer columns (see `ints`) are zigzag varints or frame-of-reference bit-packed blocks,
//! whichever compresses smaller. An object holds every sample of a series that one flush
//! wrote, however many in-memory chunks they came from. The object's CRC-32C (Castagnoli) is
//! the checksum in its key, so a reader verifies that the bytes it got are the bytes that were
//! written.

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
/// The format version written: segmented columns.
pub const FORMAT_VERSION: u8 = 4;
/// The first version: labels plus one Prometheus XOR chunk. Still read.
pub const FORMAT_VERSION_XOR: u8 = 1;
/// One segment with its timestamps inline, written before version 4. Still read.
pub const FORMAT_VERSION_UNSEGMENTED: u8 = 2;
/// One segment whose timestamps are in a shared timestamps object, written before version 4.
/// Still read.
pub const FORMAT_VERSION_SHARED_TIMESTAMPS: u8 = 3;
/// Samples per segment of a version-4 object: 4 h 16 min of 15 s scrapes, so an hour's range
/// read of a day's object decodes one or two segments of six.
pub const SEGMENT_SAMPLES: usize = 1024;
/// Version 4's timestamps byte: each segment starts with its timestamp column.
const SEGMENT_TIMESTAMPS_INLINE: u8 = 0;
/// Version 4's timestamps byte: the timestamps are in a shared timestamps object.
const SEGMENT_TIMESTAMPS_SHARED: u8 = 1;
/// First bytes of every timestamps object.
pub const TIMESTAMPS_MAGIC: &[u8; 4] = b"NCTS";
/// The timestamps object version written and read.
const TIMESTAMPS_VERSION: u8 = 1;
/// Timestamp columns that compress below this (regular intervals cost a few bytes however
/// long) stay inline: naming a timestamps object would cost more than it saves.
const MIN_SHARED_COLUMN_BYTES: usize = 64;
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
    with_magic_header(MAGIC, version, body, encoding)
}

fn with_magic_header(magic: &[u8; 4], version: u8, body: Vec<u8>, encoding: BodyEncoding) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(magic);
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

/// Encodes a version-4 object holding `labels` and `samples` (at most [`MAX_SAMPLES`]; the
/// write path gives them in time order, but any order round-trips).
pub fn encode(labels: &Labels, samples: &[Sample], encoding: BodyEncoding) -> Vec<u8> {
    let times: Vec<i64> = samples.iter().map(|s| s.timestamp_ms).collect();
    let values: Vec<f64> = samples.iter().map(|s| s.value).collect();
    encode_series(labels, &times, &values, None, encoding)
}

/// The timestamp column of `timestamps` (uncompressed), as a timestamps object holds it.
pub fn timestamp_column(timestamps: &[i64]) -> Vec<u8> {
    let mut column = Vec::with_capacity(timestamps.len() / 2 + 16);
    timestamps::put(&mut column, timestamps);
    column
}

/// Whether a timestamp column (from [`timestamp_column`]) costs enough that series sharing it
/// should name one timestamps object rather than each carry it.
pub fn worth_sharing(column: &[u8]) -> bool {
    column.len() >= MIN_SHARED_COLUMN_BYTES && ints::compressed_len(column) >= MIN_SHARED_COLUMN_BYTES
}

/// Encodes one series' version-4 object: samples at `timestamps` with `values` (the same
/// length). With `shared`, the timestamps are those of that timestamps object and the object
/// names it instead of holding them.
pub fn encode_series(
    labels: &Labels,
    timestamps: &[i64],
    values: &[f64],
    shared: Option<&TimestampsRef>,
    encoding: BodyEncoding,
) -> Vec<u8> {
    debug_assert_eq!(timestamps.len(), values.len());
    let len = values.len();
    let increasing = timestamps.windows(2).all(|pair| pair[0] < pair[1]);
    let segment = if increasing { SEGMENT_SAMPLES } else { len.max(1) };
    let mut segments: Vec<Vec<u8>> = Vec::with_capacity(len.div_ceil(segment));
    let mut table = Vec::with_capacity(len.div_ceil(segment) * 6);
    let mut previous_first = 0;
    for (times, values) in timestamps.chunks(segment).zip(values.chunks(segment)) {
        let mut bytes = Vec::with_capacity(times.len() * 2 + 16);
        if shared.is_none() {
            timestamps::put(&mut bytes, times);
        }
        values::put(&mut bytes, values);
        put_uvarint(&mut table, bytes.len() as u64);
        ints::put_varint(&mut table, times[0].wrapping_sub(previous_first));
        previous_first = times[0];
        segments.push(bytes);
    }
    let labels_len: usize = labels.iter().map(|l| l.name.len() + l.value.len() + 10).sum();
    let mut head = Vec::with_capacity(labels_len + table.len() + 40);
    put_labels(&mut head, labels);
    put_uvarint(&mut head, len as u64);
    put_uvarint(&mut head, segment as u64);
    match shared {
        None => head.push(SEGMENT_TIMESTAMPS_INLINE),
        Some(reference) => {
            head.push(SEGMENT_TIMESTAMPS_SHARED);
            reference.put(&mut head);
        }
    }
    head.extend_from_slice(&table);
    // Newest segment first, each closing a zstd block: see the module documentation.
    segments.reverse();
    let mut parts = vec![head];
    parts.extend(segments);
    if let (BodyEncoding::Zstd, Some(compressed)) = (encoding, compress_in_blocks(&parts)) {
        let mut out = Vec::with_capacity(HEADER_LEN + compressed.len());
        out.extend_from_slice(MAGIC);
        out.push(FORMAT_VERSION);
        out.push(BodyEncoding::Zstd.tag());
        out.extend_from_slice(&compressed);
        return out;
    }
    with_header(FORMAT_VERSION, parts.concat(), BodyEncoding::Plain)
}

/// One zstd frame of `parts` (the first part is the head and the newest segment's bytes are
/// the second) that ends a block after the head and newest segment and after each later part,
/// so a reader can stop decompressing after any of them; `None` if compression fails.
fn compress_in_blocks(parts: &[Vec<u8>]) -> Option<Vec<u8>> {
    use std::io::Write;
    let total: usize = parts.iter().map(Vec::len).sum();
    let mut encoder =
        zstd::stream::write::Encoder::new(Vec::with_capacity(total / 2 + 64), ZSTD_LEVEL).ok()?;
    encoder.set_pledged_src_size(Some(total as u64)).ok()?;
    encoder.include_contentsize(true).ok()?;
    for (index, part) in parts.iter().enumerate() {
        encoder.write_all(part).ok()?;
        if index > 0 {
            encoder.flush().ok()?;
        }
    }
    encoder.finish().ok()
}

/// Encodes one series' object in the layout written before version 4: version 2 (timestamps
/// inline) or, with `shared`, version 3. Kept so that readers stay tested against objects
/// already in stores.
pub fn encode_unsegmented_series(
    labels: &Labels,
    timestamps: &[i64],
    values: &[f64],
    shared: Option<&TimestampsRef>,
    encoding: BodyEncoding,
) -> Vec<u8> {
    let labels_len: usize = labels.iter().map(|l| l.name.len() + l.value.len() + 10).sum();
    let mut body = Vec::with_capacity(labels_len + values.len() * 3 + 32);
    put_labels(&mut body, labels);
    put_uvarint(&mut body, values.len() as u64);
    let version = match shared {
        None => {
            timestamps::put(&mut body, timestamps);
            FORMAT_VERSION_UNSEGMENTED
        }
        Some(reference) => {
            reference.put(&mut body);
            FORMAT_VERSION_SHARED_TIMESTAMPS
        }
    };
    values::put(&mut body, values);
    with_header(version, body, encoding)
}

/// Names a timestamps object: its key is `<user>/<fingerprint>:<from>:<through>:<checksum>`
/// like a chunk's, so every object store, cache and retention sweep handles it as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimestampsRef {
    /// FNV-1a 64 of the timestamps (little-endian), in place of a series fingerprint.
    pub fingerprint: u64,
    /// The first timestamp (ms).
    pub from_ms: i64,
    /// The last timestamp (ms).
    pub through_ms: i64,
    /// CRC-32C of the timestamps object.
    pub checksum: u32,
}

impl TimestampsRef {
    /// Where the timestamps object is in `user`'s store: its key is a chunk key.
    pub fn chunk_ref(&self, user: &str) -> crate::chunk_key::ChunkRef {
        crate::chunk_key::ChunkRef {
            user: user.to_string(),
            fingerprint: self.fingerprint,
            from_ms: self.from_ms,
            through_ms: self.through_ms,
            checksum: self.checksum,
        }
    }

    /// The reference a timestamps object's key names.
    pub fn of_chunk(chunk: &crate::chunk_key::ChunkRef) -> Self {
        Self {
            fingerprint: chunk.fingerprint,
            from_ms: chunk.from_ms,
            through_ms: chunk.through_ms,
            checksum: chunk.checksum,
        }
    }

    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.fingerprint.to_le_bytes());
        ints::put_varint(out, self.from_ms);
        ints::put_varint(out, self.through_ms);
        out.extend_from_slice(&self.checksum.to_le_bytes());
    }

    fn read(reader: &mut Reader<'_>) -> Option<Self> {
        let fingerprint = reader.u64_le()?;
        let from_ms = reader.varint()?;
        let through_ms = reader.varint()?;
        let checksum = u32::from_le_bytes(reader.take(4)?.try_into().ok()?);
        Some(Self { fingerprint, from_ms, through_ms, checksum })
    }
}

/// FNV-1a 64 over the little-endian bytes of `timestamps`: a timestamps object's fingerprint.
pub fn timestamps_fingerprint(timestamps: &[i64]) -> u64 {
    const OFFSET: u64 = 14_695_981_039_346_656_037;
    const PRIME: u64 = 1_099_511_628_211;
    timestamps
        .iter()
        .flat_map(|t| t.to_le_bytes())
        .fold(OFFSET, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(PRIME))
}

/// Encodes a timestamps object holding `timestamps` (at least one), whose column `column` is
/// (from [`timestamp_column`]); returns it with the reference the objects sharing it carry.
pub fn encode_timestamps_object(
    timestamps: &[i64],
    column: &[u8],
    encoding: BodyEncoding,
) -> (Vec<u8>, TimestampsRef) {
    let mut body = Vec::with_capacity(column.len() + 5);
    put_uvarint(&mut body, timestamps.len() as u64);
    body.extend_from_slice(column);
    let object = with_magic_header(TIMESTAMPS_MAGIC, TIMESTAMPS_VERSION, body, encoding);
    let reference = TimestampsRef {
        fingerprint: timestamps_fingerprint(timestamps),
        from_ms: timestamps.first().copied().unwrap_or_default(),
        through_ms: timestamps.last().copied().unwrap_or_default(),
        checksum: checksum(&object),
    };
    (object, reference)
}

/// Decodes a timestamps object, refusing anything malformed (never panics on input).
pub fn decode_timestamps_object(object: &[u8]) -> Result<Vec<i64>, StorageError> {
    let what = "timestamps object";
    let (_, body) = read_header(object, TIMESTAMPS_MAGIC, &[TIMESTAMPS_VERSION], what)?;
    let mut reader = Reader::new(&body);
    let mut samples = Vec::new();
    let decoded = (|| {
        let len = reader.count(MAX_SAMPLES)?;
        timestamps::read_into(&mut reader, len, &mut samples)?;
        (samples.len() == len && reader.remaining() == 0).then_some(())
    })();
    decoded
        .ok_or_else(|| StorageError::corrupt(what, "truncated or malformed timestamp column".to_string()))?;
    Ok(samples.into_iter().map(|s| s.timestamp_ms).collect())
}

/// Where the bytes of a zstd object go, so benchmarks can show which part of the data costs
/// what. Each figure is what its section adds to one zstd frame of the sections before it
/// (labels first, then the sample count and timestamps as one column, then values), so the
/// three add up to the object's length minus its fixed header; the frame's own overhead counts
/// towards the labels, and the segments' restarts and table towards the values.
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
    /// The uncompressed body, kept as decompressed (no copy of the samples part).
    body: Vec<u8>,
    /// Where in `body` the encoded samples start: after the labels (version 3: after the
    /// timestamps reference, so just the values; version 4: after the segment table, so the
    /// segments).
    samples_from: usize,
    /// Version 4: where each segment ends in `samples`.
    segments: Option<Segments>,
    /// Versions 3 and 4 with shared timestamps: where the timestamps are, and once attached,
    /// the timestamps.
    shared: Option<SharedTimestamps>,
}

/// The segments of a version-4 object.
#[derive(Debug, Clone)]
struct Segments {
    /// Samples in the object.
    len: usize,
    /// Samples per segment (the last holds the rest).
    size: usize,
    /// Where each segment (oldest first) is in the encoded samples, which store them newest
    /// first.
    bounds: Box<[(u32, u32)]>,
    /// Each segment's first timestamp.
    first_ms: Box<[i64]>,
    /// The first segment held: an object opened for a range holds the newest segments only.
    available_from: usize,
}

impl Segments {
    /// The bytes and sample count of segment `index`.
    fn get<'a>(&self, samples: &'a [u8], index: usize) -> (&'a [u8], usize) {
        let (start, end) = self.bounds[index];
        (&samples[start as usize..end as usize], self.size.min(self.len - index * self.size))
    }

    /// The segments that may hold samples from `start_ms` to `end_ms`. Segments are written
    /// only for increasing timestamps, so segment `i` holds the samples from its first
    /// timestamp to the next segment's.
    fn overlapping(&self, start_ms: i64, end_ms: i64) -> std::ops::Range<usize> {
        let count = self.first_ms.len();
        if count <= 1 {
            return 0..count;
        }
        let first = self.first_ms.partition_point(|&first| first <= start_ms).saturating_sub(1);
        let end = self.first_ms.partition_point(|&first| first <= end_ms);
        first..end.max(first)
    }
}

/// The timestamps of a version-3 object or a version-4 object that shares them.
#[derive(Debug, Clone)]
struct SharedTimestamps {
    reference: TimestampsRef,
    /// The sample count the object states.
    len: usize,
    timestamps: Option<std::sync::Arc<[i64]>>,
}

impl OpenedObject {
    /// The encoded samples.
    fn samples(&self) -> &[u8] {
        &self.body[self.samples_from..]
    }

    /// Appends the object's samples to `out` in the order they were written; refuses malformed
    /// sample data (never panics on input).
    pub fn decode_samples_into(&self, out: &mut Vec<Sample>) -> Result<(), StorageError> {
        if let Some(segments) = &self.segments {
            return self.decode_segments(segments, 0..segments.bounds.len(), out);
        }
        if self.version == FORMAT_VERSION_XOR {
            return decode_xor_chunk(self.samples(), out);
        }
        if let Some(shared) = &self.shared {
            return decode_shared(shared, self.samples(), out);
        }
        let mut reader = Reader::new(self.samples());
        decode_columns(&mut reader, out).ok_or_else(|| {
            StorageError::corrupt("chunk object", "truncated or malformed sample columns".to_string())
        })
    }

    /// Appends to `out` at least the object's samples from `start_ms` to `end_ms` (inclusive),
    /// in the order they were written: a version-4 object decodes only the segments that
    /// overlap the range, and the samples of those outside it are appended too, so callers
    /// still clip. Refuses malformed sample data (never panics on input), and a range beyond
    /// the one the object was opened for ([`open_range`]).
    pub fn decode_range_into(
        &self,
        start_ms: i64,
        end_ms: i64,
        out: &mut Vec<Sample>,
    ) -> Result<(), StorageError> {
        match &self.segments {
            Some(segments) => self.decode_segments(segments, segments.overlapping(start_ms, end_ms), out),
            None => self.decode_samples_into(out),
        }
    }

    /// Appends the samples of the segments in `range`; leaves `out` as it was when one is
    /// malformed.
    fn decode_segments(
        &self,
        segments: &Segments,
        range: std::ops::Range<usize>,
        out: &mut Vec<Sample>,
    ) -> Result<(), StorageError> {
        let corrupt = |message: &str| StorageError::corrupt("chunk object", message.to_string());
        let shared = match &self.shared {
            Some(shared) => Some(
                shared.timestamps.as_ref().ok_or_else(|| corrupt("its timestamps object was not read"))?,
            ),
            None => None,
        };
        if !range.is_empty() && range.start < segments.available_from {
            return Err(corrupt("object was opened for a narrower time range"));
        }
        let base = out.len();
        for index in range {
            let (bytes, len) = segments.get(self.samples(), index);
            let mut reader = Reader::new(bytes);
            let before = out.len();
            let decoded = match shared {
                Some(timestamps) => {
                    let first = index * segments.size;
                    out.extend(
                        timestamps[first..first + len]
                            .iter()
                            .map(|&timestamp_ms| Sample { timestamp_ms, value: 0.0 }),
                    );
                    Some(())
                }
                None => timestamps::read_into(&mut reader, len, out),
            }
            .and_then(|()| {
                let samples = out.get_mut(before..).filter(|samples| samples.len() == len)?;
                values::read_into(&mut reader, samples)
            })
            .filter(|()| reader.remaining() == 0);
            if decoded.is_none() {
                out.truncate(base);
                return Err(corrupt("truncated or malformed segment"));
            }
        }
        Ok(())
    }

    /// Bytes held for the object: its decompressed body.
    pub fn encoded_len(&self) -> usize {
        self.body.len()
    }

    /// Whether the samples from `start_ms` to `end_ms` decode from what was opened: an object
    /// opened for a range ([`open_range`]) holds only the segments from the oldest that range
    /// needed to the newest.
    pub fn covers(&self, start_ms: i64, end_ms: i64) -> bool {
        self.segments.as_ref().is_none_or(|segments| {
            let wanted = segments.overlapping(start_ms, end_ms);
            wanted.is_empty() || wanted.start >= segments.available_from
        })
    }

    /// Heap bytes the object holds (body, labels, segment table), for caches that bound
    /// memory. Attached shared timestamps are not counted: the series of a target share them.
    pub fn held_bytes(&self) -> usize {
        let labels: usize = self.labels.iter().map(|label| label.name.len() + label.value.len() + 48).sum();
        let segments = self.segments.as_ref().map_or(0, |segments| segments.first_ms.len() * 16);
        self.body.capacity() + labels + segments + std::mem::size_of::<Self>()
    }

    /// The timestamps object an object that shares its timestamps needs before its samples decode (`None` when
    /// it holds its own timestamps or they are attached already).
    pub fn missing_timestamps(&self) -> Option<TimestampsRef> {
        self.shared.as_ref().filter(|shared| shared.timestamps.is_none()).map(|shared| shared.reference)
    }

    /// Gives an object that shares its timestamps the timestamps of the object it names;
    /// refuses timestamps whose count is not the object's.
    pub fn attach_timestamps(&mut self, timestamps: std::sync::Arc<[i64]>) -> Result<(), StorageError> {
        let Some(shared) = self.shared.as_mut() else { return Ok(()) };
        if timestamps.len() != shared.len {
            return Err(StorageError::corrupt(
                "chunk object",
                format!("{} samples but its timestamps object holds {}", shared.len, timestamps.len()),
            ));
        }
        shared.timestamps = Some(timestamps);
        Ok(())
    }
}

/// Appends a version-3 object's samples (attached timestamps, then its value column).
fn decode_shared(
    shared: &SharedTimestamps,
    values: &[u8],
    out: &mut Vec<Sample>,
) -> Result<(), StorageError> {
    let corrupt = |message: &str| StorageError::corrupt("chunk object", message.to_string());
    let Some(timestamps) = &shared.timestamps else {
        return Err(corrupt("its timestamps object was not read"));
    };
    let base = out.len();
    out.extend(timestamps.iter().map(|&timestamp_ms| Sample { timestamp_ms, value: 0.0 }));
    let mut reader = Reader::new(values);
    let decoded = values::read_into(&mut reader, &mut out[base..]).filter(|()| reader.remaining() == 0);
    if decoded.is_none() {
        out.truncate(base);
        return Err(corrupt("truncated or malformed value column"));
    }
    Ok(())
}

/// Decompresses one zstd frame of at most [`MAX_BODY_LEN`] bytes.
fn decompress(frame: &[u8]) -> std::io::Result<Vec<u8>> {
    crate::zstd_frame::decompress(frame, MAX_BODY_LEN)
}

/// Checks the magic and version (one of `versions`) of an object and returns the version and
/// the (decompressed) body.
fn read_header<'a>(
    object: &'a [u8],
    magic: &[u8; 4],
    versions: &[u8],
    what: &'static str,
) -> Result<(u8, std::borrow::Cow<'a, [u8]>), StorageError> {
    let corrupt = |message: &str| StorageError::corrupt(what, message.to_string());
    if object.len() < HEADER_LEN || &object[..4] != magic {
        return Err(corrupt("missing magic"));
    }
    let version = object[4];
    if !versions.contains(&version) {
        return Err(corrupt(&format!("unknown format version {version}")));
    }
    let body = match object[5] {
        0 => std::borrow::Cow::Borrowed(&object[HEADER_LEN..]),
        1 => std::borrow::Cow::Owned(
            decompress(&object[HEADER_LEN..]).map_err(|err| corrupt(&format!("zstd: {err}")))?,
        ),
        other => return Err(corrupt(&format!("unknown body encoding {other}"))),
    };
    Ok((version, body))
}

/// Reads an object's header and labels (decompressing its body), leaving the samples encoded;
/// refuses anything malformed (never panics on input). An object that shares its timestamps
/// decodes its samples once they are attached ([`OpenedObject::attach_timestamps`]).
pub fn open(object: &[u8]) -> Result<OpenedObject, StorageError> {
    let (version, body) = read_header(object, MAGIC, &OBJECT_VERSIONS, "chunk object")?;
    let head = parse_head(version, &body, body.len())?;
    Ok(head.into_object(version, body.into_owned(), 0))
}

/// Like [`open`], for reads of the samples from `start_ms` to `end_ms` only: a compressed
/// version-4 object is decompressed only through the oldest segment that range needs (its
/// newest segments come first), and the opened object then decodes that range alone
/// ([`OpenedObject::decode_range_into`]; [`OpenedObject::decode_samples_into`] refuses).
pub fn open_range(object: &[u8], start_ms: i64, end_ms: i64) -> Result<OpenedObject, StorageError> {
    if object.len() < HEADER_LEN || object[4] != FORMAT_VERSION || object[5] != BodyEncoding::Zstd.tag() {
        return open(object);
    }
    let corrupt = |message: String| StorageError::corrupt("chunk object", message);
    if &object[..4] != MAGIC {
        return Err(corrupt("missing magic".to_string()));
    }
    let mut parsed = None;
    crate::zstd_frame::decompress_prefix(&object[HEADER_LEN..], MAX_BODY_LEN, |body, total| {
        let head = match parse_head(FORMAT_VERSION, body, total) {
            Ok(head) => head,
            Err(_) if body.len() < total => return Ok(None),
            Err(err) => return Err(err),
        };
        let through = match &head.segments {
            None => total,
            Some(segments) => {
                let wanted = segments.overlapping(start_ms, end_ms);
                // Segments are stored newest first: the prefix runs through the oldest one wanted.
                if wanted.is_empty() {
                    head.samples_from
                } else {
                    head.samples_from + segments.bounds[wanted.start].1 as usize
                }
            }
        };
        parsed = Some(head);
        Ok(Some(through.min(total)))
    })
    .map_err(|err| match err {
        crate::zstd_frame::PrefixError::Zstd(err) => corrupt(format!("zstd: {err}")),
        crate::zstd_frame::PrefixError::Refused(err) => err,
    })
    .and_then(|(body, total)| {
        let head = match parsed {
            Some(head) => head,
            None => parse_head(FORMAT_VERSION, &body, total)?,
        };
        let available_from = head.segments.as_ref().map_or(0, |segments| {
            segments
                .bounds
                .iter()
                .position(|&(_, end)| head.samples_from + end as usize <= body.len())
                .unwrap_or(segments.bounds.len())
        });
        Ok(head.into_object(FORMAT_VERSION, body, available_from))
    })
}

/// The versions [`open`] reads.
const OBJECT_VERSIONS: [u8; 4] =
    [FORMAT_VERSION, FORMAT_VERSION_XOR, FORMAT_VERSION_UNSEGMENTED, FORMAT_VERSION_SHARED_TIMESTAMPS];

/// What precedes an object's samples.
struct Head {
    labels: Labels,
    shared: Option<SharedTimestamps>,
    segments: Option<Segments>,
    /// Where the samples start in the body.
    samples_from: usize,
}

impl Head {
    /// The opened object over `body` (all of it, or a prefix holding segments from
    /// `available_from` on).
    fn into_object(self, version: u8, body: Vec<u8>, available_from: usize) -> OpenedObject {
        let segments = self.segments.map(|segments| Segments { available_from, ..segments });
        OpenedObject {
            labels: self.labels,
            version,
            body,
            samples_from: self.samples_from,
            segments,
            shared: self.shared,
        }
    }
}

/// Parses what precedes the samples in `body` (the first bytes of a body of `total` bytes);
/// refuses anything malformed or cut short.
fn parse_head(version: u8, body: &[u8], total: usize) -> Result<Head, StorageError> {
    let corrupt = |message: &str| StorageError::corrupt("chunk object", message.to_string());
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
    let read_reference = |reader: &mut Reader<'_>, len| {
        let reference =
            TimestampsRef::read(reader).ok_or_else(|| corrupt("truncated timestamps reference"))?;
        Ok::<_, StorageError>(SharedTimestamps { reference, len, timestamps: None })
    };
    let (shared, segments) = match version {
        FORMAT_VERSION_SHARED_TIMESTAMPS => {
            let len =
                reader.count(MAX_SAMPLES).ok_or_else(|| corrupt("truncated or oversized sample count"))?;
            (Some(read_reference(&mut reader, len)?), None)
        }
        FORMAT_VERSION => {
            let len =
                reader.count(MAX_SAMPLES).ok_or_else(|| corrupt("truncated or oversized sample count"))?;
            let size = reader
                .count(MAX_SAMPLES)
                .filter(|&size| size > 0)
                .ok_or_else(|| corrupt("truncated or invalid segment size"))?;
            let shared = match reader.u8() {
                Some(SEGMENT_TIMESTAMPS_INLINE) => None,
                Some(SEGMENT_TIMESTAMPS_SHARED) => Some(read_reference(&mut reader, len)?),
                _ => return Err(corrupt("truncated or unknown timestamps placement")),
            };
            let count = len.div_ceil(size);
            // Every segment takes at least one byte, so the table cannot name more than remain.
            if count > total.saturating_sub(reader.position()) {
                return Err(corrupt("more segments than bytes"));
            }
            let mut lens = Vec::with_capacity(count);
            let mut first_ms = Vec::with_capacity(count);
            let mut previous = 0i64;
            for _ in 0..count {
                let segment_len =
                    reader.count(total).ok_or_else(|| corrupt("truncated or oversized segment table"))?;
                let delta = reader.varint().ok_or_else(|| corrupt("truncated segment table"))?;
                previous = previous.wrapping_add(delta);
                lens.push(segment_len);
                first_ms.push(previous);
            }
            let samples: usize = lens.iter().sum();
            if reader.position().checked_add(samples) != Some(total) {
                return Err(corrupt("segment table does not match the segments"));
            }
            // Stored newest first: segment `i` starts after every later one.
            let mut bounds = vec![(0u32, 0u32); count];
            let mut at = 0usize;
            for index in (0..count).rev() {
                let end = at + lens[index];
                bounds[index] = (
                    u32::try_from(at).map_err(|_| corrupt("oversized segments"))?,
                    u32::try_from(end).map_err(|_| corrupt("oversized segments"))?,
                );
                at = end;
            }
            let segments =
                Segments { len, size, bounds: bounds.into(), first_ms: first_ms.into(), available_from: 0 };
            (shared, Some(segments))
        }
        _ => (None, None),
    };
    Ok(Head { labels, shared, segments, samples_from: reader.position() })
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
    use neocortex_testkit::chunks::noise;
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
    fn version_two_objects_are_still_read() {
        let labels = Labels::from_pairs([("__name__", "up")]);
        let times: Vec<i64> = jittered_times(1_500);
        let values: Vec<f64> = (0..1_500).map(|i| f64::from(i) * 0.25).collect();
        for encoding in [BodyEncoding::Plain, BodyEncoding::Zstd] {
            let object = encode_unsegmented_series(&labels, &times, &values, None, encoding);
            assert_eq!(object[4], FORMAT_VERSION_UNSEGMENTED);
            let opened = open(&object).unwrap();
            let mut ranged = Vec::new();
            opened.decode_range_into(times[10], times[20], &mut ranged).unwrap();
            assert_eq!(ranged.len(), 1_500, "an unsegmented object decodes whole");
            let decoded = decode(&object).unwrap();
            assert_eq!(decoded.labels, labels);
            assert_eq!(decoded.samples.iter().map(|s| s.timestamp_ms).collect::<Vec<_>>(), times);
            assert_eq!(decoded.samples.iter().map(|s| s.value).collect::<Vec<_>>(), values);
        }
    }

    /// The samples of `samples` from `start` to `end`.
    fn clipped(samples: &[Sample], start: i64, end: i64) -> Vec<(i64, u64)> {
        bits(samples).into_iter().filter(|(t, _)| (start..=end).contains(t)).collect()
    }

    /// A counter over five full segments and a short sixth (321 samples) at jittered times.
    fn six_segments(seed: u64) -> (Labels, usize, Vec<Sample>) {
        let labels = Labels::from_pairs([("__name__", "x"), ("job", "node")]);
        let len = SEGMENT_SAMPLES * 5 + 321;
        let samples = jittered_times(len as i64)
            .into_iter()
            .enumerate()
            .map(|(i, t)| Sample {
                timestamp_ms: t,
                value: (i * 3 + (noise(seed, i as u64) % 7) as usize) as f64,
            })
            .collect();
        (labels, len, samples)
    }

    #[test]
    fn range_reads_decode_only_the_segments_they_overlap() {
        let (labels, len, samples) = six_segments(3);
        let inline = encode(&labels, &samples, BodyEncoding::Zstd);
        assert_eq!(inline[4], FORMAT_VERSION);
        let (shared, timestamps) = shared_pair(&labels, &samples, BodyEncoding::Zstd, FORMAT_VERSION);
        let mut shared = open(&shared).unwrap();
        shared.attach_timestamps(decode_timestamps_object(&timestamps).unwrap().into()).unwrap();
        for opened in [open(&inline).unwrap(), shared, open_range(&inline, i64::MIN, i64::MAX).unwrap()] {
            let mut all = Vec::new();
            opened.decode_samples_into(&mut all).unwrap();
            assert_eq!(bits(&all), bits(&samples));
            let at = |index: usize| samples[index].timestamp_ms;
            // An hour inside the fourth segment decodes that segment alone.
            let (start, end) = (at(3 * SEGMENT_SAMPLES + 100), at(3 * SEGMENT_SAMPLES + 340));
            let mut out = vec![Sample { timestamp_ms: 0, value: -1.0 }];
            opened.decode_range_into(start, end, &mut out).unwrap();
            assert_eq!(out.len(), 1 + SEGMENT_SAMPLES);
            assert_eq!(bits(&out[1..]), bits(&samples[3 * SEGMENT_SAMPLES..4 * SEGMENT_SAMPLES]));
            // Across a boundary: two segments. At the end: the short last one.
            let mut out = Vec::new();
            opened.decode_range_into(at(2 * SEGMENT_SAMPLES - 1), at(2 * SEGMENT_SAMPLES), &mut out).unwrap();
            assert_eq!(bits(&out), bits(&samples[SEGMENT_SAMPLES..3 * SEGMENT_SAMPLES]));
            let mut out = Vec::new();
            opened.decode_range_into(at(len - 10), i64::MAX, &mut out).unwrap();
            assert_eq!(bits(&out), bits(&samples[5 * SEGMENT_SAMPLES..]));
            // Exactly a segment's first timestamp, and ranges outside the object.
            let mut out = Vec::new();
            opened.decode_range_into(at(SEGMENT_SAMPLES), at(SEGMENT_SAMPLES), &mut out).unwrap();
            assert_eq!(bits(&out), bits(&samples[SEGMENT_SAMPLES..2 * SEGMENT_SAMPLES]));
            for (start, end) in [(i64::MIN, at(0) - 1), (at(len - 1) + 1, i64::MAX), (at(10), at(5))] {
                let mut out = Vec::new();
                opened.decode_range_into(start, end, &mut out).unwrap();
                assert!(clipped(&out, start, end).is_empty());
                assert!(out.len() <= SEGMENT_SAMPLES, "{start}..{end} decoded {}", out.len());
            }
        }
    }

    #[test]
    fn opening_for_a_recent_range_decompresses_only_the_newest_segments() {
        let (labels, len, samples) = six_segments(4);
        let object = encode(&labels, &samples, BodyEncoding::Zstd);
        let whole = open(&object).unwrap();
        let at = |index: usize| samples[index].timestamp_ms;
        // The last hour: the newest segment (321 samples) and the one before.
        let (start, end) = (at(len - 400), at(len - 1));
        let recent = open_range(&object, start, end).unwrap();
        assert_eq!(recent.labels, labels);
        assert!(
            recent.encoded_len() * 2 < whole.encoded_len(),
            "{} of {}",
            recent.encoded_len(),
            whole.encoded_len()
        );
        let mut out = Vec::new();
        recent.decode_range_into(start, end, &mut out).unwrap();
        assert_eq!(bits(&out), bits(&samples[4 * SEGMENT_SAMPLES..]));
        // What was not decompressed is refused, not answered short.
        let mut out = Vec::new();
        let error = recent.decode_samples_into(&mut out).unwrap_err().to_string();
        assert!(error.contains("narrower time range"), "{error}");
        assert!(recent.decode_range_into(at(0), end, &mut out).is_err());
        assert!(out.is_empty());
        // An old range needs everything; a range after the object only the head.
        let old = open_range(&object, at(10), at(20)).unwrap();
        let mut out = Vec::new();
        old.decode_range_into(at(10), at(20), &mut out).unwrap();
        assert_eq!(bits(&out), bits(&samples[..SEGMENT_SAMPLES]));
        // (The head shares its zstd block with the newest segment.)
        let after = open_range(&object, at(len - 1) + 1, i64::MAX).unwrap();
        assert!(after.encoded_len() * 4 < whole.encoded_len(), "{}", after.encoded_len());
        let mut out = Vec::new();
        after.decode_range_into(at(len - 1) + 1, i64::MAX, &mut out).unwrap();
        assert!(clipped(&out, at(len - 1) + 1, i64::MAX).is_empty());
        // A cut frame is refused, unless the cut is past what the range needs: then the range
        // still decodes right (the read path checks the whole object's CRC before opening it).
        for cut in HEADER_LEN..object.len() {
            if let Ok(opened) = open_range(&object[..cut], start, end) {
                let mut out = Vec::new();
                if opened.decode_range_into(start, end, &mut out).is_ok() {
                    assert_eq!(bits(&out), bits(&samples[4 * SEGMENT_SAMPLES..]), "cut at {cut}");
                }
            }
        }
    }

    #[test]
    fn unordered_timestamps_are_one_segment_and_still_read_in_range() {
        let labels = Labels::from_pairs([("__name__", "x")]);
        let mut samples: Vec<Sample> = jittered_times(3_000)
            .into_iter()
            .map(|t| Sample { timestamp_ms: t, value: (t % 1_000) as f64 })
            .collect();
        samples.swap(5, 2_500);
        let object = encode(&labels, &samples, BodyEncoding::Plain);
        let opened = open(&object).unwrap();
        let (start, end) = (samples[2_400].timestamp_ms, samples[2_600].timestamp_ms);
        let mut out = Vec::new();
        opened.decode_range_into(start, end, &mut out).unwrap();
        assert_eq!(bits(&out), bits(&samples));
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

    fn jittered_times(len: i64) -> Vec<i64> {
        (0..len).map(|i| 1_577_944_800_000 + i * 15_000 + (noise(7, i as u64) % 4) as i64).collect()
    }

    /// An object of `version` (3 or 4) over `samples` and the timestamps object it names.
    fn shared_pair(
        labels: &Labels,
        samples: &[Sample],
        encoding: BodyEncoding,
        version: u8,
    ) -> (Vec<u8>, Vec<u8>) {
        let times: Vec<i64> = samples.iter().map(|s| s.timestamp_ms).collect();
        let values: Vec<f64> = samples.iter().map(|s| s.value).collect();
        let (timestamps, reference) = encode_timestamps_object(&times, &timestamp_column(&times), encoding);
        let object = if version == FORMAT_VERSION_SHARED_TIMESTAMPS {
            encode_unsegmented_series(labels, &times, &values, Some(&reference), encoding)
        } else {
            encode_series(labels, &times, &values, Some(&reference), encoding)
        };
        assert_eq!(object[4], version);
        (object, timestamps)
    }

    #[test]
    fn shared_timestamps_round_trip_once_attached() {
        let labels = Labels::from_pairs([("__name__", "up"), ("job", "node")]);
        let samples: Vec<Sample> = jittered_times(500)
            .into_iter()
            .enumerate()
            .map(|(i, t)| Sample { timestamp_ms: t, value: i as f64 * 0.5 })
            .collect();
        let versions = [FORMAT_VERSION_SHARED_TIMESTAMPS, FORMAT_VERSION];
        for (encoding, version) in
            [BodyEncoding::Plain, BodyEncoding::Zstd].into_iter().zip(versions).chain([
                (BodyEncoding::Zstd, FORMAT_VERSION_SHARED_TIMESTAMPS),
                (BodyEncoding::Plain, FORMAT_VERSION),
            ])
        {
            let (object, timestamps) = shared_pair(&labels, &samples, encoding, version);
            assert_eq!(&timestamps[..4], TIMESTAMPS_MAGIC);
            let mut opened = open(&object).unwrap();
            assert_eq!(opened.labels, labels);
            let reference = opened.missing_timestamps().expect("names its timestamps");
            assert_eq!(reference.checksum, checksum(&timestamps));
            assert_eq!(reference.fingerprint, timestamps_fingerprint(&jittered_times(500)));
            assert_eq!(
                (reference.from_ms, reference.through_ms),
                (samples[0].timestamp_ms, samples[499].timestamp_ms)
            );
            let mut out = Vec::new();
            let err = opened.decode_samples_into(&mut out).unwrap_err().to_string();
            assert!(err.contains("timestamps object was not read"), "{err}");
            assert!(out.is_empty());
            // Timestamps of another length are refused.
            let short: std::sync::Arc<[i64]> = jittered_times(499).into();
            assert!(opened.attach_timestamps(short).is_err());
            opened.attach_timestamps(decode_timestamps_object(&timestamps).unwrap().into()).unwrap();
            assert!(opened.missing_timestamps().is_none());
            opened.decode_samples_into(&mut out).unwrap();
            assert_eq!(out, samples);
        }
        // An object with its own timestamps has nothing to attach.
        let inline = open(&encode(&labels, &samples, BodyEncoding::Zstd)).unwrap();
        assert!(inline.missing_timestamps().is_none());
    }

    #[test]
    fn malformed_shared_objects_are_refused() {
        let labels = Labels::from_pairs([("__name__", "up")]);
        let samples: Vec<Sample> =
            jittered_times(100).into_iter().map(|t| Sample { timestamp_ms: t, value: 1.0 }).collect();
        for version in [FORMAT_VERSION_SHARED_TIMESTAMPS, FORMAT_VERSION] {
            refuses_malformed_shared(&labels, &samples, version);
        }
    }

    fn refuses_malformed_shared(labels: &Labels, samples: &[Sample], version: u8) {
        let (object, timestamps) = shared_pair(labels, samples, BodyEncoding::Plain, version);
        for cut in HEADER_LEN..timestamps.len() {
            assert!(decode_timestamps_object(&timestamps[..cut]).is_err(), "timestamps cut at {cut}");
        }
        let mut trailing = timestamps.clone();
        trailing.push(0);
        assert!(decode_timestamps_object(&trailing).is_err());
        assert!(decode_timestamps_object(&object).is_err(), "a chunk object is not a timestamps object");
        assert!(open(&timestamps).is_err(), "a timestamps object is not a chunk object");
        let attached = decode_timestamps_object(&timestamps).unwrap();
        for cut in HEADER_LEN..object.len() {
            // Either refused when opened, or its values refused when decoded.
            if let Ok(mut opened) = open(&object[..cut]) {
                let attach = opened.attach_timestamps(attached.clone().into());
                let mut out = Vec::new();
                assert!(
                    attach.is_err() || opened.decode_samples_into(&mut out).is_err(),
                    "object cut at {cut}"
                );
                assert!(out.is_empty());
            }
        }
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
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), plain in any::<bool>(), version in 1u8..=4) {
            let mut object = MAGIC.to_vec();
            object.push(version);
            object.push(if plain { 0 } else { 1 });
            object.extend_from_slice(&bytes);
            if let Ok(mut opened) = open(&object) {
                let _ = opened.attach_timestamps(vec![0; 3].into());
                let _ = opened.decode_samples_into(&mut Vec::new());
                let _ = opened.decode_range_into(0, 1, &mut Vec::new());
            }
            if let Ok(opened) = open_range(&object, 0, 1) {
                let _ = opened.decode_range_into(0, 1, &mut Vec::new());
            }
            object[..4].copy_from_slice(TIMESTAMPS_MAGIC);
            object[4] = TIMESTAMPS_VERSION;
            let _ = decode_timestamps_object(&object);
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
        fn range_reads_hold_every_sample_of_the_range(
            len in 0usize..4_000,
            interval in 1i64..60_000,
            repeat_at in proptest::option::of(0usize..4_000),
            start in -100_000i64..250_000_000,
            span in 0i64..100_000_000,
            shared in any::<bool>(),
            zstd in any::<bool>(),
        ) {
            let mut samples: Vec<Sample> = (0..len)
                .map(|i| Sample { timestamp_ms: i as i64 * interval, value: (noise(11, i as u64) % 100) as f64 })
                .collect();
            // A repeated timestamp makes the object one segment.
            if let Some(index) = repeat_at.filter(|&index| index > 0 && index < len) {
                samples[index].timestamp_ms = samples[index - 1].timestamp_ms;
            }
            let labels = Labels::from_pairs([("__name__", "m")]);
            let encoding = if zstd { BodyEncoding::Zstd } else { BodyEncoding::Plain };
            let (object, timestamps) = if shared && len > 0 {
                let (object, timestamps) = shared_pair(&labels, &samples, encoding, FORMAT_VERSION);
                (object, Some(decode_timestamps_object(&timestamps).unwrap()))
            } else {
                (encode(&labels, &samples, encoding), None)
            };
            let end = start + span;
            for ranged in [false, true] {
                let mut opened = if ranged { open_range(&object, start, end) } else { open(&object) }.unwrap();
                if let Some(timestamps) = &timestamps {
                    opened.attach_timestamps(timestamps.clone().into()).unwrap();
                }
                let mut out = Vec::new();
                opened.decode_range_into(start, end, &mut out).unwrap();
                prop_assert_eq!(clipped(&out, start, end), clipped(&samples, start, end));
                if !ranged {
                    let mut all = Vec::new();
                    opened.decode_samples_into(&mut all).unwrap();
                    prop_assert_eq!(bits(&all), bits(&samples));
                }
            }
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
