//! The on-disk block of the redb index: the rows (hash key, range key, value) that sort between
//! the block's first key and the next block's first key, prefix-compressed and, when that is
//! smaller, zstd-compressed.
//!
//! Layout: one tag byte, then either the raw row bytes (`TAG_PLAIN`) or a uvarint raw length and
//! one zstd frame of them (`TAG_ZSTD`). The raw rows are, each: the hash key, then the range key,
//! each as uvarint length of the prefix shared with the previous row's (for the first row: with
//! the block's first key, which the redb key already holds, so the first key costs two bytes),
//! uvarint suffix length, suffix; then uvarint value length, value.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::ops::ControlFlow;

use crate::error::StorageError;

/// One index row as blocks hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    /// The hash key's bytes.
    pub hash: Vec<u8>,
    /// The range key.
    pub range_value: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
}

/// An owned (hash key, range key): a block's first key.
pub(crate) type OwnedKey = (Vec<u8>, Vec<u8>);

/// One encoded block: its first row's key and its bytes.
pub(crate) type EncodedBlock = (OwnedKey, Vec<u8>);

impl Row {
    /// (hash key, range key): the order of rows in and between blocks.
    pub(crate) fn key(&self) -> (&[u8], &[u8]) {
        (&self.hash, &self.range_value)
    }
}

/// Raw (prefix-compressed, before zstd) bytes above which a block is split on write. Measured on
/// the store benchmark's rows (v11, 16 row shards, 2,000 series): 8 KiB blocks took 38 % more
/// pages than 16 KiB, 32 KiB only 2 % fewer, while every write to a block re-encodes all of it.
pub(crate) const MAX_RAW_BLOCK_BYTES: usize = 16 * 1024;

/// Stored (encoded) bytes above which a block of several rows is halved: a block, its redb key
/// and redb's per-entry bytes then fit one 4 KiB page, where a slightly larger one would take a
/// page of 8 KiB (redb gives an entry larger than a page a power-of-two run of pages). On the
/// benchmark's rows this bound saves 16 % of the pages.
pub(crate) const MAX_STORED_BLOCK_BYTES: usize = 3_800;

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

/// Raw bytes `bytes` take after `previous`: shared length, suffix length, suffix.
fn raw_part_len(previous: &[u8], bytes: &[u8]) -> usize {
    let suffix = bytes.len() - shared_prefix(previous, bytes);
    uvarint_len(bytes.len() - suffix) + uvarint_len(suffix) + suffix
}

/// Raw bytes `row` takes after `previous` (the first row's: after nothing, an upper bound).
fn raw_row_len(previous: Option<&Row>, row: &Row) -> usize {
    let (hash, range) = previous.map(Row::key).unwrap_or_default();
    raw_part_len(hash, &row.hash)
        + raw_part_len(range, &row.range_value)
        + uvarint_len(row.value.len())
        + row.value.len()
}

fn put_part(out: &mut Vec<u8>, previous: &[u8], bytes: &[u8]) {
    let shared = shared_prefix(previous, bytes);
    put_uvarint(out, shared);
    put_uvarint(out, bytes.len() - shared);
    out.extend_from_slice(&bytes[shared..]);
}

fn encode_raw(rows: &[Row]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut previous = rows.first().map(Row::key).unwrap_or_default();
    for row in rows {
        put_part(&mut out, previous.0, &row.hash);
        put_part(&mut out, previous.1, &row.range_value);
        put_uvarint(&mut out, row.value.len());
        out.extend_from_slice(&row.value);
        previous = row.key();
    }
    out
}

