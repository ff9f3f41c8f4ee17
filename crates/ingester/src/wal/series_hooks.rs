//! The WAL's access to one series' samples (a child module of `series`, so the series' fields
//! stay private): checkpoint encoding and restoring.

use neocortex_chunk::{XorChunk, XorIter};

use super::{ClosedChunk, SeriesData};
use crate::wal::encoding::{put_bytes, put_signed, put_varint, DecodeError, Reader};

impl SeriesData {
    /// Appends the series' chunks (closed and head) and last sample to a checkpoint record.
    pub(crate) fn encode_checkpoint(&self, out: &mut Vec<u8>) {
        put_varint(out, self.closed.len() as u64);
        for chunk in &self.closed {
            put_signed(out, chunk.min_time_ms);
            put_signed(out, chunk.max_time_ms);
            put_bytes(out, &chunk.data);
        }
        match &self.head {
            Some(head) => {
                out.push(1);
                put_signed(out, self.head_min_time_ms);
                put_bytes(out, head.bytes());
            }
            None => out.push(0),
        }
        put_signed(out, self.last_timestamp_ms);
        out.extend_from_slice(&self.last_value.to_bits().to_le_bytes());
    }

    /// Reads what [`SeriesData::encode_checkpoint`] wrote.
    pub(crate) fn decode_checkpoint(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut data = SeriesData::default();
        let closed = reader.count()?;
        data.closed.reserve_exact(closed);
        for _ in 0..closed {
            let min_time_ms = reader.signed()?;
            let max_time_ms = reader.signed()?;
            let bytes = reader.bytes()?;
            data.closed.push(ClosedChunk { min_time_ms, max_time_ms, data: bytes.into() });
        }
        match reader.byte()? {
            0 => {}
            1 => {
                data.head_min_time_ms = reader.signed()?;
                let head = XorChunk::from_bytes(reader.bytes()?)
                    .map_err(|_| DecodeError::Invalid("corrupt head chunk"))?;
                data.head = Some(head);
            }
            _ => return Err(DecodeError::Invalid("bad head flag")),
        }
        data.last_timestamp_ms = reader.signed()?;
        data.last_value = f64::from_bits(reader.fixed_u64()?);
        Ok(data)
    }

    /// Stores a replayed sample older than the last one — two pushes to this series reached the
    /// WAL in the opposite order to memory — unless it is already held (the checkpoint and the
    /// WAL overlap) or older than everything held. Rebuilds the chunks, so it is for the rare
    /// case only. Returns whether the sample was stored.
    pub(crate) fn insert_replayed(&mut self, timestamp_ms: i64, value: f64) -> bool {
        let Some((first, last)) = self.sample_time_range() else { return false };
        if timestamp_ms < first || timestamp_ms >= last {
            return false;
        }
        let held = self
            .chunks()
            .filter(|(min, max, _)| *min <= timestamp_ms && timestamp_ms <= *max)
            .any(|(_, _, bytes)| XorIter::new(bytes).any(|(t, _)| t == timestamp_ms));
        if held {
            return false;
        }
        let mut samples = Vec::new();
        self.samples_in_range(i64::MIN, i64::MAX, &mut samples);
        let position = samples.partition_point(|sample| sample.timestamp_ms < timestamp_ms);
        samples.insert(position, neocortex_core::Sample { timestamp_ms, value });
        let mut rebuilt = SeriesData::default();
        for sample in samples {
            // In order by construction; nothing can be refused.
            let _ = rebuilt.append(sample.timestamp_ms, sample.value);
        }
        self.head = rebuilt.head;
        self.head_min_time_ms = rebuilt.head_min_time_ms;
        self.closed = rebuilt.closed;
        self.last_timestamp_ms = rebuilt.last_timestamp_ms;
        self.last_value = rebuilt.last_value;
        true
    }

    /// Number of samples held (from the chunk headers).
    pub(crate) fn sample_count(&self) -> usize {
        let closed: usize = self.closed.iter().map(|chunk| XorIter::new(&chunk.data).num_samples()).sum();
        closed + self.head.as_ref().map_or(0, XorChunk::num_samples)
    }

    /// First and last sample timestamps, if any.
    pub(crate) fn sample_time_range(&self) -> Option<(i64, i64)> {
        let first = self
            .closed
            .first()
            .map(|chunk| chunk.min_time_ms)
            .or(self.head.as_ref().map(|_| self.head_min_time_ms))?;
        Some((first, self.last_timestamp_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use neocortex_core::Sample;

    #[test]
    fn checkpoint_encoding_round_trips_and_appending_continues() {
        let mut series = SeriesData::default();
        for i in 0..250 {
            series.append(i * 15_000, (i as f64) * 0.25).expect("in order");
        }
        let mut bytes = Vec::new();
        series.encode_checkpoint(&mut bytes);
        let mut restored = SeriesData::decode_checkpoint(&mut Reader::new(&bytes)).expect("decodes");
        let all = |s: &SeriesData| {
            let mut out: Vec<Sample> = Vec::new();
            s.samples_in_range(i64::MIN, i64::MAX, &mut out);
            out.iter().map(|s| (s.timestamp_ms, s.value.to_bits())).collect::<Vec<_>>()
        };
        assert_eq!(all(&restored), all(&series));
        assert_eq!(restored.chunk_count(), 3);
        assert!(restored.append(249 * 15_000, 1.0).is_err(), "order rules survive the restore");
        restored.append(250 * 15_000, 7.0).expect("appends after the restored head");
        series.append(250 * 15_000, 7.0).expect("in order");
        assert_eq!(all(&restored), all(&series));
        assert!(SeriesData::decode_checkpoint(&mut Reader::new(&bytes[..bytes.len() - 3])).is_err());
    }

    #[test]
    fn late_replayed_samples_are_inserted_once() {
        let mut series = SeriesData::default();
        for i in (0..300).filter(|i| i % 50 != 7) {
            series.append(i * 10, i as f64).expect("in order");
        }
        assert!(!series.insert_replayed(100, 10.0), "already held");
        assert!(!series.insert_replayed(-5, 1.0), "older than everything held");
        assert!(series.insert_replayed(70, 7.0));
        assert!(series.insert_replayed(2570, 257.0));
        assert!(!series.insert_replayed(2570, 257.0), "second time: held");
        let mut out: Vec<Sample> = Vec::new();
        series.samples_in_range(i64::MIN, i64::MAX, &mut out);
        let times: Vec<i64> = out.iter().map(|s| s.timestamp_ms).collect();
        let expected: Vec<i64> =
            (0..300).filter(|i| i % 50 != 7 || *i == 7 || *i == 257).map(|i| i * 10).collect();
        assert_eq!(times, expected);
        assert!(out.iter().all(|s| s.value == (s.timestamp_ms / 10) as f64));
        series.append(3000, 1.0).expect("appending continues");
    }
}
