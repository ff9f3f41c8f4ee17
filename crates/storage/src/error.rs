//! The storage error: what failed, with the `ErrorCode` that says whether a retry may help.

use neocortex_core::{ErrorCode, QueryError};

/// Any failure of the chunk store, its index or its object store.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The schema or storage configuration is unusable; the message names the option.
    #[error("invalid storage config: {0}")]
    Config(String),
    /// A query the store cannot answer, e.g. one without a metric name.
    #[error("{0}")]
    BadQuery(String),
    /// A series to write has no metric name.
    #[error("no metric name label for chunk")]
    MissingMetricName,
    /// The object does not exist.
    #[error("object not found: {0}")]
    NotFound(String),
    /// A stored object or index row could not be decoded.
    #[error("corrupt {what}: {message}")]
    Corrupt {
        /// What was being decoded (`chunk object`, `index row`, `chunk key`).
        what: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The index or object backend failed.
    #[error("{backend} backend error: {message}")]
    Backend {
        /// Which backend (`redb`, `filesystem`, …).
        backend: &'static str,
        /// The backend's own message.
        message: String,
    },
}

/// The message of the error Cortex returns for a store query without a metric name.
pub const QUERY_MUST_CONTAIN_METRIC_NAME: &str = "query must contain metric name";

impl StorageError {
    /// The error category.
    pub fn code(&self) -> ErrorCode {
        match self {
            StorageError::Config(_) | StorageError::BadQuery(_) | StorageError::MissingMetricName => {
                ErrorCode::BadData
            }
            StorageError::NotFound(_) => ErrorCode::NotFound,
            StorageError::Corrupt { .. } => ErrorCode::Internal,
            StorageError::Backend { .. } => ErrorCode::Unavailable,
        }
    }

    /// A backend failure from any displayable error.
    pub fn backend(backend: &'static str, error: impl std::fmt::Display) -> Self {
        StorageError::Backend { backend, message: error.to_string() }
    }

    /// A decoding failure.
    pub fn corrupt(what: &'static str, message: impl Into<String>) -> Self {
        StorageError::Corrupt { what, message: message.into() }
    }
}

impl From<StorageError> for QueryError {
    fn from(error: StorageError) -> Self {
        QueryError::new(error.code(), error.to_string())
    }
}