/// Encodes `rows` (sorted by key, unique, not empty) as one block whose redb key holds
/// `rows[0].key()`.
pub(crate) fn encode(rows: &[Row]) -> Vec<u8> {
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

/// Splits sorted, unique rows into blocks (see [`split`]) and encodes them, halving any block of
/// several rows whose encoding exceeds [`MAX_STORED_BLOCK_BYTES`]: (first row's key, block bytes)
/// per block, in key order.
pub(crate) fn encode_blocks(rows: Vec<Row>) -> Vec<EncodedBlock> {
    let mut blocks = Vec::new();
    for part in split(rows) {
        encode_bounded(part, &mut blocks);
    }
    blocks
}

fn encode_bounded(mut rows: Vec<Row>, blocks: &mut Vec<EncodedBlock>) {
    let bytes = encode(&rows);
    if bytes.len() <= MAX_STORED_BLOCK_BYTES || rows.len() < 2 {
        blocks.push(((rows[0].hash.clone(), rows[0].range_value.clone()), bytes));
        return;
    }
    let back = rows.split_off(rows.len() / 2);
    encode_bounded(rows, blocks);
    encode_bounded(back, blocks);
}

/// Decodes a block stored under first key `first_key`: its rows, sorted by key.
pub(crate) fn decode(first_key: (&[u8], &[u8]), block: &[u8]) -> Result<Vec<Row>, StorageError> {
    let mut rows = Vec::new();
    scan(first_key, block, |hash, range_value, value| {
        rows.push(Row { hash: hash.to_vec(), range_value: range_value.to_vec(), value: value.to_vec() });
        ControlFlow::Continue(())
    })?;
    Ok(rows)
}

/// Calls `visit` with each row (hash key, range key, value) of a block stored under `first_key`,
/// in key order, until it breaks.
pub(crate) fn scan(
    first_key: (&[u8], &[u8]),
    block: &[u8],
    visit: impl FnMut(&[u8], &[u8], &[u8]) -> ControlFlow<()>,
) -> Result<(), StorageError> {
    scan_raw(first_key, &raw_rows(block)?, visit)
}

/// The raw (prefix-compressed) rows of a stored block, decompressed if it is compressed. Queries
/// keep these to scan one block for several queries.
pub(crate) fn raw_rows(block: &[u8]) -> Result<Cow<'_, [u8]>, StorageError> {
    let (&tag, body) = block.split_first().ok_or_else(|| corrupt("empty block"))?;
    match tag {
        TAG_PLAIN => Ok(Cow::Borrowed(body)),
        TAG_ZSTD => {
            let mut at = 0;
            let raw_len = get_uvarint(body, &mut at)?;
            if raw_len > MAX_DECODED_BYTES {
                return Err(corrupt(format!("block claims {raw_len} raw bytes")));
            }
            let raw = crate::zstd_frame::decompress(&body[at..], raw_len)
                .map_err(|err| corrupt(err.to_string()))?;
            if raw.len() != raw_len {
                return Err(corrupt(format!("block has {} raw bytes, expected {raw_len}", raw.len())));
            }
            Ok(Cow::Owned(raw))
        }
        other => Err(corrupt(format!("unknown block tag {other}"))),
    }
}

/// Reads one prefix-compressed part (hash or range key) following `previous` into `out`.
fn get_part(raw: &[u8], at: &mut usize, previous: &[u8], out: &mut Vec<u8>) -> Result<(), StorageError> {
    let shared = get_uvarint(raw, at)?;
    if shared > previous.len() {
        return Err(corrupt(format!("shared prefix {shared} longer than the previous key")));
    }
    let suffix_len = get_uvarint(raw, at)?;
    let suffix = take(raw, at, suffix_len)?;
    out.clear();
    out.extend_from_slice(&previous[..shared]);
    out.extend_from_slice(suffix);
    Ok(())
}

/// Calls `visit` with each row of raw rows ([`raw_rows`]) of a block stored under `first_key`, in
/// key order, until it breaks: no allocation per row, and rows after a break are not decoded.
pub(crate) fn scan_raw(
    first_key: (&[u8], &[u8]),
    raw: &[u8],
    mut visit: impl FnMut(&[u8], &[u8], &[u8]) -> ControlFlow<()>,
) -> Result<(), StorageError> {
    let (mut previous_hash, mut previous_range) = (first_key.0.to_vec(), first_key.1.to_vec());
    let (mut hash, mut range_value) = (Vec::new(), Vec::new());
    let mut at = 0;
    let mut first = true;
    while at < raw.len() {
        get_part(raw, &mut at, &previous_hash, &mut hash)?;
        get_part(raw, &mut at, &previous_range, &mut range_value)?;
        let value_len = get_uvarint(raw, &mut at)?;
        let value = take(raw, &mut at, value_len)?;
        let key = (hash.as_slice(), range_value.as_slice());
        if first && key != first_key {
            return Err(corrupt("first row differs from the block key"));
        }
        if !first && key <= (previous_hash.as_slice(), previous_range.as_slice()) {
            return Err(corrupt("rows out of order"));
        }
        if visit(&hash, &range_value, value).is_break() {
            return Ok(());
        }
        std::mem::swap(&mut hash, &mut previous_hash);
        std::mem::swap(&mut range_value, &mut previous_range);
        first = false;
    }
    if first {
        return Err(corrupt("block without rows"));
    }
    Ok(())
}

