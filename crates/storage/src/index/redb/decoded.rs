//! Decoded index blocks kept across queries: most queries read the same blocks (the chunk rows
//! of the series of a few metrics), and decompressing and decoding them again was most of the
//! index's share of a small query.
//!
//! An entry holds the block's stored bytes next to its decoded rows and serves a read only when
//! the bytes that read found in its own transaction are equal to them. So a block rewritten by a
//! write, or read from an older snapshot, is never answered from a different version: no
//! invalidation, and no ordering between writers and readers, is needed.

use std::sync::Arc;

use super::block::{OwnedKey, SearchableBlock};

/// Bytes of decoded blocks (plus their stored bytes) kept, about 2,000 blocks.
const CAPACITY_BYTES: u64 = 64 << 20;

/// Bytes counted per entry beyond its rows, stored bytes and id (moka's bookkeeping).
const ENTRY_OVERHEAD_BYTES: usize = 128;

/// (table, block first key).
type BlockId = (String, OwnedKey);

#[derive(Debug)]
struct Entry {
    stored: Vec<u8>,
    rows: Arc<SearchableBlock>,
}

/// A bounded (by bytes) map of decoded blocks, shared by the queries of one index client; used
/// from the blocking pool, so it is moka's synchronous cache.
pub(crate) struct DecodedBlocks {
    cache: moka::sync::Cache<BlockId, Arc<Entry>>,
}

impl std::fmt::Debug for DecodedBlocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodedBlocks").field("entries", &self.cache.entry_count()).finish()
    }
}

impl Default for DecodedBlocks {
    fn default() -> Self {
        Self::with_capacity(CAPACITY_BYTES)
    }
}

impl DecodedBlocks {
    /// A map holding at most about `capacity` bytes.
    pub(crate) fn with_capacity(capacity: u64) -> Self {
        let cache = moka::sync::Cache::builder()
            .max_capacity(capacity)
            .weigher(|id: &BlockId, entry: &Arc<Entry>| {
                let bytes = entry.rows.held_bytes()
                    + entry.stored.len()
                    + id.0.len()
                    + id.1 .0.len()
                    + id.1 .1.len()
                    + ENTRY_OVERHEAD_BYTES;
                u32::try_from(bytes).unwrap_or(u32::MAX)
            })
            .build();
        Self { cache }
    }

    /// The decoded rows of the block of `table` whose first key is `first` and whose stored
    /// bytes are `stored`, decoding them (and keeping them) unless they were decoded already.
    pub(crate) fn get_or_decode(
        &self,
        table: &str,
        first: &OwnedKey,
        stored: &[u8],
    ) -> Result<Arc<SearchableBlock>, crate::error::StorageError> {
        let id: BlockId = (table.to_string(), first.clone());
        if let Some(entry) = self.cache.get(&id).filter(|entry| entry.stored == stored) {
            return Ok(Arc::clone(&entry.rows));
        }
        let rows = Arc::new(SearchableBlock::decode((&first.0, &first.1), stored)?);
        self.cache.insert(id, Arc::new(Entry { stored: stored.to_vec(), rows: Arc::clone(&rows) }));
        Ok(rows)
    }

    /// Blocks held once pending evictions have run.
    #[cfg(test)]
    pub(crate) fn len(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::super::block::{encode, Row};
    use super::*;

    fn rows(prefix: &str, count: usize) -> Vec<Row> {
        (0..count)
            .map(|i| Row {
                hash: b"h".to_vec(),
                range_value: format!("{prefix}{i:04}").into_bytes(),
                value: vec![],
            })
            .collect()
    }

    #[test]
    fn serves_only_the_version_it_decoded_and_stays_bounded() {
        let decoded = DecodedBlocks::default();
        let first: OwnedKey = (b"h".to_vec(), b"a0000".to_vec());
        let old = encode(&rows("a", 100));
        let a = decoded.get_or_decode("t", &first, &old).unwrap();
        assert!(Arc::ptr_eq(&a, &decoded.get_or_decode("t", &first, &old).unwrap()), "decoded once");
        // The same block rewritten with more rows: the new bytes are decoded, not the old rows served.
        let new = encode(&rows("a", 150));
        let b = decoded.get_or_decode("t", &first, &new).unwrap();
        assert_eq!((a.len(), b.len()), (100, 150));
        assert!(Arc::ptr_eq(&b, &decoded.get_or_decode("t", &first, &new).unwrap()));
        // Another table with the same key is another block.
        assert_eq!(decoded.get_or_decode("u", &first, &old).unwrap().len(), 100);
        assert_eq!(decoded.len(), 2);

        let entry = a.held_bytes() + old.len() + 1 + first.0.len() + first.1.len() + ENTRY_OVERHEAD_BYTES;
        let small = DecodedBlocks::with_capacity(entry as u64 * 3);
        for table in 0..50 {
            small.get_or_decode(&format!("t{table}"), &first, &old).unwrap();
        }
        assert!((1..=3).contains(&small.len()), "{} blocks", small.len());
    }
}
