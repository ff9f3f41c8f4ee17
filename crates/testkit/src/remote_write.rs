//! Builds remote-write request bodies byte by byte, including invalid ones (labels that are not
//! UTF-8, thousands of labels), which typed protobuf structs cannot express.

use prost::encoding::{bytes, double, encode_key, encode_varint, encoded_len_varint, int64, WireType};

/// A series whose label names and values are raw bytes, with `(timestamp ms, value)` samples.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawSeries {
    /// Label pairs in the order they are encoded.
    pub labels: Vec<(Vec<u8>, Vec<u8>)>,
    /// Samples in the order they are encoded.
    pub samples: Vec<(i64, f64)>,
}

impl RawSeries {
    /// A series from UTF-8 label pairs and samples.
    pub fn new(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> RawSeries {
        RawSeries {
            labels: labels
                .iter()
                .map(|(name, value)| (name.as_bytes().to_vec(), value.as_bytes().to_vec()))
                .collect(),
            samples: samples.to_vec(),
        }
    }
}

/// Encodes a protobuf `WriteRequest` (field numbers of Prometheus's `prompb`), uncompressed.
pub fn encode_write_request(series: &[RawSeries]) -> Vec<u8> {
    let mut request = Vec::new();
    for one in series {
        let mut encoded_series = Vec::new();
        for (name, value) in &one.labels {
            let mut label = Vec::new();
            bytes::encode(1, name, &mut label);
            bytes::encode(2, value, &mut label);
            push_length_delimited(1, &label, &mut encoded_series);
        }
        for (timestamp, value) in &one.samples {
            let mut sample = Vec::new();
            double::encode(1, value, &mut sample);
            int64::encode(2, timestamp, &mut sample);
            push_length_delimited(2, &sample, &mut encoded_series);
        }
        push_length_delimited(1, &encoded_series, &mut request);
    }
    request
}

fn push_length_delimited(tag: u32, payload: &[u8], buffer: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, buffer);
    buffer.reserve(encoded_len_varint(payload.len() as u64) + payload.len());
    encode_varint(payload.len() as u64, buffer);
    buffer.extend_from_slice(payload);
}

/// Compresses with the snappy block format remote write uses.
pub fn snappy_compress(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(raw).unwrap_or_default()
}

/// The current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use neocortex_proto::prometheus::WriteRequest;
    use prost::Message;

    #[test]
    fn encoded_requests_decode_with_the_typed_messages() {
        let series =
            RawSeries::new(&[("__name__", "up"), ("job", "node")], &[(1_000, 1.0), (2_000, f64::INFINITY)]);
        let raw = encode_write_request(&[series]);
        let decoded = WriteRequest::decode(raw.as_slice()).expect("valid protobuf");
        assert_eq!(decoded.timeseries.len(), 1);
        assert_eq!(decoded.timeseries[0].labels[1].value, "node");
        assert_eq!(decoded.timeseries[0].samples[1].value, f64::INFINITY);
        assert_eq!(decoded.timeseries[0].samples[1].timestamp, 2_000);
    }

    #[test]
    fn invalid_utf8_is_encoded_verbatim_and_rejected_by_typed_decoding() {
        let mut series = RawSeries::new(&[("__name__", "up")], &[(1_000, 1.0)]);
        series.labels.push((b"job".to_vec(), vec![0xff, 0xfe]));
        let raw = encode_write_request(&[series]);
        assert!(raw.windows(2).any(|window| window == [0xff, 0xfe]));
        assert!(WriteRequest::decode(raw.as_slice()).is_err());
    }
}