/// A block's rows laid out for search: full keys and values in one buffer, with each row's end
/// offsets. Queries sorted by key read each block many times (one query per series); finding the
/// first wanted row by binary search, instead of scanning the prefix-compressed rows from the
/// block's start for every query, made those lookups several times cheaper.
#[derive(Debug)]
pub(crate) struct SearchableBlock {
    bytes: Vec<u8>,
    /// Per row, the ends of its hash key, range key and value in `bytes`; a row starts where the
    /// previous one ends.
    ends: Vec<[usize; 3]>,
}

impl SearchableBlock {
    /// Decodes a block stored under `first_key`.
    pub(crate) fn decode(first_key: (&[u8], &[u8]), block: &[u8]) -> Result<Self, StorageError> {
        let raw = raw_rows(block)?;
        let mut bytes = Vec::with_capacity(raw.len() * 2);
        let mut ends = Vec::new();
        scan_raw(first_key, &raw, |hash, range_value, value| {
            bytes.extend_from_slice(hash);
            let hash_end = bytes.len();
            bytes.extend_from_slice(range_value);
            let range_end = bytes.len();
            bytes.extend_from_slice(value);
            ends.push([hash_end, range_end, bytes.len()]);
            ControlFlow::Continue(())
        })?;
        Ok(Self { bytes, ends })
    }

    /// Rows held.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Heap bytes held.
    pub(crate) fn held_bytes(&self) -> usize {
        self.bytes.capacity() + self.ends.capacity() * std::mem::size_of::<[usize; 3]>()
    }

    /// Row `index`: (hash key, range key, value).
    pub(crate) fn row(&self, index: usize) -> (&[u8], &[u8], &[u8]) {
        let start = index.checked_sub(1).map_or(0, |previous| self.ends[previous][2]);
        let [hash_end, range_end, value_end] = self.ends[index];
        (&self.bytes[start..hash_end], &self.bytes[hash_end..range_end], &self.bytes[range_end..value_end])
    }

