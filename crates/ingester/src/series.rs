//! The samples of one in-memory series: an open head chunk plus closed chunks, with Cortex's
//! ordering rules for incoming samples.

use neocortex_chunk::{XorChunk, XorIter};
use neocortex_core::{ErrorCode, QueryError, Sample, SampleSource};

mod flush_state;
#[path = "wal/series_hooks.rs"]
mod wal_hooks;

/// Samples per chunk before a new one is cut, as in Prometheus's head.
pub const SAMPLES_PER_CHUNK: usize = 120;

/// After this many samples a head chunk sizes its buffer for the whole chunk.
const SAMPLES_BEFORE_SIZING: usize = 16;

/// A complete chunk kept in memory until it is flushed to the chunk store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedChunk {
    /// Timestamp of the first sample.
    pub min_time_ms: i64,
    /// Timestamp of the last sample.
    pub max_time_ms: i64,
    /// The Prometheus XOR chunk bytes (header included).
    pub data: Box<[u8]>,
}

/// Why one sample was refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum SampleRejection {
    /// Older than the series' last sample.
    OutOfOrder { last_timestamp_ms: i64 },
    /// Same timestamp as the last sample with another value.
    NewValueForTimestamp { last_value: f64 },
}

/// What happened to one accepted sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Appended {
    /// Stored; `new_chunk` says whether a head chunk was opened for it.
    Stored { new_chunk: bool },
    /// Same timestamp and value as the last sample: silently ignored.
    Duplicate,
}

