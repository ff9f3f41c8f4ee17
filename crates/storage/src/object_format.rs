//! The chunk object format: what a chunk's object holds, so a reader needs nothing else.
//!
//! ```text
//! magic     4 bytes  "NCCK"
//! version   1 byte   1
//! encoding  1 byte   0 = plain, 1 = zstd (the body below is one zstd frame)
//! body:
//!   labels  uvarint count, then per label: uvarint length + name, uvarint length + value
//!   chunk   the rest: one Prometheus XOR chunk (2-byte sample count + bit stream)
//! ```
//!
//! The object's CRC-32C (Castagnoli) is the checksum in its key, so a reader verifies that the
//! bytes it got are the bytes that were written.

use neocortex_core::{Label, Labels};

use crate::error::StorageError;

/// First bytes of every chunk object.
pub const MAGIC: &[u8; 4] = b"NCCK";
/// The format version written.
pub const FORMAT_VERSION: u8 = 1;
const HEADER_LEN: usize = 6;
/// zstd level used for compressed bodies (fast, with most of the gain).
const ZSTD_LEVEL: i32 = 3;

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkObject {
    /// The series.
    pub labels: Labels,
    /// The XOR chunk bytes.
    pub chunk: Vec<u8>,
}

/// Encodes an object holding `labels` and one XOR chunk.
pub fn encode(labels: &Labels, chunk: &[u8], encoding: BodyEncoding) -> Vec<u8> {
    let labels_len: usize = labels.iter().map(|l| l.name.len() + l.value.len() + 10).sum();
    let mut body = Vec::with_capacity(labels_len + chunk.len() + 5);
    put_uvarint(&mut body, labels.len() as u64);
    for label in labels {
        put_uvarint(&mut body, label.name.len() as u64);
        body.extend_from_slice(label.name.as_bytes());
        put_uvarint(&mut body, label.value.len() as u64);
        body.extend_from_slice(label.value.as_bytes());
    }
    body.extend_from_slice(chunk);

    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(MAGIC);
    out.push(FORMAT_VERSION);
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

/// The checksum of an encoded object, as its key carries it.
pub fn checksum(object: &[u8]) -> u32 {
    crc32c::crc32c(object)
}

/// Longest body a compressed object may expand to (a 65,535-sample chunk plus labels fits).
const MAX_BODY_LEN: usize = 64 << 20;

/// Decodes an object, refusing anything malformed (never panics on input).
pub fn decode(object: &[u8]) -> Result<ChunkObject, StorageError> {
    let corrupt = |message: &str| StorageError::corrupt("chunk object", message.to_string());
    if object.len() < HEADER_LEN || &object[..4] != MAGIC {
        return Err(corrupt("missing magic"));
    }
    if object[4] != FORMAT_VERSION {
        return Err(corrupt(&format!("unknown format version {}", object[4])));
    }
    let decompressed;
    let body: &[u8] = match object[5] {
        0 => &object[HEADER_LEN..],
        1 => {
            decompressed = zstd::bulk::decompress(&object[HEADER_LEN..], MAX_BODY_LEN)
                .map_err(|err| corrupt(&format!("zstd: {err}")))?;
            &decompressed
        }
        other => return Err(corrupt(&format!("unknown body encoding {other}"))),
    };
    let mut reader = Reader { bytes: body, pos: 0 };
    let count = reader.uvarint().ok_or_else(|| corrupt("truncated label count"))?;
    if count > body.len() as u64 {
        return Err(corrupt("label count larger than the object"));
    }
    let mut labels = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let name = reader.string().ok_or_else(|| corrupt("truncated or non-utf8 label name"))?;
        let value = reader.string().ok_or_else(|| corrupt("truncated or non-utf8 label value"))?;
        labels.push(Label { name, value });
    }
    if labels.windows(2).any(|pair| pair[0].name >= pair[1].name) {
        return Err(corrupt("labels not sorted by name"));
    }
    Ok(ChunkObject { labels: Labels::from_sorted(labels), chunk: body[reader.pos..].to_vec() })
}

fn put_uvarint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn uvarint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.pos)?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(value);
            }
        }
        None
    }

    fn string(&mut self) -> Option<String> {
        let len = usize::try_from(self.uvarint()?).ok()?;
        let end = self.pos.checked_add(len)?;
        let bytes = self.bytes.get(self.pos..end)?;
        self.pos = end;
        String::from_utf8(bytes.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use neocortex_chunk::XorChunk;
    use proptest::prelude::*;

    fn sample_chunk() -> XorChunk {
        let mut chunk = XorChunk::new();
        for i in 0..100 {
            chunk.append(1_000 + i * 15_000, i as f64 * 1.5).unwrap();
        }
        chunk
    }

    #[test]
    fn round_trip_both_encodings() {
        let labels = Labels::from_pairs([("__name__", "up"), ("job", "node")]);
        let chunk = sample_chunk();
        for encoding in [BodyEncoding::Plain, BodyEncoding::Zstd] {
            let object = encode(&labels, chunk.bytes(), encoding);
            assert_eq!(&object[..4], MAGIC);
            assert_eq!(object[5], encoding.tag());
            let decoded = decode(&object).unwrap();
            assert_eq!(decoded.labels, labels);
            assert_eq!(decoded.chunk, chunk.bytes());
        }
    }

    #[test]
    fn refuses_malformed_objects() {
        let labels = Labels::from_pairs([("__name__", "up")]);
        let object = encode(&labels, sample_chunk().bytes(), BodyEncoding::Plain);
        assert!(decode(&object[..3]).is_err());
        let mut wrong_version = object.clone();
        wrong_version[4] = 9;
        assert!(decode(&wrong_version).is_err());
        let mut wrong_encoding = object.clone();
        wrong_encoding[5] = 7;
        assert!(decode(&wrong_encoding).is_err());
        assert!(decode(&object[..9]).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), plain in any::<bool>()) {
            let mut object = MAGIC.to_vec();
            object.push(FORMAT_VERSION);
            object.push(if plain { 0 } else { 1 });
            object.extend_from_slice(&bytes);
            let _ = decode(&object);
        }
    }
}
