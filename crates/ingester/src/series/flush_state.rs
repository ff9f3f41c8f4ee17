//! What the flusher needs from one series: whether it has unflushed chunks and how old and idle
//! they are, the chunks to write, and the bookkeeping of chunks already in the store (kept for
//! the retain period, then dropped).
//!
//! Closed chunks are `[flushed..., unflushed...]`: the first `flushed_count` are in the store,
//! the latest of them stored at `flushed_at_ms`; they are dropped together once that time is
//! older than the retain period. New chunks are only appended and only stored chunks are dropped
//! from the front, so a chunk is identified across a flush by its first sample time.

use neocortex_core::is_stale_nan;

use super::{ClosedChunk, SeriesData};

impl SeriesData {
    /// Records an append at wall-clock time `now_ms`.
    pub(crate) fn touch(&mut self, now_ms: i64) {
        self.last_update_ms = now_ms;
    }

    /// Wall-clock time of the last append.
    pub(crate) fn last_update_ms(&self) -> i64 {
        self.last_update_ms
    }

    /// Timestamp of the last sample.
    pub(crate) fn last_sample_ms(&self) -> i64 {
        self.last_timestamp_ms
    }

    /// Whether the last sample is a staleness marker.
    pub(crate) fn ends_stale(&self) -> bool {
        self.has_samples() && is_stale_nan(self.last_value)
    }

    /// First sample time of the oldest chunk not yet in the store (closed or head).
    pub(crate) fn first_unflushed_ms(&self) -> Option<i64> {
        match self.closed.get(self.flushed_count as usize) {
            Some(chunk) => Some(chunk.min_time_ms),
            None => self.head.as_ref().map(|_| self.head_min_time_ms),
        }
    }

    /// Closes the head and returns copies of every chunk not yet in the store, oldest first.
    pub(crate) fn take_unflushed(&mut self) -> Vec<ClosedChunk> {
        self.close_head();
        self.closed[self.flushed_count as usize..].to_vec()
    }

    /// Marks the unflushed chunks starting at or before `through_min_ms` as stored at `now_ms`;
    /// returns how many were marked.
    pub(crate) fn mark_flushed(&mut self, through_min_ms: i64, now_ms: i64) -> usize {
        let before = self.flushed_count;
        while let Some(chunk) = self.closed.get(self.flushed_count as usize) {
            if chunk.min_time_ms > through_min_ms {
                break;
            }
            self.flushed_count += 1;
        }
        if self.flushed_count > before {
            self.flushed_at_ms = now_ms;
        }
        (self.flushed_count - before) as usize
    }

    /// Drops the stored chunks if they were stored at or before `cutoff_ms`; returns how many
    /// were dropped.
    pub(crate) fn drop_flushed(&mut self, cutoff_ms: i64) -> usize {
        let count = self.flushed_count as usize;
        if count == 0 || self.flushed_at_ms > cutoff_ms {
            return 0;
        }
        self.closed.drain(..count);
        self.flushed_count = 0;
        if self.closed.is_empty() {
            self.closed = Vec::new();
        }
        count
    }

    /// Whether the series holds no chunk at all (every chunk flushed and dropped).
    pub(crate) fn is_empty(&self) -> bool {
        !self.has_samples()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_bookkeeping() {
        let mut series = SeriesData::default();
        for i in 0..250 {
            series.append(i * 1000, i as f64).unwrap();
        }
        series.touch(42);
        assert_eq!(series.last_update_ms(), 42);
        assert_eq!(series.first_unflushed_ms(), Some(0));
        let chunks = series.take_unflushed();
        assert_eq!(chunks.len(), 3, "two full chunks and the closed head");
        assert_eq!(chunks[2].min_time_ms, 240_000);
        // A chunk closed while the flush ran is not marked.
        for i in 250..370 {
            series.append(i * 1000, i as f64).unwrap();
        }
        assert_eq!(series.mark_flushed(chunks[2].min_time_ms, 1000), 3);
        assert_eq!(series.first_unflushed_ms(), Some(250_000));
        assert_eq!(series.chunk_count(), 4);
        assert_eq!(series.drop_flushed(999), 0);
        assert_eq!(series.drop_flushed(1000), 3);
        assert_eq!(series.chunk_count(), 1);
        let mut out = Vec::new();
        series.samples_in_range(0, i64::MAX, &mut out);
        assert_eq!(out.len(), 120, "unflushed samples stay");
        assert!(!series.is_empty());
        let rest = series.take_unflushed();
        assert_eq!(series.mark_flushed(rest[0].min_time_ms, 2000), 1);
        assert_eq!(series.first_unflushed_ms(), None);
        assert_eq!(series.drop_flushed(2000), 1);
        assert!(series.is_empty());
        // An emptied series has forgotten its last sample, as a new series would.
        assert!(series.append(369_000, 1.0).is_ok());
    }

    #[test]
    fn staleness_marker_is_seen() {
        let mut series = SeriesData::default();
        assert!(!series.ends_stale());
        series.append(1, 1.0).unwrap();
        assert!(!series.ends_stale());
        series.append(2, neocortex_core::stale_nan()).unwrap();
        assert!(series.ends_stale());
        assert_eq!(series.last_sample_ms(), 2);
    }
}
