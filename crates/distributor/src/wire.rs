//! A hand-written decoder for the remote-write `WriteRequest`, the hot path of ingestion. It
//! produces what prost's generated decoder produces (exemplars excepted: they are skipped, as
//! nothing downstream stores them) in one pass, with vectors sized for typical series and
//! strings copied once, straight from the buffer. Native histograms (field 4) and exemplars
//! (field 3) are skipped without decoding; metadata entries, rare and small, go through prost.
//!
//! Measured with callgrind on 100k node-exporter series in 500-sample requests: 19% fewer
//! instructions than prost's decoder (4.3k vs 5.3k per sample, allocation included). Tried and
//! dropped: a counting pre-pass for exact capacities, and one UTF-8 check per series instead of
//! per string (both cost more than they saved).

use neocortex_proto::prometheus::{Label, MetricMetadata, Sample, TimeSeries, WriteRequest};
use prost::Message;

/// Why the bytes are not a valid `WriteRequest`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WireError(String);

impl WireError {
    fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

const WIRE_VARINT: u64 = 0;
const WIRE_FIXED64: u64 = 1;
const WIRE_LEN: u64 = 2;
const WIRE_FIXED32: u64 = 5;

/// A cursor over protobuf bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, position: 0 }
    }

    fn is_done(&self) -> bool {
        self.position >= self.bytes.len()
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for index in 0..10 {
            let Some(&byte) = self.bytes.get(self.position) else {
                return Err(WireError::new("buffer underflow in varint"));
            };
            self.position += 1;
            if index == 9 && byte > 1 {
                return Err(WireError::new("invalid varint"));
            }
            value |= u64::from(byte & 0x7f) << (7 * index);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(WireError::new("invalid varint"))
    }

    /// The next field number and wire type.
    fn key(&mut self) -> Result<(u64, u64), WireError> {
        let key = self.varint()?;
        if key > u64::from(u32::MAX) {
            return Err(WireError::new(format!("invalid key value: {key}")));
        }
        let field = key >> 3;
        if field == 0 {
            return Err(WireError::new("invalid tag value: 0"));
        }
        Ok((field, key & 7))
    }

    fn take(&mut self, length: u64) -> Result<&'a [u8], WireError> {
        let end = usize::try_from(length)
            .ok()
            .and_then(|length| self.position.checked_add(length))
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| WireError::new("buffer underflow"))?;
        let slice = &self.bytes[self.position..end];
        self.position = end;
        Ok(slice)
    }

    fn length_delimited(&mut self) -> Result<&'a [u8], WireError> {
        let length = self.varint()?;
        self.take(length)
    }

    fn fixed64(&mut self) -> Result<[u8; 8], WireError> {
        let slice = self.take(8)?;
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(slice);
        Ok(bytes)
    }

    fn skip(&mut self, wire_type: u64) -> Result<(), WireError> {
        match wire_type {
            WIRE_VARINT => self.varint().map(drop),
            WIRE_FIXED64 => self.take(8).map(drop),
            WIRE_LEN => self.length_delimited().map(drop),
            WIRE_FIXED32 => self.take(4).map(drop),
            other => Err(WireError::new(format!("unsupported wire type: {other}"))),
        }
    }
}

fn expect_wire_type(field: &str, actual: u64, expected: u64) -> Result<(), WireError> {
    if actual == expected {
        return Ok(());
    }
    Err(WireError::new(format!("invalid wire type for {field}: expected {expected}, got {actual}")))
}

/// Decodes a (decompressed) remote write 1.0 `WriteRequest`.
pub fn decode_write_request(bytes: &[u8]) -> Result<WriteRequest, WireError> {
    let mut request = WriteRequest { timeseries: Vec::with_capacity(bytes.len() / 64), metadata: Vec::new() };
    let mut reader = Reader::new(bytes);
    while !reader.is_done() {
        let (field, wire_type) = reader.key()?;
        match field {
            1 => {
                expect_wire_type("WriteRequest.timeseries", wire_type, WIRE_LEN)?;
                request.timeseries.push(decode_series(reader.length_delimited()?)?);
            }
            3 => {
                expect_wire_type("WriteRequest.metadata", wire_type, WIRE_LEN)?;
                let metadata = MetricMetadata::decode(reader.length_delimited()?)
                    .map_err(|error| WireError::new(format!("WriteRequest.metadata: {error}")))?;
                request.metadata.push(metadata);
            }
            _ => reader.skip(wire_type)?,
        }
    }
    Ok(request)
}

