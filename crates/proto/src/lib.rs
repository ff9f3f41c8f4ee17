//! Neocortex's wire formats: our own `.proto` files (in `proto/`) and the Rust types prost
//! generates from them. No logic lives here.
//!
//! - [`prometheus`]: Prometheus remote write 1.0 and remote read, wire-compatible with
//!   Prometheus's `prompb` package.
//!
//! Later: the ingester service (Push, Query, LabelValues, …), the query-frontend / scheduler
//! protocol and the ring descriptors get their own `.proto` files and modules here.

/// Prometheus remote write and remote read messages (protobuf package `prometheus`).
#[allow(missing_docs, clippy::all, unreachable_pub)]
pub mod prometheus {
    include!(concat!(env!("OUT_DIR"), "/prometheus.rs"));
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::prometheus::*;

    fn sample_write_request() -> WriteRequest {
        WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![
                    Label { name: "__name__".into(), value: "up".into() },
                    Label { name: "job".into(), value: "node".into() },
                ],
                samples: vec![Sample { value: 1.0, timestamp: 1_700_000_000_000 }],
                exemplars: vec![],
            }],
            metadata: vec![MetricMetadata {
                r#type: metric_metadata::MetricType::Gauge as i32,
                metric_family_name: "up".into(),
                help: "whether the target is up".into(),
                unit: String::new(),
            }],
        }
    }

    #[test]
    fn write_request_round_trips() {
        let request = sample_write_request();
        let bytes = request.encode_to_vec();
        let decoded = WriteRequest::decode(bytes.as_slice()).expect("decodes");
        assert_eq!(decoded, request);
    }

    #[test]
    fn write_request_uses_prompb_field_numbers() {
        // Hand-encoded: WriteRequest{timeseries: [TimeSeries{labels: [Label{name: "a", value: "b"}],
        // samples: [Sample{value: 2.0, timestamp: 5}]}]}.
        let label = [0x0a, 0x01, b'a', 0x12, 0x01, b'b'];
        let mut sample = vec![0x09];
        sample.extend_from_slice(&2.0f64.to_le_bytes());
        sample.extend_from_slice(&[0x10, 0x05]);
        let mut series = vec![0x0a, label.len() as u8];
        series.extend_from_slice(&label);
        series.extend_from_slice(&[0x12, sample.len() as u8]);
        series.extend_from_slice(&sample);
        let mut body = vec![0x0a, series.len() as u8];
        body.extend_from_slice(&series);

        let decoded = WriteRequest::decode(body.as_slice()).expect("decodes");
        let series = &decoded.timeseries[0];
        assert_eq!(series.labels[0], Label { name: "a".into(), value: "b".into() });
        assert_eq!(series.samples[0], Sample { value: 2.0, timestamp: 5 });
        assert_eq!(body, decoded.encode_to_vec());
    }

    #[test]
    fn unknown_fields_such_as_native_histograms_are_skipped() {
        let mut series_bytes = sample_write_request().timeseries[0].encode_to_vec();
        // Field 4 (histograms), length-delimited, 3 opaque bytes.
        series_bytes.extend_from_slice(&[0x22, 0x03, 0x08, 0x01, 0x10]);
        let decoded = TimeSeries::decode(series_bytes.as_slice()).expect("decodes");
        assert_eq!(decoded.samples.len(), 1);
    }

    #[test]
    fn invalid_utf8_in_a_label_is_a_decode_error() {
        let body = [0x0a, 0x02, 0xff, 0xfe];
        assert!(Label::decode(body.as_slice()).is_err());
    }

    #[test]
    fn read_request_round_trips() {
        let request = ReadRequest {
            queries: vec![Query {
                start_timestamp_ms: 1000,
                end_timestamp_ms: 2000,
                matchers: vec![LabelMatcher {
                    r#type: label_matcher::Type::Re as i32,
                    name: "job".into(),
                    value: "node.*".into(),
                }],
                hints: Some(ReadHints { step_ms: 15_000, func: "rate".into(), ..ReadHints::default() }),
            }],
            accepted_response_types: vec![read_request::ResponseType::StreamedXorChunks as i32],
        };
        let decoded = ReadRequest::decode(request.encode_to_vec().as_slice()).expect("decodes");
        assert_eq!(decoded, request);

        let response =
            ReadResponse { results: vec![QueryResult { timeseries: sample_write_request().timeseries }] };
        let decoded = ReadResponse::decode(response.encode_to_vec().as_slice()).expect("decodes");
        assert_eq!(decoded, response);
    }
}
