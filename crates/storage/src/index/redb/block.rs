//! The on-disk block of the redb index: the rows (range key, value) of one hash key that sort
//! between the block's first key and the next block's first key, prefix-compressed and, when that
//! is smaller, zstd-compressed.
//!
//! Layout: one tag byte, then either the raw row bytes (`TAG_PLAIN`) or a uvarint raw length and
//! one zstd frame of them (`TAG_ZSTD`). The raw rows are, each: uvarint length of the prefix shared
//! with the previous row's range key (for the first row: with the block's first key, which the
//! redb key already holds, so the first range key costs one byte), uvarint suffix length, suffix,
//! uvarint value length, value.

use crate::error::StorageError;
use crate::schema::entries::IndexRow;

/// Raw (prefix-compressed, before zstd) bytes above which a block is split on write. Measured on
/// the store benchmark (v11, 16 row shards): most hashes are far smaller, and larger blocks
/// compress only a little better while every write to them re-encodes more.
pub(crate) const MAX_RAW_BLOCK_BYTES: usize = 16 * 1024;

/// A decoded block larger than this is refused as corrupt rather than allocated.
const MAX_DECODED_BYTES: usize = 64 * 1024 * 1024;

/// zstd level for blocks: the default level; blocks are small, so higher levels gain little.
const ZSTD_LEVEL: i32 = 3;

const TAG_PLAIN: u8 = 0;
const TAG_ZSTD: u8 = 1;

fn corrupt(message: impl Into<String>) -> StorageError {
    StorageError::corrupt("index block", message)
}

fn put_uvarint(out: &mut Vec<u8>, mut value: usize) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn uvarint_len(mut value: usize) -> usize {
    let mut len = 1;
    while value >= 0x80 {
        value >>= 7;
        len += 1;
    }
    len
}

/// Reads a uvarint at `*at`, advancing it.
fn get_uvarint(bytes: &[u8], at: &mut usize) -> Result<usize, StorageError> {
    let mut value: usize = 0;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at).ok_or_else(|| corrupt("truncated varint"))?;
        *at += 1;
        value |= ((byte & 0x7f) as usize).checked_shl(shift).ok_or_else(|| corrupt("varint overflow"))?;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(corrupt("varint too long"))
}

/// Reads `len` bytes at `*at`, advancing it.
fn take<'a>(bytes: &'a [u8], at: &mut usize, len: usize) -> Result<&'a [u8], StorageError> {
    let end =
        at.checked_add(len).filter(|end| *end <= bytes.len()).ok_or_else(|| corrupt("truncated row"))?;
    let slice = &bytes[*at..end];
    *at = end;
    Ok(slice)
}

fn shared_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Raw bytes `row` takes after a row whose range key is `previous`.
fn raw_row_len(previous: &[u8], row: &IndexRow) -> usize {
    let shared = shared_prefix(previous, &row.range_value);
    let suffix = row.range_value.len() - shared;
    uvarint_len(shared) + uvarint_len(suffix) + suffix + uvarint_len(row.value.len()) + row.value.len()
}

fn encode_raw(rows: &[IndexRow]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut previous: &[u8] = rows.first().map(|row| row.range_value.as_slice()).unwrap_or_default();
    for row in rows {
        let shared = shared_prefix(previous, &row.range_value);
        put_uvarint(&mut out, shared);
        put_uvarint(&mut out, row.range_value.len() - shared);
        out.extend_from_slice(&row.range_value[shared..]);
        put_uvarint(&mut out, row.value.len());
        out.extend_from_slice(&row.value);
        previous = &row.range_value;
    }
    out
}

