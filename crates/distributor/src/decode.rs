//! Turns a remote-write HTTP body into a `WriteRequest`: size limits, snappy block
//! decompression, protobuf decoding. Every failure is a client error; nothing here panics or
//! allocates more than the limit allows.
//!
//! Headers: Cortex v1.10 ignores `Content-Type`, `Content-Encoding` and
//! `X-Prometheus-Remote-Write-Version` and always reads a snappy-compressed remote write 1.0
//! `WriteRequest`. We do the same, with two refusals that turn silent data loss into a clear
//! 400: a `Content-Encoding` other than `snappy` (or none), and a `Content-Type` that names the
//! remote write 2.0 message (`proto=io.prometheus.write.v2.Request`), whose fields would
//! otherwise decode as an empty 1.0 request.

use std::cell::RefCell;

use neocortex_core::ErrorCode;
use neocortex_proto::prometheus::WriteRequest;

/// Headers of a remote-write request that say how its body is encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushHeaders<'a> {
    /// `Content-Type`; Prometheus sends `application/x-protobuf`.
    pub content_type: Option<&'a str>,
    /// `Content-Encoding`; Prometheus sends `snappy`.
    pub content_encoding: Option<&'a str>,
}

/// Why a remote-write body could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// The compressed body or its announced decompressed length exceeds the limit (413).
    #[error("received message larger than max ({size} vs {max})")]
    TooLarge {
        /// The size seen or announced, in bytes.
        size: usize,
        /// `-distributor.max-recv-msg-size`.
        max: usize,
    },
    /// The body is compressed with something other than snappy.
    #[error("unsupported content encoding {0:?}: remote write bodies must be snappy compressed")]
    UnsupportedEncoding(String),
    /// The client sends remote write 2.0.
    #[error("unsupported remote write protocol {0:?}: only remote write 1.0 (prometheus.WriteRequest) is accepted")]
    UnsupportedProtocol(String),
    /// The snappy block is truncated or corrupt.
    #[error("snappy: {0}")]
    Snappy(String),
    /// The decompressed bytes are not a valid `WriteRequest` (includes invalid UTF-8 in strings).
    #[error("failed to decode write request: {0}")]
    Protobuf(String),
}

impl DecodeError {
    /// The category of the failure: 413 for size, 400 for everything else.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::TooLarge { .. } => ErrorCode::TooLarge,
            _ => ErrorCode::BadData,
        }
    }
}

/// The largest ratio of decompressed to compressed size a valid snappy block can have: a 3-byte
/// copy element emits at most 64 bytes. A header claiming more is corrupt, so we never allocate
/// an attacker-chosen buffer larger than ~22 times what was actually sent.
const SNAPPY_MAX_EXPANSION: usize = 22;

/// Decompression buffers larger than this are not kept for the next request of the thread.
const MAX_RETAINED_BUFFER: usize = 4 << 20;

