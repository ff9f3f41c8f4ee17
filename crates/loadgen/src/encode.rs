//! Turns a workload into ready-to-send remote-write request bodies (protobuf `WriteRequest`, snappy
//! block format), split between connections so that every series keeps its samples in time order.
//!
//! All encoding happens before the timed phase so the generator's own CPU cost is not measured.
//! Each series' labels are encoded once and copied into every request that carries the series.

use bytes::Bytes;
use prost::encoding::{double, encode_key, encode_varint, encoded_len_varint, int64, string, WireType};

use crate::workload::{LabelPair, Workload};

/// `WriteRequest.timeseries`, `TimeSeries.labels` and `Label.name` share field number 1.
const FIELD_ONE: u32 = 1;
/// `TimeSeries.samples`, `Label.value` and `Sample.timestamp` share field number 2.
const FIELD_TWO: u32 = 2;

/// How series and samples are grouped into requests and requests into connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchingSpec {
    /// Series carried by one request.
    pub series_per_request: usize,
    /// Consecutive samples of each series carried by one request (1 = one scrape round per request,
    /// as Prometheus sends when it keeps up).
    pub samples_per_request: usize,
    /// Parallel connections; each owns a fixed share of the series.
    pub connections: usize,
}

/// One encoded request body and the number of samples it carries.
#[derive(Clone, Debug)]
pub struct EncodedRequest {
    /// Snappy-compressed protobuf `WriteRequest`.
    pub body: Bytes,
    /// Samples in the request.
    pub samples: u64,
}

/// Every request of the workload, grouped per connection in sending order.
#[derive(Clone, Debug, Default)]
pub struct EncodedWorkload {
    /// `per_connection[c]` is what connection `c` sends, in order.
    pub per_connection: Vec<Vec<EncodedRequest>>,
    /// Samples across all requests.
    pub total_samples: u64,
    /// Compressed bytes across all requests.
    pub total_bytes: u64,
}

impl EncodedWorkload {
    /// Number of requests across all connections.
    pub fn request_count(&self) -> usize {
        self.per_connection.iter().map(Vec::len).sum()
    }
}

/// A series ready to be copied into requests: its encoded `Label` messages and its samples.
struct PreparedSeries {
    encoded_labels: Vec<u8>,
    timestamps: Vec<i64>,
    values: Vec<f64>,
}

/// Encodes `workload` into requests, using every available core.
///
/// Series are cut into batches of `series_per_request`; batch `b` belongs to connection
/// `b % connections`. Each connection sends, for each time slice in order, all of its batches, so
/// no series ever has a sample sent before an earlier one.
pub fn encode_workload(workload: &Workload, batching: &BatchingSpec) -> EncodedWorkload {
    let spec = workload.spec();
    let series_per_request = batching.series_per_request.max(1);
    let samples_per_request = batching.samples_per_request.max(1);
    let connections = batching.connections.max(1);
    let prepared = prepare_series(workload);

    let batch_count = spec.series.div_ceil(series_per_request);
    let slice_count = spec.samples_per_series.div_ceil(samples_per_request);
    let mut jobs: Vec<Vec<(usize, usize)>> = vec![Vec::new(); connections];
    for slice in 0..slice_count {
        for batch in 0..batch_count {
            jobs[batch % connections].push((slice, batch));
        }
    }

    let encode_job = |&(slice, batch): &(usize, usize)| {
        let series_range = batch * series_per_request..((batch + 1) * series_per_request).min(spec.series);
        let sample_range =
            slice * samples_per_request..((slice + 1) * samples_per_request).min(spec.samples_per_series);
        let series: Vec<SeriesSlice<'_>> = prepared[series_range]
            .iter()
            .map(|series| SeriesSlice {
                encoded_labels: &series.encoded_labels,
                timestamps: &series.timestamps[sample_range.clone()],
                values: &series.values[sample_range.clone()],
            })
            .collect();
        let samples = series.iter().map(|series| series.timestamps.len() as u64).sum();
        EncodedRequest { body: compress(&encode_write_request(&series)), samples }
    };

    let per_connection: Vec<Vec<EncodedRequest>> =
        jobs.iter().map(|connection_jobs| parallel_map(connection_jobs, encode_job)).collect();
    let all = per_connection.iter().flatten();
    let total_samples = all.clone().map(|request| request.samples).sum();
    let total_bytes = all.map(|request| request.body.len() as u64).sum();
    EncodedWorkload { per_connection, total_samples, total_bytes }
}

