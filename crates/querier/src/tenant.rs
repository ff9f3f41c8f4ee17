//! The tenant of a request, put into the request's extensions by the binary's auth middleware
//! (`X-Scope-OrgID`, or `fake` when auth is off).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use neocortex_core::TenantId;

/// Extracts the `TenantId` extension; without one the request is refused with Cortex's
/// `401 no org id` (plain text, as Go's `http.Error` writes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant(pub TenantId);

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<TenantId>().cloned().map(Tenant).ok_or_else(no_org_id)
    }
}

/// The answer to a request that names no tenant.
pub fn no_org_id() -> Response {
    plain_text_error(StatusCode::UNAUTHORIZED, "no org id")
}

/// An error answered as Go's `http.Error` does: the message and a newline, as plain text.
pub fn plain_text_error(status: StatusCode, message: &str) -> Response {
    let mut response = (status, format!("{message}\n")).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response.headers_mut().insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    response
}
