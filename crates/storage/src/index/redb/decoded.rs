//! Decoded index blocks kept across queries: most queries read the same blocks (the chunk rows
//! of the series of a few metrics), and decompressing and decoding them again was most of the
//! index's share of a small query.
//!
//! An entry holds the block's stored bytes next to its decoded rows and serves a read only when
//! the bytes that read found in its own transaction are equal to them. So a block rewritten by a
//! write, or read from an older snapshot, is never answered from a different version: no
//! invalidation, and no ordering between writers and readers, is needed.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use super::block::{OwnedKey, SearchableBlock};

/// Bytes of decoded blocks (plus their stored bytes) kept, about 2,000 blocks.
const CAPACITY_BYTES: usize = 64 << 20;

/// (table, block first key).
type BlockId = (String, OwnedKey);

#[derive(Debug)]
struct Entry {
    stored: Vec<u8>,
    rows: Arc<SearchableBlock>,
    bytes: usize,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<BlockId, Entry>,
    /// Insertion order, oldest first, for eviction (ids may repeat or be gone already).
    order: VecDeque<BlockId>,
    bytes: usize,
}

/// A bounded (by bytes, oldest inserted first) map of decoded blocks, shared by the queries of
/// one index client.
#[derive(Debug)]
pub(crate) struct DecodedBlocks {
    state: Mutex<State>,
    capacity: usize,
}

impl Default for DecodedBlocks {
    fn default() -> Self {
        Self::with_capacity(CAPACITY_BYTES)
    }
}

impl DecodedBlocks {
    /// A map holding at most about `capacity` bytes.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self { state: Mutex::new(State::default()), capacity }
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
        {
            let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(entry) = state.entries.get(&id).filter(|entry| entry.stored == stored) {
                return Ok(Arc::clone(&entry.rows));
            }
        }
        let rows = Arc::new(SearchableBlock::decode((&first.0, &first.1), stored)?);
        let bytes = rows.held_bytes() + stored.len() + id.0.len() + id.1 .0.len() + id.1 .1.len() + 128;
        if bytes > self.capacity {
            return Ok(rows);
        }
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = Entry { stored: stored.to_vec(), rows: Arc::clone(&rows), bytes };
        if let Some(replaced) = state.entries.insert(id.clone(), entry) {
            state.bytes -= replaced.bytes;
        }
        state.bytes += bytes;
        state.order.push_back(id);
        while state.bytes > self.capacity {
            let Some(oldest) = state.order.pop_front() else { break };
            if let Some(evicted) = state.entries.remove(&oldest) {
                state.bytes -= evicted.bytes;
            }
        }
        // Ids of replaced or evicted entries stay queued; keep the queue from outgrowing the map.
        if state.order.len() > 2 * state.entries.len() + 64 {
            let State { entries, order, .. } = &mut *state;
            order.retain(|id| entries.contains_key(id));
        }
        Ok(rows)
    }

    /// Blocks held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).entries.len()
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

        let entry = a.held_bytes() + old.len() + 1 + first.0.len() + first.1.len() + 128;
        let small = DecodedBlocks::with_capacity(entry * 3);
        for table in 0..50 {
            small.get_or_decode(&format!("t{table}"), &first, &old).unwrap();
        }
        assert!(small.len() <= 3, "{} blocks", small.len());
        assert!(small.state.lock().unwrap().order.len() <= 2 * 3 + 64);
    }
}
