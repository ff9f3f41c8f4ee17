//! One copy of each distinct label name and value per tenant. Series store small ids instead
//! of strings; ids resolve back to strings without taking a lock, so the append path can
//! compare an incoming label set with a stored one cheaply.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use crate::hash::FoldState;

/// Ids `0..FIRST_BUCKET_SIZE` live in bucket 0; bucket `b` holds `FIRST_BUCKET_SIZE << b` ids.
const FIRST_BUCKET_SIZE: usize = 64;
const FIRST_BUCKET_BITS: u32 = FIRST_BUCKET_SIZE.trailing_zeros();
/// Enough buckets for every `u32` id.
const BUCKETS: usize = 33 - FIRST_BUCKET_BITS as usize;

type Slot = OnceLock<Arc<str>>;

/// An append-only string table with lock-free lookups by id.
#[derive(Debug)]
pub(crate) struct Interner {
    ids: Mutex<HashMap<Arc<str>, u32, FoldState>>,
    buckets: [OnceLock<Box<[Slot]>>; BUCKETS],
}

impl Default for Interner {
    fn default() -> Self {
        Self { ids: Mutex::new(HashMap::default()), buckets: std::array::from_fn(|_| OnceLock::new()) }
    }
}

/// Bucket and offset of an id.
fn locate(id: u32) -> (usize, usize) {
    let shifted = id as usize + FIRST_BUCKET_SIZE;
    let bucket = (usize::BITS - 1 - shifted.leading_zeros() - FIRST_BUCKET_BITS) as usize;
    let offset = shifted - (FIRST_BUCKET_SIZE << bucket);
    (bucket, offset)
}

impl Interner {
    /// The id of `text`, adding it if new, and the shared string.
    pub(crate) fn intern(&self, text: &str) -> u32 {
        let mut ids = self.ids.lock();
        if let Some(&id) = ids.get(text) {
            return id;
        }
        let id = ids.len() as u32;
        let shared: Arc<str> = Arc::from(text);
        let (bucket, offset) = locate(id);
        let slots = self.buckets[bucket]
            .get_or_init(|| (0..(FIRST_BUCKET_SIZE << bucket)).map(|_| OnceLock::new()).collect());
        let stored = slots[offset].set(shared.clone()).is_ok();
        debug_assert!(stored, "interner slot {id} written twice");
        ids.insert(shared, id);
        id
    }

    /// Heap bytes held (strings with their reference counts, the lookup map, the id table).
    pub(crate) fn heap_bytes(&self) -> usize {
        let ids = self.ids.lock();
        // Arc header (two counters) plus the bytes, per string.
        let strings: usize = ids.keys().map(|text| 2 * std::mem::size_of::<usize>() + text.len()).sum();
        let map = ids.capacity() * (std::mem::size_of::<(Arc<str>, u32)>() + 1);
        let slots: usize = self
            .buckets
            .iter()
            .filter_map(OnceLock::get)
            .map(|slots| slots.len() * std::mem::size_of::<Slot>())
            .sum();
        strings + map + slots
    }

    /// The id of `text` if it was interned.
    pub(crate) fn lookup(&self, text: &str) -> Option<u32> {
        self.ids.lock().get(text).copied()
    }

    /// The string of `id` (empty for an unknown id, which cannot come from this interner).
    pub(crate) fn resolve(&self, id: u32) -> &str {
        self.shared(id).map(|text| &**text).unwrap_or("")
    }

    /// The shared string of `id`.
    pub(crate) fn shared(&self, id: u32) -> Option<&Arc<str>> {
        let (bucket, offset) = locate(id);
        self.buckets[bucket].get()?.get(offset)?.get()
    }

    /// Number of distinct strings.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ids.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_covers_ids_without_gaps() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(63), (0, 63));
        assert_eq!(locate(64), (1, 0));
        assert_eq!(locate(191), (1, 127));
        assert_eq!(locate(192), (2, 0));
        assert_eq!(locate(u32::MAX).0, BUCKETS - 1);
    }

    #[test]
    fn interning_is_idempotent_and_resolvable() {
        let interner = Interner::default();
        let ids: Vec<u32> = (0..1000).map(|i| interner.intern(&format!("v{i}"))).collect();
        assert_eq!(interner.intern("v7"), ids[7]);
        assert_eq!(interner.len(), 1000);
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(interner.resolve(*id), format!("v{i}"));
        }
        assert_eq!(interner.lookup("v999"), Some(ids[999]));
        assert_eq!(interner.lookup("nope"), None);
    }
}
