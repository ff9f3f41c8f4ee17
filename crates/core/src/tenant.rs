//! Tenant ids, validated as Cortex validates them.

use std::fmt;
use std::sync::Arc;

/// Longest tenant id Cortex accepts.
pub const MAX_TENANT_ID_LENGTH: usize = 150;

/// The tenant used when authentication is disabled.
pub const FAKE_TENANT: &str = "fake";

/// Why a tenant id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    /// No tenant was given.
    #[error("no org id")]
    Missing,
    /// Longer than 150 characters.
    #[error("tenant ID is too long: max {MAX_TENANT_ID_LENGTH} characters")]
    TooLong,
    /// `.` or `..`.
    #[error("tenant ID is '.' or '..'")]
    Unsafe,
    /// A character outside Cortex's allowed set.
    #[error("tenant ID '{id}' contains unsupported character '{character}'")]
    UnsupportedCharacter {
        /// The refused id.
        id: String,
        /// The first bad character.
        character: char,
    },
}

/// A validated tenant id; cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(Arc<str>);

impl TenantId {
    /// Validates `id` with Cortex's rules: at most 150 characters from `[a-zA-Z0-9!-_.*'()]`,
    /// not `.` or `..`.
    pub fn new(id: &str) -> Result<Self, TenantError> {
        if id.is_empty() {
            return Err(TenantError::Missing);
        }
        if id.len() > MAX_TENANT_ID_LENGTH {
            return Err(TenantError::TooLong);
        }
        if id == "." || id == ".." {
            return Err(TenantError::Unsafe);
        }
        if let Some(character) = id.chars().find(|c| !is_supported_tenant_char(*c)) {
            return Err(TenantError::UnsupportedCharacter { id: id.to_string(), character });
        }
        Ok(Self(Arc::from(id)))
    }

    /// The tenant used when `-auth.enabled=false`.
    pub fn fake() -> Self {
        Self(Arc::from(FAKE_TENANT))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_supported_tenant_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '!' | '-' | '_' | '.' | '*' | '\'' | '(' | ')')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cortex_rules() {
        assert!(TenantId::new("team-a_1.prod").is_ok());
        assert_eq!(TenantId::new(""), Err(TenantError::Missing));
        assert_eq!(TenantId::new(".."), Err(TenantError::Unsafe));
        assert!(TenantId::new("a/b").is_err());
        assert!(TenantId::new("a|b").is_err());
        assert_eq!(TenantId::new(&"x".repeat(151)), Err(TenantError::TooLong));
        assert!(TenantId::new(&"x".repeat(150)).is_ok());
    }
}