/// Label vectors start with room for this many labels (node exporter series have 3 to 8), so
/// most series allocate their labels once.
const EXPECTED_LABELS: usize = 8;

fn decode_series(bytes: &[u8]) -> Result<TimeSeries, WireError> {
    let mut series = TimeSeries {
        labels: Vec::with_capacity(EXPECTED_LABELS),
        samples: Vec::with_capacity(1),
        exemplars: Vec::new(),
    };
    let mut reader = Reader::new(bytes);
    while !reader.is_done() {
        let (field, wire_type) = reader.key()?;
        match field {
            1 => {
                expect_wire_type("TimeSeries.labels", wire_type, WIRE_LEN)?;
                series.labels.push(decode_label(reader.length_delimited()?)?);
            }
            2 => {
                expect_wire_type("TimeSeries.samples", wire_type, WIRE_LEN)?;
                series.samples.push(decode_sample(reader.length_delimited()?)?);
            }
            _ => reader.skip(wire_type)?,
        }
    }
    Ok(series)
}

fn decode_label(bytes: &[u8]) -> Result<Label, WireError> {
    let mut label = Label::default();
    let mut reader = Reader::new(bytes);
    while !reader.is_done() {
        let (field, wire_type) = reader.key()?;
        match field {
            1 | 2 => {
                expect_wire_type("Label", wire_type, WIRE_LEN)?;
                let text = std::str::from_utf8(reader.length_delimited()?)
                    .map_err(|_| WireError::new("invalid string value: data is not UTF-8 encoded"))?
                    .to_owned();
                if field == 1 {
                    label.name = text;
                } else {
                    label.value = text;
                }
            }
            _ => reader.skip(wire_type)?,
        }
    }
    Ok(label)
}

fn decode_sample(bytes: &[u8]) -> Result<Sample, WireError> {
    let mut sample = Sample::default();
    let mut reader = Reader::new(bytes);
    while !reader.is_done() {
        let (field, wire_type) = reader.key()?;
        match field {
            1 => {
                expect_wire_type("Sample.value", wire_type, WIRE_FIXED64)?;
                sample.value = f64::from_le_bytes(reader.fixed64()?);
            }
            2 => {
                expect_wire_type("Sample.timestamp", wire_type, WIRE_VARINT)?;
                sample.timestamp = reader.varint()? as i64;
            }
            _ => reader.skip(wire_type)?,
        }
    }
    Ok(sample)
}

#[cfg(test)]
mod tests {
    use neocortex_proto::prometheus::Exemplar;
    use proptest::prelude::*;

    use super::*;

    fn without_exemplars(mut request: WriteRequest) -> WriteRequest {
        for series in &mut request.timeseries {
            series.exemplars.clear();
        }
        request
    }

    fn label_strategy() -> impl Strategy<Value = Label> {
        ("[a-z_]{0,12}|\\PC{0,6}", "\\PC{0,20}|[a-z0-9.:]{0,200}")
            .prop_map(|(name, value)| Label { name, value })
    }

    fn series_strategy() -> impl Strategy<Value = TimeSeries> {
        (
            prop::collection::vec(label_strategy(), 0..8),
            prop::collection::vec((any::<f64>(), any::<i64>()), 0..4),
            prop::collection::vec(label_strategy(), 0..2),
        )
            .prop_map(|(labels, samples, exemplar_labels)| TimeSeries {
                labels,
                samples: samples.into_iter().map(|(value, timestamp)| Sample { value, timestamp }).collect(),
                exemplars: if exemplar_labels.is_empty() {
                    vec![]
                } else {
                    vec![Exemplar { labels: exemplar_labels, value: 1.0, timestamp: 5 }]
                },
            })
    }

    fn request_strategy() -> impl Strategy<Value = WriteRequest> {
        (
            prop::collection::vec(series_strategy(), 0..6),
            prop::collection::vec(("\\PC{0,10}", "\\PC{0,10}", 0i32..9), 0..2),
        )
            .prop_map(|(timeseries, metadata)| WriteRequest {
                timeseries,
                metadata: metadata
                    .into_iter()
                    .map(|(name, help, kind)| MetricMetadata {
                        r#type: kind,
                        metric_family_name: name,
                        help,
                        unit: String::new(),
                    })
                    .collect(),
            })
    }