/// Cortex's equality for duplicate detection: equal values, or both NaN.
fn same_value(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// The samples of one series.
#[derive(Debug, Default)]
pub(crate) struct SeriesData {
    head: Option<XorChunk>,
    head_min_time_ms: i64,
    closed: Vec<ClosedChunk>,
    last_timestamp_ms: i64,
    last_value: f64,
    /// Wall-clock time of the last append (for the idle flush reasons).
    last_update_ms: i64,
    /// How many leading closed chunks are already in the store (see `flush_state`).
    flushed_count: u32,
    /// When the latest of them was stored.
    flushed_at_ms: i64,
}

impl SeriesData {
    fn has_samples(&self) -> bool {
        self.head.is_some() || !self.closed.is_empty()
    }

    /// Appends one sample, enforcing order as Cortex does.
    pub(crate) fn append(&mut self, timestamp_ms: i64, value: f64) -> Result<Appended, SampleRejection> {
        if self.has_samples() {
            if timestamp_ms < self.last_timestamp_ms {
                return Err(SampleRejection::OutOfOrder { last_timestamp_ms: self.last_timestamp_ms });
            }
            if timestamp_ms == self.last_timestamp_ms {
                if same_value(value, self.last_value) {
                    return Ok(Appended::Duplicate);
                }
                return Err(SampleRejection::NewValueForTimestamp { last_value: self.last_value });
            }
        }
        let new_chunk = self.head.is_none();
        let head = self.head.get_or_insert_with(XorChunk::new);
        if new_chunk {
            self.head_min_time_ms = timestamp_ms;
        }
        if head.append(timestamp_ms, value).is_err() {
            // Unreachable with SAMPLES_PER_CHUNK far below the chunk capacity; close and retry.
            self.close_head();
            return self.append(timestamp_ms, value);
        }
        self.last_timestamp_ms = timestamp_ms;
        self.last_value = value;
        if head.num_samples() == SAMPLES_BEFORE_SIZING {
            head.reserve_for_samples(SAMPLES_PER_CHUNK);
        }
        if head.num_samples() >= SAMPLES_PER_CHUNK {
            self.close_head();
        }
        Ok(Appended::Stored { new_chunk })
    }

    /// Moves the head chunk, trimmed to size, to the closed chunks.
    pub(crate) fn close_head(&mut self) {
        let Some(head) = self.head.take() else {
            return;
        };
        let chunk = ClosedChunk {
            min_time_ms: self.head_min_time_ms,
            max_time_ms: self.last_timestamp_ms,
            data: head.into_bytes().into_boxed_slice(),
        };
        // Exact growth: most series hold one or two closed chunks.
        self.closed.reserve_exact(1);
        self.closed.push(chunk);
    }

    /// Heap bytes held by the samples (capacities, without allocator overhead).
    pub(crate) fn heap_bytes(&self) -> usize {
        let head = self.head.as_ref().map_or(0, XorChunk::heap_bytes);
        let closed_table = self.closed.capacity() * std::mem::size_of::<ClosedChunk>();
        head + closed_table + self.closed.iter().map(|c| c.data.len()).sum::<usize>()
    }

    /// Number of chunks (closed plus open head).
    pub(crate) fn chunk_count(&self) -> usize {
        self.closed.len() + usize::from(self.head.is_some())
    }

    /// First and last sample timestamps, if any.
    #[cfg(test)]
    pub(crate) fn time_range(&self) -> Option<(i64, i64)> {
        let first = self
            .closed
            .first()
            .map(|c| c.min_time_ms)
            .or(self.head.as_ref().map(|_| self.head_min_time_ms))?;
        Some((first, self.last_timestamp_ms))
    }

    /// The closed chunks, oldest first.
    pub(crate) fn closed_chunks(&self) -> &[ClosedChunk] {
        &self.closed
    }

    /// Chunks as (min, max, bytes), oldest first.
    fn chunks(&self) -> impl Iterator<Item = (i64, i64, &[u8])> + '_ {
        let closed = self.closed.iter().map(|c| (c.min_time_ms, c.max_time_ms, &*c.data));
        let head = self.head.as_ref().map(|h| (self.head_min_time_ms, self.last_timestamp_ms, h.bytes()));
        closed.chain(head)
    }

    /// Appends the samples within `[start_ms, end_ms]` to `out`, in time order. Chunks are the
    /// ingester's own, so a decode error cannot happen; one would end that chunk's samples.
    pub(crate) fn samples_in_range(&self, start_ms: i64, end_ms: i64, out: &mut Vec<Sample>) {
        for (min, max, bytes) in self.chunks() {
            if max < start_ms || min > end_ms {
                continue;
            }
            let _ = XorIter::new(bytes).decode_range_into(start_ms, end_ms, out);
        }
    }

    /// A copy of the encoded chunks overlapping `[start_ms, end_ms]`, decoded only when read, or
    /// `None` when no sample lies in the range.
    pub(crate) fn encoded_range(&self, start_ms: i64, end_ms: i64) -> Option<EncodedRange> {
        if !self.has_samples_in_range(start_ms, end_ms) {
            return None;
        }
        let overlapping = || self.chunks().filter(|(min, max, _)| *max >= start_ms && *min <= end_ms);
        let total: usize = overlapping().map(|(_, _, bytes)| bytes.len()).sum();
        let mut bytes = Vec::with_capacity(total);
        let mut chunks = Vec::new();
        for (min, max, data) in overlapping() {
            chunks.push(EncodedChunk { min_time_ms: min, max_time_ms: max, end: bytes.len() + data.len() });
            bytes.extend_from_slice(data);
        }
        Some(EncodedRange {
            start_ms,
            end_ms,
            bytes: bytes.into_boxed_slice(),
            chunks: chunks.into_boxed_slice(),
        })
    }

    /// Whether any sample lies within `[start_ms, end_ms]`.
    pub(crate) fn has_samples_in_range(&self, start_ms: i64, end_ms: i64) -> bool {
        self.chunks().any(|(min, max, bytes)| {
            if max < start_ms || min > end_ms {
                return false;
            }
            if min >= start_ms && max <= end_ms {
                return true;
            }
            XorIter::new(bytes).any(|(t, _)| t >= start_ms && t <= end_ms)
        })
    }
}

/// Where one chunk of an `EncodedRange` ends in its byte buffer, and its time span.
#[derive(Debug, Clone, Copy)]
struct EncodedChunk {
    min_time_ms: i64,
    max_time_ms: i64,
    end: usize,
}

/// The encoded chunks of one series overlapping a selected range: what a query reads instead of
/// decoded samples, so the engine decodes one series at a time (a copy, so no lock is held).
#[derive(Debug)]
pub(crate) struct EncodedRange {
    start_ms: i64,
    end_ms: i64,
    bytes: Box<[u8]>,
    chunks: Box<[EncodedChunk]>,
}