    /// The index of the first row whose key is at or after `key` (`len()` when none is).
    pub(crate) fn first_at_or_after(&self, key: (&[u8], &[u8])) -> usize {
        let (mut low, mut high) = (0, self.ends.len());
        while low < high {
            let middle = low + (high - low) / 2;
            let (hash, range_value, _) = self.row(middle);
            if (hash, range_value) < key {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        low
    }
}

/// Merges `new` rows into `existing` (both sorted by key, unique); a new row replaces an existing
/// row with the same key.
pub(crate) fn merge(existing: Vec<Row>, new: Vec<Row>) -> Vec<Row> {
    let mut out = Vec::with_capacity(existing.len() + new.len());
    let mut existing = existing.into_iter().peekable();
    let mut new = new.into_iter().peekable();
    loop {
        let take_new = match (existing.peek(), new.peek()) {
            (None, None) => return out,
            (Some(_), None) => false,
            (None, Some(_)) => true,
            (Some(old), Some(fresh)) => match old.key().cmp(&fresh.key()) {
                Ordering::Less => false,
                Ordering::Greater => true,
                Ordering::Equal => {
                    existing.next();
                    true
                }
            },
        };
        out.extend(if take_new { new.next() } else { existing.next() });
    }
}

/// Splits sorted rows into blocks of at most about [`MAX_RAW_BLOCK_BYTES`] raw bytes (a single
/// larger row gets a block of its own; no rows, no blocks). Rows that fit one block stay one block; larger runs are cut
/// into equal parts of about three quarters of the bound, so a block split by one more row leaves
/// room for the next ones instead of splitting again at once.
pub(crate) fn split(rows: Vec<Row>) -> Vec<Vec<Row>> {
    let sizes: Vec<usize> = rows
        .iter()
        .enumerate()
        .map(|(i, row)| raw_row_len(i.checked_sub(1).map(|p| &rows[p]), row))
        .collect();
    let total: usize = sizes.iter().sum();
    if rows.is_empty() {
        return Vec::new();
    }
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

    fn row(range: &str, value: &str) -> Row {
        hashed("h", range, value)
    }

    fn hashed(hash: &str, range: &str, value: &str) -> Row {
        Row { hash: hash.into(), range_value: range.into(), value: value.into() }
    }

    #[test]
    fn round_trips_plain_and_compressed() {
        let small = vec![row("a\0", "x")];
        let block = encode(&small);
        assert_eq!(block[0], TAG_PLAIN);
        assert_eq!(decode((b"h", b"a\0"), &block).unwrap(), small);

        let many: Vec<Row> = (0..500).map(|i| row(&format!("series-{i:05}\0\0\0"), "node")).collect();
        let block = encode(&many);
        assert_eq!(block[0], TAG_ZSTD);
        assert_eq!(decode(many[0].key(), &block).unwrap(), many);
    }

    #[test]
    fn searchable_block_finds_the_first_row_at_or_after_a_key() {
        let rows: Vec<Row> =
            (0..300).map(|i| hashed(&format!("h{}", i / 100), &format!("r{:04}", i * 2), "value")).collect();
        let block = encode(&rows);
        let searchable = SearchableBlock::decode(rows[0].key(), &block).unwrap();
        assert_eq!(searchable.len(), rows.len());
        for (index, row) in rows.iter().enumerate() {
            assert_eq!(searchable.row(index), (&row.hash[..], &row.range_value[..], &row.value[..]));
            assert_eq!(searchable.first_at_or_after(row.key()), index);
        }
        // Between rows, before the first, after the last, and at a hash key's empty range key.
        assert_eq!(searchable.first_at_or_after((b"h0", b"r0003")), 2);
        assert_eq!(searchable.first_at_or_after((b"a", b"")), 0);
        assert_eq!(searchable.first_at_or_after((b"h2", b"r9999")), 300);
        assert_eq!(searchable.first_at_or_after((b"h1", b"")), 100);
        assert!(SearchableBlock::decode((b"h0", b"other"), &block).is_err());
    }

    #[test]
    fn empty_range_keys_and_values() {
        let rows = vec![hashed("", "", ""), hashed("", "\u{ff}", ""), hashed("h", "", "")];
        assert_eq!(decode((b"", b""), &encode(&rows)).unwrap(), rows);
    }

    #[test]
    fn corrupt_blocks_are_errors_not_panics() {
        let rows: Vec<Row> = (0..50).map(|i| row(&format!("k{i:03}"), "v")).collect();
        let block = encode(&rows);
        for cut in 0..block.len() {
            let _ = decode((b"h", b"k000"), &block[..cut]);
        }
        assert!(decode((b"h", b"k000"), &[]).is_err());
        assert!(decode((b"h", b"k000"), &[9, 1, 2]).is_err());
        assert!(decode((b"h", b"other"), &block).is_err(), "the block key must be the first row");
        assert!(decode((b"h", b"k"), &[TAG_PLAIN, 5, 0, 0]).is_err(), "shared prefix longer than the key");
        assert!(
            decode((b"h", b"k"), &[TAG_ZSTD, 0xff, 0xff, 0xff, 0xff, 0x7f]).is_err(),
            "oversized raw length"
        );
    }

    #[test]
    fn merge_replaces_and_interleaves() {
        let existing = vec![row("a", "1"), row("c", "1"), row("e", "1")];
        assert_eq!(
            merge(vec![hashed("a", "z", "1")], vec![row("a", "2")]),
            vec![hashed("a", "z", "1"), row("a", "2")]
        );
        let new = vec![row("b", "2"), row("c", "2"), row("f", "2")];
        assert_eq!(
            merge(existing, new),
            vec![row("a", "1"), row("b", "2"), row("c", "2"), row("e", "1"), row("f", "2")]
        );
    }

    #[test]
    fn encoded_blocks_fit_a_page() {
        // Incompressible rows (xorshift bytes): 13 KiB raw, one raw block, 13 KiB stored.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut rows: Vec<Row> = (0..400u32)
            .map(|i| {
                let mut range = i.to_be_bytes().to_vec();
                for _ in 0..4 {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    range.extend_from_slice(&state.to_le_bytes());
                }
                Row { hash: b"h".to_vec(), range_value: range, value: Vec::new() }
            })
            .collect();
        rows.sort_by(|a, b| a.range_value.cmp(&b.range_value));
        assert_eq!(split(rows.clone()).len(), 1);
        let blocks = encode_blocks(rows.clone());
        assert!(blocks.len() > 3, "{}", blocks.len());
        let mut decoded = Vec::new();
        for ((hash, first), bytes) in &blocks {
            assert!(bytes.len() <= MAX_STORED_BLOCK_BYTES);
            decoded.extend(decode((hash, first), bytes).unwrap());
        }
        assert_eq!(decoded, rows);
        assert!(encode_blocks(Vec::new()).is_empty());
    }

    #[test]
    fn split_bounds_blocks_and_keeps_order() {
        let rows: Vec<Row> = (0..3000).map(|i| row(&format!("{i:08}-{}", "x".repeat(20)), "value")).collect();
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