/// Encodes `rows` (sorted by range key, unique, not empty) as one block whose redb key holds
/// `rows[0].range_value`.
pub(crate) fn encode(rows: &[IndexRow]) -> Vec<u8> {
    let raw = encode_raw(rows);
    if let Ok(compressed) = zstd::bulk::compress(&raw, ZSTD_LEVEL) {
        if compressed.len() + uvarint_len(raw.len()) < raw.len() {
            let mut out = Vec::with_capacity(1 + uvarint_len(raw.len()) + compressed.len());
            out.push(TAG_ZSTD);
            put_uvarint(&mut out, raw.len());
            out.extend_from_slice(&compressed);
            return out;
        }
    }
    let mut out = Vec::with_capacity(1 + raw.len());
    out.push(TAG_PLAIN);
    out.extend_from_slice(&raw);
    out
}

/// Decodes a block stored under first key `first_key`: its rows, sorted by range key.
pub(crate) fn decode(first_key: &[u8], block: &[u8]) -> Result<Vec<IndexRow>, StorageError> {
    let (&tag, body) = block.split_first().ok_or_else(|| corrupt("empty block"))?;
    match tag {
        TAG_PLAIN => decode_raw(first_key, body),
        TAG_ZSTD => {
            let mut at = 0;
            let raw_len = get_uvarint(body, &mut at)?;
            if raw_len > MAX_DECODED_BYTES {
                return Err(corrupt(format!("block claims {raw_len} raw bytes")));
            }
            let raw = zstd::bulk::decompress(&body[at..], raw_len).map_err(|err| corrupt(err.to_string()))?;
            if raw.len() != raw_len {
                return Err(corrupt(format!("block has {} raw bytes, expected {raw_len}", raw.len())));
            }
            decode_raw(first_key, &raw)
        }
        other => Err(corrupt(format!("unknown block tag {other}"))),
    }
}

fn decode_raw(first_key: &[u8], raw: &[u8]) -> Result<Vec<IndexRow>, StorageError> {
    let mut rows: Vec<IndexRow> = Vec::new();
    let mut at = 0;
    while at < raw.len() {
        let previous = rows.last().map(|row| row.range_value.as_slice()).unwrap_or(first_key);
        let shared = get_uvarint(raw, &mut at)?;
        if shared > previous.len() {
            return Err(corrupt(format!("shared prefix {shared} longer than the previous key")));
        }
        let suffix_len = get_uvarint(raw, &mut at)?;
        let suffix = take(raw, &mut at, suffix_len)?;
        let mut range_value = Vec::with_capacity(shared + suffix.len());
        range_value.extend_from_slice(&previous[..shared]);
        range_value.extend_from_slice(suffix);
        let value_len = get_uvarint(raw, &mut at)?;
        let value = take(raw, &mut at, value_len)?.to_vec();
        if rows.last().is_some_and(|last| last.range_value >= range_value) {
            return Err(corrupt("rows out of order"));
        }
        rows.push(IndexRow { range_value, value });
    }
    match rows.first() {
        Some(first) if first.range_value == first_key => Ok(rows),
        Some(_) => Err(corrupt("first row differs from the block key")),
        None => Err(corrupt("block without rows")),
    }
}

/// Merges `new` rows into `existing` (both sorted by range key, unique); a new row replaces an
/// existing row with the same range key.
pub(crate) fn merge(existing: Vec<IndexRow>, new: Vec<IndexRow>) -> Vec<IndexRow> {
    let mut out = Vec::with_capacity(existing.len() + new.len());
    let mut existing = existing.into_iter().peekable();
    let mut new = new.into_iter().peekable();
    loop {
        let take_new = match (existing.peek(), new.peek()) {
            (None, None) => return out,
            (Some(_), None) => false,
            (None, Some(_)) => true,
            (Some(old), Some(fresh)) => match old.range_value.cmp(&fresh.range_value) {
                std::cmp::Ordering::Less => false,
                std::cmp::Ordering::Greater => true,
                std::cmp::Ordering::Equal => {
                    existing.next();
                    true
                }
            },
        };
        out.extend(if take_new { new.next() } else { existing.next() });
    }
}

