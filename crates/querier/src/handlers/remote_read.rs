//! `POST /api/v1/read`: Prometheus remote read. A snappy-compressed protobuf `ReadRequest` in,
//! a snappy-compressed `ReadResponse` with raw samples out (the `SAMPLES` response type).
//! Errors are plain text, as Prometheus and Cortex write them.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::future::try_join_all;
use neocortex_core::{ErrorCode, MatchOp, Matcher, SelectHints, Series, TenantId};
use neocortex_proto::prometheus::{
    label_matcher, read_request, Label, LabelMatcher, Query, QueryResult, ReadRequest, ReadResponse, Sample,
    TimeSeries,
};
use prost::Message;

use crate::body::{read_limited, BodyError};
use crate::state::ReadApiState;
use crate::tenant::{plain_text_error, Tenant};

/// Largest remote-read request accepted, compressed or not (Cortex's 100 MiB); larger ones
/// are refused with 400, as Cortex refuses every unparsable request.
pub const MAX_REMOTE_READ_BYTES: usize = 100 << 20;

/// A remote-read failure: the HTTP status and the plain-text message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub(crate) struct RemoteReadError {
    code: ErrorCode,
    message: String,
}

impl RemoteReadError {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    fn bad_data(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadData, message)
    }
}

impl IntoResponse for RemoteReadError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        plain_text_error(status, &self.message)
    }
}

pub(crate) async fn remote_read(
    State(state): State<ReadApiState>,
    Tenant(tenant): Tenant,
    request: Request,
) -> Result<Response, RemoteReadError> {
    let _permit = state
        .remote_read_permits()
        .acquire()
        .await
        .map_err(|_| RemoteReadError::new(ErrorCode::Unavailable, "remote read is shutting down"))?;
    let read_request = decode_request(request.into_body()).await?;
    negotiate_samples_response(&read_request)?;

    let queries = read_request.queries.iter().map(|query| answer_query(&state, &tenant, query));
    let results = try_join_all(queries).await?;
    let total_series: usize = results.iter().map(|result| result.timeseries.len()).sum();
    tracing::debug!(tenant = %tenant, queries = results.len(), series = total_series, "remote read answered");

    let encoded = ReadResponse { results }.encode_to_vec();
    let compressed = snap::raw::Encoder::new()
        .compress_vec(&encoded)
        .map_err(|error| RemoteReadError::new(ErrorCode::Internal, format!("snappy: {error}")))?;
    let mut response = (StatusCode::OK, compressed).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-protobuf"));
    headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("snappy"));
    Ok(response)
}

async fn decode_request(body: Body) -> Result<ReadRequest, RemoteReadError> {
    let compressed = read_limited(body, MAX_REMOTE_READ_BYTES).await.map_err(|error| match error {
        BodyError::TooLarge { limit } => {
            RemoteReadError::bad_data(format!("received message larger than max (more than {limit} bytes)"))
        }
        BodyError::Read(message) => RemoteReadError::bad_data(message),
    })?;
    let decompressed_len = snap::raw::decompress_len(&compressed)
        .map_err(|error| RemoteReadError::bad_data(format!("snappy: {error}")))?;
    if decompressed_len > MAX_REMOTE_READ_BYTES {
        return Err(RemoteReadError::bad_data(format!(
            "received message larger than max ({decompressed_len} vs {MAX_REMOTE_READ_BYTES})"
        )));
    }
    let decompressed = snap::raw::Decoder::new()
        .decompress_vec(&compressed)
        .map_err(|error| RemoteReadError::bad_data(format!("snappy: {error}")))?;
    ReadRequest::decode(decompressed.as_slice())
        .map_err(|error| RemoteReadError::bad_data(format!("proto: {error}")))
}

/// Only raw samples are served: an empty list means samples, otherwise it must be listed.
fn negotiate_samples_response(request: &ReadRequest) -> Result<(), RemoteReadError> {
    let samples = read_request::ResponseType::Samples as i32;
    if request.accepted_response_types.is_empty() || request.accepted_response_types.contains(&samples) {
        return Ok(());
    }
    let requested: Vec<&str> = request
        .accepted_response_types
        .iter()
        .map(|kind| read_request::ResponseType::try_from(*kind).map_or("UNKNOWN", |kind| kind.as_str_name()))
        .collect();
    Err(RemoteReadError::bad_data(format!(
        "server does not support any of the requested response types: [{}]; supported: [SAMPLES]",
        requested.join(" ")
    )))
}

async fn answer_query(
    state: &ReadApiState,
    tenant: &TenantId,
    query: &Query,
) -> Result<QueryResult, RemoteReadError> {
    let matchers = query.matchers.iter().map(to_matcher).collect::<Result<Vec<_>, _>>()?;
    let hints = SelectHints { start_ms: query.start_timestamp_ms, end_ms: query.end_timestamp_ms };
    let queryable = state.source().queryable(tenant);
    let series = state
        .with_timeout(queryable.select(hints, &matchers))
        .await
        .map_err(|error| RemoteReadError::new(error.code, error.message))?;
    to_query_result(series, state.config().max_samples)
}

fn to_matcher(matcher: &LabelMatcher) -> Result<Matcher, RemoteReadError> {
    let op = match label_matcher::Type::try_from(matcher.r#type) {
        Ok(label_matcher::Type::Eq) => MatchOp::Equal,
        Ok(label_matcher::Type::Neq) => MatchOp::NotEqual,
        Ok(label_matcher::Type::Re) => MatchOp::RegexMatch,
        Ok(label_matcher::Type::Nre) => MatchOp::RegexNoMatch,
        Err(_) => {
            return Err(RemoteReadError::bad_data(format!("invalid matcher type {}", matcher.r#type)));
        }
    };
    Matcher::new(op, matcher.name.as_str(), matcher.value.as_str())
        .map_err(|error| RemoteReadError::bad_data(error.to_string()))
}

/// Converts selected series, refusing answers with more than `sample_limit` samples
/// (0 = unlimited) as Prometheus does.
fn to_query_result(series: Vec<Series>, sample_limit: u64) -> Result<QueryResult, RemoteReadError> {
    let total_samples: u64 = series.iter().map(|one| one.samples.len() as u64).sum();
    if sample_limit > 0 && total_samples > sample_limit {
        return Err(RemoteReadError::bad_data(format!("exceeded sample limit ({sample_limit})")));
    }
    let timeseries = series
        .into_iter()
        .map(|one| TimeSeries {
            labels: one
                .labels
                .into_vec()
                .into_iter()
                .map(|label| Label { name: label.name, value: label.value })
                .collect(),
            samples: one
                .samples
                .iter()
                .map(|sample| Sample { value: sample.value, timestamp: sample.timestamp_ms })
                .collect(),
            exemplars: Vec::new(),
        })
        .collect();
    Ok(QueryResult { timeseries })
}