fn prepare_series(workload: &Workload) -> Vec<PreparedSeries> {
    let spec = workload.spec();
    let indices: Vec<usize> = (0..spec.series).collect();
    parallel_map(&indices, |&index| PreparedSeries {
        encoded_labels: encode_labels(&workload.series_labels(index)),
        timestamps: (0..spec.samples_per_series).map(|sample| workload.timestamp_ms(index, sample)).collect(),
        values: workload.series_values(index),
    })
}

/// Maps `items` to results on all cores, keeping the input order.
fn parallel_map<T: Sync, R: Send>(items: &[T], map: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |threads| threads.get());
    let chunk_len = items.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk_len)
            .map(|chunk| scope.spawn(|| chunk.iter().map(&map).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| match handle.join() {
                Ok(results) => results,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// A series' part of one request: its encoded labels and a run of its samples.
pub struct SeriesSlice<'a> {
    /// Concatenated encoded `TimeSeries.labels` fields, as made by [`encode_labels`].
    pub encoded_labels: &'a [u8],
    /// Sample timestamps in ms.
    pub timestamps: &'a [i64],
    /// Sample values, one per timestamp.
    pub values: &'a [f64],
}

/// Encodes `labels` as the repeated `TimeSeries.labels` field (field 1, one `Label` message each).
pub fn encode_labels(labels: &[LabelPair]) -> Vec<u8> {
    let mut buffer = Vec::new();
    for (name, value) in labels {
        let label_len = string::encoded_len(FIELD_ONE, name) + string::encoded_len(FIELD_TWO, value);
        encode_key(FIELD_ONE, WireType::LengthDelimited, &mut buffer);
        encode_varint(label_len as u64, &mut buffer);
        string::encode(FIELD_ONE, name, &mut buffer);
        string::encode(FIELD_TWO, value, &mut buffer);
    }
    buffer
}

/// Encodes a protobuf `WriteRequest` holding `series` (uncompressed).
pub fn encode_write_request(series: &[SeriesSlice<'_>]) -> Vec<u8> {
    let mut buffer = Vec::new();
    for one in series {
        let samples_len: usize = one
            .timestamps
            .iter()
            .zip(one.values)
            .map(|(timestamp, value)| {
                let sample_len = sample_encoded_len(*value, *timestamp);
                1 + encoded_len_varint(sample_len as u64) + sample_len
            })
            .sum();
        encode_key(FIELD_ONE, WireType::LengthDelimited, &mut buffer);
        encode_varint((one.encoded_labels.len() + samples_len) as u64, &mut buffer);
        buffer.extend_from_slice(one.encoded_labels);
        for (timestamp, value) in one.timestamps.iter().zip(one.values) {
            encode_key(FIELD_TWO, WireType::LengthDelimited, &mut buffer);
            encode_varint(sample_encoded_len(*value, *timestamp) as u64, &mut buffer);
            // proto3 leaves out fields holding their default value, as prost and Prometheus do.
            if *value != 0.0 {
                double::encode(FIELD_ONE, value, &mut buffer);
            }
            if *timestamp != 0 {
                int64::encode(FIELD_TWO, timestamp, &mut buffer);
            }
        }
    }
    buffer
}

fn sample_encoded_len(value: f64, timestamp: i64) -> usize {
    let value_len = if value != 0.0 { double::encoded_len(FIELD_ONE, &value) } else { 0 };
    let timestamp_len = if timestamp != 0 { int64::encoded_len(FIELD_TWO, &timestamp) } else { 0 };
    value_len + timestamp_len
}

/// Compresses a body with the snappy block format that remote write uses.
pub fn compress(raw: &[u8]) -> Bytes {
    let mut encoder = snap::raw::Encoder::new();
    // Compressing an in-memory buffer only fails when it exceeds snappy's 4 GiB block limit, which
    // a request built from a bounded batch never does.
    Bytes::from(encoder.compress_vec(raw).expect("snappy block under 4 GiB"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::WorkloadSpec;
    use neocortex_proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};
    use prost::Message;
    use std::collections::HashMap;

    fn small_workload() -> Workload {
        Workload::new(WorkloadSpec {
            series: 1_234,
            samples_per_series: 7,
            interval_ms: 15_000,
            start_ms: 1_700_000_000_000,
            seed: 42,
        })
    }

    fn decode(request: &EncodedRequest) -> WriteRequest {
        let raw = snap::raw::Decoder::new().decompress_vec(&request.body).expect("valid snappy");
        WriteRequest::decode(raw.as_slice()).expect("valid protobuf")
    }

    #[test]
    fn hand_encoding_matches_prost_encoding() {
        let labels = vec![("__name__".to_owned(), "up".to_owned()), ("job".to_owned(), "node".to_owned())];
        let encoded_labels = encode_labels(&labels);
        let timestamps = [0, 1_700_000_000_000, -5];
        let values = [0.0, f64::NAN, -1.5];
        let ours = encode_write_request(&[SeriesSlice {
            encoded_labels: &encoded_labels,
            timestamps: &timestamps,
            values: &values,
        }]);
        let expected = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: labels
                    .iter()
                    .map(|(name, value)| Label { name: name.clone(), value: value.clone() })
                    .collect(),
                samples: timestamps
                    .iter()
                    .zip(values)
                    .map(|(&timestamp, value)| Sample { value, timestamp })
                    .collect(),
                exemplars: Vec::new(),
            }],
            metadata: Vec::new(),
        };
        assert_eq!(ours, expected.encode_to_vec());
    }

    #[test]
    fn every_sample_is_sent_once_and_in_time_order_per_series() {
        let workload = small_workload();
        let batching = BatchingSpec { series_per_request: 100, samples_per_request: 3, connections: 4 };
        let encoded = encode_workload(&workload, &batching);
        assert_eq!(encoded.total_samples, 1_234 * 7);
        let mut last_seen: HashMap<Vec<(String, String)>, (usize, i64)> = HashMap::new();
        let mut count = 0;
        for (connection, requests) in encoded.per_connection.iter().enumerate() {
            for request in requests {
                let decoded = decode(request);
                let in_request: usize = decoded.timeseries.iter().map(|series| series.samples.len()).sum();
                assert_eq!(in_request as u64, request.samples);
                assert!(decoded.timeseries.len() <= 100);
                for series in decoded.timeseries {
                    let key: Vec<_> =
                        series.labels.into_iter().map(|label| (label.name, label.value)).collect();
                    for sample in series.samples {
                        count += 1;
                        let previous = last_seen.insert(key.clone(), (connection, sample.timestamp));
                        if let Some((previous_connection, previous_timestamp)) = previous {
                            assert_eq!(previous_connection, connection, "a series moved between connections");
                            assert!(previous_timestamp < sample.timestamp, "out of order samples");
                        }
                    }
                }
            }
        }
        assert_eq!(count, 1_234 * 7);
        assert_eq!(last_seen.len(), 1_234);
    }

    #[test]
    fn two_encodings_of_the_same_spec_are_byte_identical() {
        let batching = BatchingSpec { series_per_request: 500, samples_per_request: 1, connections: 2 };
        let first = encode_workload(&small_workload(), &batching);
        let second = encode_workload(&small_workload(), &batching);
        let bodies = |encoded: &EncodedWorkload| {
            encoded.per_connection.iter().flatten().map(|request| request.body.clone()).collect::<Vec<_>>()
        };
        assert_eq!(bodies(&first), bodies(&second));
        assert_eq!(first.request_count(), 3 * 7);
    }
}