/// Splits sorted rows into blocks of at most about [`MAX_RAW_BLOCK_BYTES`] raw bytes (a single
/// larger row gets a block of its own). Rows that fit one block stay one block; larger runs are cut
/// into equal parts of about three quarters of the bound, so a block split by one more row leaves
/// room for the next ones instead of splitting again at once.
pub(crate) fn split(rows: Vec<IndexRow>) -> Vec<Vec<IndexRow>> {
    let sizes: Vec<usize> = rows
        .iter()
        .enumerate()
        .map(|(i, row)| raw_row_len(if i == 0 { &[] } else { &rows[i - 1].range_value }, row))
        .collect();
    let total: usize = sizes.iter().sum();
    if total <= MAX_RAW_BLOCK_BYTES {
        return vec![rows];
    }
    let target = total / total.div_ceil(MAX_RAW_BLOCK_BYTES * 3 / 4);
    let mut blocks = Vec::new();
    let mut current = Vec::new();
    let mut current_bytes = 0;
    for (row, size) in rows.into_iter().zip(sizes) {
        if !current.is_empty() && current_bytes + size > target {
            blocks.push(std::mem::take(&mut current));
            current_bytes = 0;
        }
        current_bytes += size;
        current.push(row);
    }
    blocks.push(current);
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(range: &str, value: &str) -> IndexRow {
        IndexRow { range_value: range.as_bytes().to_vec(), value: value.as_bytes().to_vec() }
    }

    #[test]
    fn round_trips_plain_and_compressed() {
        let small = vec![row("a\0", "x")];
        let block = encode(&small);
        assert_eq!(block[0], TAG_PLAIN);
        assert_eq!(decode(b"a\0", &block).unwrap(), small);

        let many: Vec<IndexRow> = (0..500).map(|i| row(&format!("series-{i:05}\0\0\0"), "node")).collect();
        let block = encode(&many);
        assert_eq!(block[0], TAG_ZSTD);
        assert_eq!(decode(many[0].range_value.as_slice(), &block).unwrap(), many);
    }

    #[test]
    fn empty_range_keys_and_values() {
        let rows = vec![row("", ""), row("\u{ff}", "")];
        assert_eq!(decode(b"", &encode(&rows)).unwrap(), rows);
    }

    #[test]
    fn corrupt_blocks_are_errors_not_panics() {
        let rows: Vec<IndexRow> = (0..50).map(|i| row(&format!("k{i:03}"), "v")).collect();
        let block = encode(&rows);
        for cut in 0..block.len() {
            let _ = decode(b"k000", &block[..cut]);
        }
        assert!(decode(b"k000", &[]).is_err());
        assert!(decode(b"k000", &[9, 1, 2]).is_err());
        assert!(decode(b"other", &block).is_err(), "the block key must be the first row");
        assert!(decode(b"k", &[TAG_PLAIN, 5, 0, 0]).is_err(), "shared prefix longer than the key");
        assert!(decode(b"k", &[TAG_ZSTD, 0xff, 0xff, 0xff, 0xff, 0x7f]).is_err(), "oversized raw length");
    }

    #[test]
    fn merge_replaces_and_interleaves() {
        let existing = vec![row("a", "1"), row("c", "1"), row("e", "1")];
        let new = vec![row("b", "2"), row("c", "2"), row("f", "2")];
        assert_eq!(
            merge(existing, new),
            vec![row("a", "1"), row("b", "2"), row("c", "2"), row("e", "1"), row("f", "2")]
        );
    }

    #[test]
    fn split_bounds_blocks_and_keeps_order() {
        let rows: Vec<IndexRow> =
            (0..3000).map(|i| row(&format!("{i:08}-{}", "x".repeat(20)), "value")).collect();
        let blocks = split(rows.clone());
        assert!(blocks.len() > 1);
        for block in &blocks {
            assert!(!block.is_empty());
            assert!(encode_raw(block).len() <= MAX_RAW_BLOCK_BYTES, "{}", encode_raw(block).len());
        }
        assert_eq!(blocks.concat(), rows);
        let huge = vec![row("a", &"v".repeat(MAX_RAW_BLOCK_BYTES * 2)), row("b", "small")];
        let blocks = split(huge);
        assert_eq!(blocks.len(), 2, "an oversized row gets a block of its own");
    }
}
