//! Prometheus's HTTP API envelope: `{"status":"success","data":...}` and
//! `{"status":"error","errorType":"bad_data","error":"..."}` with Prometheus's status codes.
//! The query and query_range handlers reuse it.

use std::fmt;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use neocortex_core::{ErrorCode, QueryError};

use crate::json;

/// The `Content-Type` of every Prometheus API JSON answer.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// A failed API call: the category (which picks `errorType` and the HTTP status) and the
/// message shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// Category of the failure.
    pub code: ErrorCode,
    /// The `error` field, as Prometheus words it.
    pub message: String,
}

impl ApiError {
    /// An error of any category.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    /// A `bad_data` error (HTTP 400).
    pub fn bad_data(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadData, message)
    }

    /// Prometheus's `invalid parameter "<name>": <cause>` (HTTP 400).
    pub fn invalid_param(parameter: &str, cause: impl fmt::Display) -> Self {
        Self::bad_data(format!("invalid parameter {}: {cause}", crate::go_quote::quote(parameter)))
    }

    /// The `errorType` field.
    pub fn error_type(&self) -> &'static str {
        self.code.prometheus_error_type()
    }

    /// The HTTP status Prometheus answers with for this category (canceled queries are 503 in
    /// Prometheus, not 499).
    pub fn http_status(&self) -> StatusCode {
        let status = match self.code {
            ErrorCode::Canceled => 503,
            code => code.http_status(),
        };
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The JSON body: `{"status":"error","errorType":...,"error":...}`.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.message.len() + 64);
        out.extend_from_slice(b"{\"status\":\"error\",\"errorType\":");
        json::write_string(&mut out, self.error_type());
        out.extend_from_slice(b",\"error\":");
        json::write_string(&mut out, &self.message);
        out.push(b'}');
        out
    }
}

impl From<QueryError> for ApiError {
    fn from(error: QueryError) -> Self {
        Self::new(error.code, error.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.http_status(), self.to_json())
    }
}

/// A successful API answer whose `data` was written straight into the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    body: Vec<u8>,
}

impl ApiResponse {
    /// `{"status":"success","data":<what write_data appends>}`.
    pub fn success(write_data: impl FnOnce(&mut Vec<u8>)) -> Self {
        Self::success_with_warnings(&[], write_data)
    }

    /// Like [`ApiResponse::success`], adding `"warnings":[...]` when there are any.
    pub fn success_with_warnings(warnings: &[String], write_data: impl FnOnce(&mut Vec<u8>)) -> Self {
        let mut body = Vec::with_capacity(256);
        body.extend_from_slice(b"{\"status\":\"success\",\"data\":");
        write_data(&mut body);
        if !warnings.is_empty() {
            body.extend_from_slice(b",\"warnings\":");
            json::write_string_array(&mut body, warnings.iter().map(String::as_str));
        }
        body.push(b'}');
        Self { body }
    }

    /// The JSON body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

impl IntoResponse for ApiResponse {
    fn into_response(self) -> Response {
        json_response(StatusCode::OK, self.body)
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_and_statuses_match_prometheus() {
        let error = ApiError::invalid_param("start", "cannot parse \"x\" to a valid timestamp");
        assert_eq!(
            String::from_utf8(error.to_json()).expect("utf-8"),
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"start\": cannot parse \"x\" to a valid timestamp"}"#
        );
        assert_eq!(error.http_status(), StatusCode::BAD_REQUEST);
        let statuses = [
            (ErrorCode::Execution, 422, "execution"),
            (ErrorCode::Timeout, 503, "timeout"),
            (ErrorCode::Canceled, 503, "canceled"),
            (ErrorCode::Internal, 500, "internal"),
            (ErrorCode::NotFound, 404, "not_found"),
        ];
        for (code, status, error_type) in statuses {
            let error = ApiError::new(code, "x");
            assert_eq!(error.http_status().as_u16(), status);
            assert_eq!(error.error_type(), error_type);
        }
    }

    #[test]
    fn success_body_with_and_without_warnings() {
        let response = ApiResponse::success(|out| json::write_string_array(out, ["a"]));
        assert_eq!(response.body(), br#"{"status":"success","data":["a"]}"#);
        let response = ApiResponse::success_with_warnings(&["partial".to_string()], |out| out.extend(b"[]"));
        assert_eq!(response.body(), br#"{"status":"success","data":[],"warnings":["partial"]}"#);
    }
}
