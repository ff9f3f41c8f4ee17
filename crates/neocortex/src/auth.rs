//! Tenant resolution: every tenant-scoped request gets a validated `TenantId` extension, from
//! `X-Scope-OrgID`, from the basic-auth user name when enabled, or `fake` when auth is off.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use neocortex_core::tenant::TenantError;
use neocortex_core::TenantId;

/// Cortex's tenant header (header names are case-insensitive).
pub const ORG_ID_HEADER: &str = "x-scope-orgid";

/// How tenants are resolved.
#[derive(Debug, Clone, Copy)]
pub struct AuthSettings {
    /// When false, every request is tenant `fake`.
    pub enabled: bool,
    /// Fall back to the basic-auth user name when no `X-Scope-OrgID` is sent.
    pub tenant_from_basic_auth: bool,
}

/// Resolves the tenant of a request.
pub fn resolve_tenant(settings: AuthSettings, headers: &HeaderMap) -> Result<TenantId, TenantError> {
    if !settings.enabled {
        return Ok(TenantId::fake());
    }
    if let Some(value) = headers.get(ORG_ID_HEADER) {
        let id = value.to_str().map_err(|_| TenantError::UnsupportedCharacter {
            id: String::from_utf8_lossy(value.as_bytes()).into_owned(),
            character: char::REPLACEMENT_CHARACTER,
        })?;
        return TenantId::new(id.trim());
    }
    if settings.tenant_from_basic_auth {
        if let Some(user) = basic_auth_user(headers) {
            return TenantId::new(&user);
        }
    }
    Err(TenantError::Missing)
}

fn basic_auth_user(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, _password) = decoded.split_once(':')?;
    Some(user.to_string())
}

/// Middleware inserting the `TenantId` extension, or answering 401 without one.
pub async fn tenant_middleware(
    State(settings): State<AuthSettings>,
    mut request: Request,
    next: Next,
) -> Response {
    match resolve_tenant(settings, request.headers()) {
        Ok(tenant) => {
            request.extensions_mut().insert(tenant);
            next.run(request).await
        }
        Err(err) => (StatusCode::UNAUTHORIZED, err.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const ON: AuthSettings = AuthSettings { enabled: true, tenant_from_basic_auth: false };

    #[test]
    fn header_name_is_case_insensitive() {
        let mut headers = HeaderMap::new();
        headers.insert("X-Scope-Orgid", HeaderValue::from_static("team-a"));
        assert_eq!(resolve_tenant(ON, &headers).unwrap().as_str(), "team-a");
    }

    #[test]
    fn missing_tenant_and_disabled_auth() {
        assert_eq!(resolve_tenant(ON, &HeaderMap::new()).unwrap_err(), TenantError::Missing);
        let off = AuthSettings { enabled: false, tenant_from_basic_auth: false };
        assert_eq!(resolve_tenant(off, &HeaderMap::new()).unwrap().as_str(), "fake");
    }

    #[test]
    fn basic_auth_user_only_when_enabled() {
        let mut headers = HeaderMap::new();
        // "team-b:secret"
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic dGVhbS1iOnNlY3JldA=="));
        assert!(resolve_tenant(ON, &headers).is_err());
        let basic = AuthSettings { enabled: true, tenant_from_basic_auth: true };
        assert_eq!(resolve_tenant(basic, &headers).unwrap().as_str(), "team-b");
        headers.insert(ORG_ID_HEADER, HeaderValue::from_static("team-c"));
        assert_eq!(resolve_tenant(basic, &headers).unwrap().as_str(), "team-c");
    }

    #[test]
    fn invalid_tenant_is_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(ORG_ID_HEADER, HeaderValue::from_static(".."));
        assert!(resolve_tenant(ON, &headers).is_err());
    }
}