thread_local! {
    static DECOMPRESSION_BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Checks the headers of a push before its body is read.
pub fn check_headers(headers: &PushHeaders<'_>) -> Result<(), DecodeError> {
    if let Some(encoding) = headers.content_encoding {
        let encoding = encoding.trim();
        if !encoding.is_empty() && !encoding.eq_ignore_ascii_case("snappy") {
            return Err(DecodeError::UnsupportedEncoding(encoding.to_string()));
        }
    }
    if let Some(content_type) = headers.content_type {
        let names_v2 = content_type.split(';').skip(1).any(|parameter| {
            let Some((key, value)) = parameter.split_once('=') else {
                return false;
            };
            key.trim().eq_ignore_ascii_case("proto")
                && value.trim().trim_matches('"') != "prometheus.WriteRequest"
        });
        if names_v2 {
            return Err(DecodeError::UnsupportedProtocol(content_type.to_string()));
        }
    }
    Ok(())
}

/// Decodes a snappy-compressed remote write 1.0 body, refusing anything whose compressed or
/// decompressed size exceeds `max_size` bytes.
pub fn decode_write_request(
    headers: &PushHeaders<'_>,
    body: &[u8],
    max_size: usize,
) -> Result<WriteRequest, DecodeError> {
    check_headers(headers)?;
    decode_snappy_write_request(body, max_size)
}

/// Decodes a snappy-compressed remote write 1.0 body whose headers were already checked.
pub fn decode_snappy_write_request(body: &[u8], max_size: usize) -> Result<WriteRequest, DecodeError> {
    if body.len() > max_size {
        return Err(DecodeError::TooLarge { size: body.len(), max: max_size });
    }
    let decompressed_len =
        snap::raw::decompress_len(body).map_err(|error| DecodeError::Snappy(error.to_string()))?;
    if decompressed_len > max_size {
        return Err(DecodeError::TooLarge { size: decompressed_len, max: max_size });
    }
    if decompressed_len > body.len().saturating_mul(SNAPPY_MAX_EXPANSION) {
        return Err(DecodeError::Snappy(format!(
            "corrupt input: header claims {decompressed_len} bytes from a {} byte block",
            body.len()
        )));
    }
    DECOMPRESSION_BUFFER.with(|cell| {
        let mut buffer = cell.borrow_mut();
        buffer.clear();
        buffer.resize(decompressed_len, 0);
        let result = decompress_and_decode(body, &mut buffer);
        if buffer.capacity() > MAX_RETAINED_BUFFER {
            *buffer = Vec::new();
        }
        result
    })
}

fn decompress_and_decode(body: &[u8], buffer: &mut [u8]) -> Result<WriteRequest, DecodeError> {
    let written = snap::raw::Decoder::new()
        .decompress(body, buffer)
        .map_err(|error| DecodeError::Snappy(error.to_string()))?;
    let decompressed =
        buffer.get(..written).ok_or_else(|| DecodeError::Snappy("corrupt input".to_string()))?;
    crate::wire::decode_write_request(decompressed).map_err(|error| DecodeError::Protobuf(error.to_string()))
}

#[cfg(test)]
mod tests {
    use neocortex_proto::prometheus::{Label, Sample, TimeSeries};
    use prost::Message;

    use super::*;

    const MAX: usize = 1 << 20;

    fn compressed(request: &WriteRequest) -> Vec<u8> {
        snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()).expect("compresses")
    }

    fn one_series() -> WriteRequest {
        WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label { name: "__name__".into(), value: "up".into() }],
                samples: vec![Sample { value: 1.0, timestamp: 10 }],
                exemplars: vec![],
            }],
            metadata: vec![],
        }
    }

    fn prometheus_headers() -> PushHeaders<'static> {
        PushHeaders { content_type: Some("application/x-protobuf"), content_encoding: Some("snappy") }
    }

    #[test]
    fn decodes_what_prometheus_sends() {
        let request = one_series();
        let decoded =
            decode_write_request(&prometheus_headers(), &compressed(&request), MAX).expect("decodes");
        assert_eq!(decoded, request);
    }

    #[test]
    fn missing_headers_are_accepted_like_cortex() {
        let request = one_series();
        let decoded =
            decode_write_request(&PushHeaders::default(), &compressed(&request), MAX).expect("decodes");
        assert_eq!(decoded, request);
    }

    #[test]
    fn empty_body_is_an_empty_request() {
        let body = compressed(&WriteRequest::default());
        let decoded = decode_write_request(&prometheus_headers(), &body, MAX).expect("decodes");
        assert!(decoded.timeseries.is_empty());
    }

    #[test]
    fn a_compressed_body_over_the_limit_is_too_large() {
        let body = vec![0u8; 100];
        let error = decode_write_request(&prometheus_headers(), &body, 99).unwrap_err();
        assert_eq!(error, DecodeError::TooLarge { size: 100, max: 99 });
        assert_eq!(error.code(), ErrorCode::TooLarge);
        assert_eq!(error.to_string(), "received message larger than max (100 vs 99)");
    }

    #[test]
    fn a_decompressed_length_over_the_limit_is_too_large_before_decompressing() {
        let request = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label { name: "__name__".into(), value: "x".repeat(10_000) }],
                ..TimeSeries::default()
            }],
            metadata: vec![],
        };
        let body = compressed(&request);
        assert!(body.len() < 1000);
        let error = decode_write_request(&prometheus_headers(), &body, 5000).unwrap_err();
        assert!(matches!(error, DecodeError::TooLarge { max: 5000, size } if size > 10_000));
    }

    #[test]
    fn a_header_claiming_a_huge_length_is_refused_without_allocating() {
        // Varint for 0xFFFF_FFFF (4 GiB) followed by a few bytes.
        let body = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x01];
        let error = decode_write_request(&prometheus_headers(), &body, usize::MAX).unwrap_err();
        assert!(matches!(error, DecodeError::TooLarge { .. } | DecodeError::Snappy(_)), "{error:?}");
        // Under a limit that allows it, the expansion bound still refuses it.
        let body = [0x80, 0x80, 0x40, 0x00];
        let error = decode_write_request(&prometheus_headers(), &body, 100 << 20).unwrap_err();
        assert!(matches!(error, DecodeError::Snappy(_)), "{error:?}");
        assert_eq!(error.code(), ErrorCode::BadData);
    }

    #[test]
    fn truncated_snappy_is_bad_data() {
        let body = compressed(&one_series());
        for cut in 1..body.len() {
            let error = decode_write_request(&prometheus_headers(), &body[..cut], MAX).unwrap_err();
            assert_eq!(error.code(), ErrorCode::BadData, "cut at {cut}: {error}");
        }
    }

    #[test]
    fn garbage_is_bad_data() {
        for garbage in [&b""[..], b"\xff", b"hello world, not snappy at all", &[0xffu8; 64][..]] {
            let error = decode_write_request(&prometheus_headers(), garbage, MAX).unwrap_err();
            assert_eq!(error.code(), ErrorCode::BadData, "{garbage:?}");
        }
    }

    #[test]
    fn valid_snappy_of_invalid_protobuf_is_bad_data() {
        let body = snap::raw::Encoder::new().compress_vec(b"\x0a\xff\xff\xff\xff\x0fxx").expect("compresses");
        let error = decode_write_request(&prometheus_headers(), &body, MAX).unwrap_err();
        assert!(matches!(error, DecodeError::Protobuf(_)), "{error:?}");
    }

    #[test]
    fn invalid_utf8_in_a_label_is_bad_data() {
        // TimeSeries{labels: [Label{name: "a", value: 0xff 0xfe}]}
        let label = [0x0a, 0x01, b'a', 0x12, 0x02, 0xff, 0xfe];
        let mut series = vec![0x0a, label.len() as u8];
        series.extend_from_slice(&label);
        let mut request = vec![0x0a, series.len() as u8];
        request.extend_from_slice(&series);
        let body = snap::raw::Encoder::new().compress_vec(&request).expect("compresses");
        let error = decode_write_request(&prometheus_headers(), &body, MAX).unwrap_err();
        assert!(matches!(error, DecodeError::Protobuf(_)), "{error:?}");
        assert_eq!(error.code(), ErrorCode::BadData);
    }

    #[test]
    fn uncompressed_protobuf_is_bad_data() {
        let body = one_series().encode_to_vec();
        let error = decode_write_request(&prometheus_headers(), &body, MAX).unwrap_err();
        assert_eq!(error.code(), ErrorCode::BadData);
    }

    #[test]
    fn non_snappy_encodings_and_remote_write_2_are_refused() {
        let body = compressed(&one_series());
        let gzip = PushHeaders { content_encoding: Some("gzip"), ..prometheus_headers() };
        assert!(matches!(
            decode_write_request(&gzip, &body, MAX),
            Err(DecodeError::UnsupportedEncoding(encoding)) if encoding == "gzip"
        ));
        let v2 = PushHeaders {
            content_type: Some("application/x-protobuf;proto=io.prometheus.write.v2.Request"),
            ..prometheus_headers()
        };
        assert!(matches!(decode_write_request(&v2, &body, MAX), Err(DecodeError::UnsupportedProtocol(_))));
        let v1 = PushHeaders {
            content_type: Some("application/x-protobuf; proto=prometheus.WriteRequest"),
            content_encoding: Some("Snappy"),
        };
        assert!(decode_write_request(&v1, &body, MAX).is_ok());
    }
}