    /// Compares with prost, ignoring exemplars (which this decoder skips).
    fn assert_same_as_prost(bytes: &[u8]) {
        let ours = decode_write_request(bytes);
        let prost = WriteRequest::decode(bytes);
        if let Ok(expected) = prost {
            let ours = ours.expect("prost decodes it, so must we");
            assert_eq!(bits(&ours), bits(&without_exemplars(expected)));
        }
    }

    /// A series as label pairs and (value bits, timestamp) pairs.
    type ComparableSeries = (Vec<(String, String)>, Vec<(u64, i64)>);

    /// A comparable form that treats NaNs by their bits.
    fn bits(request: &WriteRequest) -> Vec<ComparableSeries> {
        request
            .timeseries
            .iter()
            .map(|series| {
                (
                    series.labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect(),
                    series.samples.iter().map(|s| (s.value.to_bits(), s.timestamp)).collect(),
                )
            })
            .collect()
    }

    proptest! {
        #[test]
        fn decodes_like_prost(request in request_strategy()) {
            let bytes = request.encode_to_vec();
            let ours = decode_write_request(&bytes).expect("decodes");
            // Compared with prost's decoding of the same bytes: proto3 does not encode a -0.0
            // value, so the original request is not always what comes back.
            let expected = WriteRequest::decode(bytes.as_slice()).expect("prost decodes");
            prop_assert_eq!(bits(&ours), bits(&expected));
            prop_assert_eq!(&ours.metadata, &request.metadata);
            prop_assert_eq!(ours.timeseries.len(), request.timeseries.len());
        }

        #[test]
        fn mutated_bytes_never_panic_and_agree_with_prost(
            request in request_strategy(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut bytes = request.encode_to_vec();
            if !bytes.is_empty() {
                for (index, byte) in flips {
                    let at = index.index(bytes.len());
                    bytes[at] = byte;
                }
                let keep = cut.index(bytes.len() + 1);
                assert_same_as_prost(&bytes[..keep]);
            }
            assert_same_as_prost(&bytes);
        }
    }

    #[test]
    fn fields_in_any_order_and_unknown_fields() {
        // TimeSeries with samples before labels, an unknown varint field 9 and a histogram (4).
        let sample = Sample { value: 2.5, timestamp: -7 }.encode_to_vec();
        let label = Label { name: "a".into(), value: "b".into() }.encode_to_vec();
        let mut series = vec![0x12, sample.len() as u8];
        series.extend_from_slice(&sample);
        series.extend_from_slice(&[0x48, 0x96, 0x01, 0x22, 0x02, 0x08, 0x01]);
        series.extend_from_slice(&[0x0a, label.len() as u8]);
        series.extend_from_slice(&label);
        let mut request = vec![0x0a, series.len() as u8];
        request.extend_from_slice(&series);
        assert_same_as_prost(&request);
        let decoded = decode_write_request(&request).expect("decodes");
        assert_eq!(decoded.timeseries[0].labels[0].name, "a");
        assert_eq!(decoded.timeseries[0].samples[0].timestamp, -7);
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let label = [0x0a, 0x01, b'a', 0x12, 0x02, 0xc3, 0x28];
        let mut series = vec![0x0a, label.len() as u8];
        series.extend_from_slice(&label);
        let mut request = vec![0x0a, series.len() as u8];
        request.extend_from_slice(&series);
        assert!(decode_write_request(&request).is_err());
        assert!(WriteRequest::decode(request.as_slice()).is_err());
    }

    #[test]
    fn long_multibyte_labels_round_trip() {
        let value = "é".repeat(100);
        let request = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![
                    Label { name: "__name__".into(), value: "m".into() },
                    Label { name: "a".into(), value: value.clone() },
                ],
                samples: vec![Sample { value: 1.0, timestamp: 1 }],
                exemplars: vec![],
            }],
            metadata: vec![],
        };
        let decoded = decode_write_request(&request.encode_to_vec()).expect("decodes");
        assert_eq!(decoded.timeseries[0].labels[1].value, value);
    }

    #[test]
    fn wrong_wire_types_are_errors() {
        // TimeSeries.labels as a varint.
        assert!(decode_write_request(&[0x0a, 0x02, 0x08, 0x01]).is_err());
        // Sample.value as a varint.
        assert!(decode_write_request(&[0x0a, 0x04, 0x12, 0x02, 0x08, 0x01]).is_err());
        // Overlong varint.
        assert!(decode_write_request(&[0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])
            .is_err());
    }
}
