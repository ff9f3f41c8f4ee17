//! An open-addressing table from label-set hash to series slot, 8 bytes per entry.
//!
//! Each entry packs the high 32 bits of the hash (the tag) with the slot, so a lookup usually
//! touches one cache line; a standard `HashMap<u64, u32>` keeps control bytes and entries apart
//! and costs two cache misses per lookup on a large table. Entries with the same tag are told
//! apart by the caller's label comparison, which also makes hash collisions harmless.

/// An empty entry (no valid slot is `u32::MAX`).
const EMPTY: u64 = u64::MAX;
const MIN_CAPACITY: usize = 16;

/// Hash -> slot table with linear probing.
#[derive(Debug, Default)]
pub(crate) struct SlotTable {
    entries: Vec<u64>,
    len: usize,
}

fn tag_of(hash: u64) -> u32 {
    (hash >> 32) as u32
}

impl SlotTable {
    fn mask(&self) -> usize {
        self.entries.len() - 1
    }

    /// The first slot stored under `hash` for which `is_match` holds.
    pub(crate) fn find(&self, hash: u64, mut is_match: impl FnMut(u32) -> bool) -> Option<u32> {
        if self.entries.is_empty() {
            return None;
        }
        let tag = tag_of(hash);
        let mask = self.mask();
        let mut index = tag as usize & mask;
        loop {
            let entry = self.entries[index];
            if entry == EMPTY {
                return None;
            }
            if (entry >> 32) as u32 == tag && is_match(entry as u32) {
                return Some(entry as u32);
            }
            index = (index + 1) & mask;
        }
    }

    /// The entry at `hash`'s home position, packed (`u64::MAX` when empty). Reading the home
    /// positions of a batch first lets the CPU fetch their cache lines in parallel.
    pub(crate) fn home_entry(&self, hash: u64) -> u64 {
        if self.entries.is_empty() {
            return EMPTY;
        }
        self.entries[tag_of(hash) as usize & self.mask()]
    }

    /// Stores `slot` under `hash` (the caller checked it is not there yet).
    pub(crate) fn insert(&mut self, hash: u64, slot: u32) {
        debug_assert!(slot != u32::MAX);
        if (self.len + 1) * 4 > self.entries.len() * 3 {
            self.grow();
        }
        self.place((u64::from(tag_of(hash)) << 32) | u64::from(slot));
        self.len += 1;
    }

    fn place(&mut self, entry: u64) {
        let mask = self.mask();
        let mut index = (entry >> 32) as usize & mask;
        while self.entries[index] != EMPTY {
            index = (index + 1) & mask;
        }
        self.entries[index] = entry;
    }

    fn grow(&mut self) {
        let capacity = (self.entries.len() * 2).max(MIN_CAPACITY);
        let old = std::mem::replace(&mut self.entries, vec![EMPTY; capacity]);
        for entry in old.into_iter().filter(|&entry| entry != EMPTY) {
            self.place(entry);
        }
    }

    /// Removes the entry of `slot` stored under `hash`; returns whether it was there. Later
    /// entries of the probe run are shifted back so lookups never stop at a hole.
    pub(crate) fn remove(&mut self, hash: u64, slot: u32) -> bool {
        if self.entries.is_empty() {
            return false;
        }
        let wanted = (u64::from(tag_of(hash)) << 32) | u64::from(slot);
        let mask = self.mask();
        let mut hole = tag_of(hash) as usize & mask;
        loop {
            let entry = self.entries[hole];
            if entry == EMPTY {
                return false;
            }
            if entry == wanted {
                break;
            }
            hole = (hole + 1) & mask;
        }
        let mut next = hole;
        loop {
            next = (next + 1) & mask;
            let entry = self.entries[next];
            if entry == EMPTY {
                break;
            }
            let home = (entry >> 32) as usize & mask;
            // The entry stays if its home lies cyclically in (hole, next].
            let stays = if hole <= next { hole < home && home <= next } else { hole < home || home <= next };
            if !stays {
                self.entries[hole] = entry;
                hole = next;
            }
        }
        self.entries[hole] = EMPTY;
        self.len -= 1;
        true
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<u64>()
    }

    /// Number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_inserted_slot_even_with_equal_tags() {
        let mut table = SlotTable::default();
        for slot in 0..10_000u32 {
            // Every 100 consecutive slots share a hash: a worst case of collisions.
            table.insert(u64::from(slot / 100) << 32 | 7, slot);
        }
        assert_eq!(table.len(), 10_000);
        for slot in (0..10_000u32).step_by(37) {
            let hash = u64::from(slot / 100) << 32 | 7;
            assert_eq!(table.find(hash, |candidate| candidate == slot), Some(slot));
        }
        assert_eq!(table.find(u64::from(500u32) << 32, |_| true), None);
        assert_eq!(SlotTable::default().find(1, |_| true), None);
    }

    #[test]
    fn removal_keeps_every_other_entry_findable() {
        let mut table = SlotTable::default();
        let hash = |slot: u32| (u64::from(slot % 50) << 32) | u64::from(slot);
        for slot in 0..2000u32 {
            table.insert(hash(slot), slot);
        }
        for slot in (0..2000u32).filter(|s| s % 3 == 0) {
            assert!(table.remove(hash(slot), slot));
        }
        assert!(!table.remove(hash(3), 3), "already removed");
        assert!(!table.remove(hash(1), 999_999), "never there");
        for slot in 0..2000u32 {
            let found = table.find(hash(slot), |candidate| candidate == slot);
            assert_eq!(found.is_some(), slot % 3 != 0, "slot {slot}");
        }
        assert_eq!(table.len(), 2000 - 667);
    }
}