impl SampleSource for EncodedRange {
    fn decode_into(&self, out: &mut Vec<Sample>) -> Result<(), QueryError> {
        let mut begin = 0;
        for chunk in self.chunks.iter() {
            let mut iter = XorIter::new(&self.bytes[begin..chunk.end]);
            begin = chunk.end;
            let decoded = if chunk.min_time_ms >= self.start_ms && chunk.max_time_ms <= self.end_ms {
                iter.decode_into(out)
            } else {
                iter.decode_range_into(self.start_ms, self.end_ms, out)
            };
            decoded.map_err(|err| QueryError::new(ErrorCode::Internal, format!("ingester chunk: {err}")))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_samples(series: &SeriesData) -> Vec<(i64, u64)> {
        let mut out = Vec::new();
        series.samples_in_range(i64::MIN, i64::MAX, &mut out);
        out.iter().map(|s| (s.timestamp_ms, s.value.to_bits())).collect()
    }

    #[test]
    fn cuts_a_chunk_every_120_samples() {
        let mut series = SeriesData::default();
        let mut new_chunks = 0;
        for i in 0..300 {
            if let Ok(Appended::Stored { new_chunk: true }) = series.append(i * 1000, i as f64) {
                new_chunks += 1;
            }
        }
        assert_eq!(new_chunks, 3);
        assert_eq!(series.closed_chunks().len(), 2);
        assert_eq!(series.chunk_count(), 3);
        assert_eq!(series.closed_chunks()[1].min_time_ms, 120_000);
        assert_eq!(series.closed_chunks()[1].max_time_ms, 239_000);
        assert_eq!(all_samples(&series).len(), 300);
        assert_eq!(series.time_range(), Some((0, 299_000)));
    }

    #[test]
    fn encoded_range_decodes_the_same_samples_as_samples_in_range() {
        let mut series = SeriesData::default();
        for i in 0..300 {
            series.append(i * 1000, i as f64 * 0.5).expect("in order");
        }
        for (start, end) in [(0, 299_000), (5_000, 130_000), (119_000, 120_000), (-10, 3), (200_500, 200_900)]
        {
            let mut expected = Vec::new();
            series.samples_in_range(start, end, &mut expected);
            let mut decoded = Vec::new();
            match series.encoded_range(start, end) {
                Some(range) => range.decode_into(&mut decoded).expect("in-memory chunks decode"),
                None => assert!(expected.is_empty(), "{start}..{end}: no range but samples"),
            }
            assert_eq!(decoded, expected, "{start}..{end}");
        }
        assert!(series.encoded_range(300_000, 400_000).is_none());
        assert!(series.encoded_range(200_500, 200_900).is_none());
    }

    #[test]
    fn ordering_rules() {
        let mut series = SeriesData::default();
        assert_eq!(series.append(1000, 1.0), Ok(Appended::Stored { new_chunk: true }));
        assert_eq!(series.append(1000, 1.0), Ok(Appended::Duplicate));
        assert_eq!(series.append(1000, 2.0), Err(SampleRejection::NewValueForTimestamp { last_value: 1.0 }));
        assert_eq!(series.append(999, 2.0), Err(SampleRejection::OutOfOrder { last_timestamp_ms: 1000 }));
        assert_eq!(series.append(1001, f64::NAN), Ok(Appended::Stored { new_chunk: false }));
        assert_eq!(series.append(1001, f64::NAN), Ok(Appended::Duplicate));
        assert_eq!(all_samples(&series).len(), 2);
    }

    #[test]
    fn range_selection() {
        let mut series = SeriesData::default();
        for i in 0..250 {
            series.append(i * 10, i as f64).expect("in order");
        }
        let mut out = Vec::new();
        series.samples_in_range(1195, 1215, &mut out);
        assert_eq!(out.iter().map(|s| s.timestamp_ms).collect::<Vec<_>>(), vec![1200, 1210]);
        assert!(series.has_samples_in_range(1195, 1201));
        assert!(!series.has_samples_in_range(1201, 1209));
        assert!(!series.has_samples_in_range(2500, 3000));
    }
}
