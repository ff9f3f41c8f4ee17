//! Errors of query parsing and evaluation, each with its `ErrorCode`.

use neocortex_core::{ErrorCode, QueryError};

use crate::parser::ParseError;

/// Why a query failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PromqlError {
    /// The query does not parse or type-check (HTTP 400).
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The request is invalid independently of the data, e.g. a bad step (HTTP 400).
    #[error("{0}")]
    BadData(String),
    /// Evaluation failed on the data, e.g. many-to-many matching (HTTP 422).
    #[error("{0}")]
    Execution(String),
    /// The max-samples limit was hit (HTTP 422, as in Prometheus).
    #[error("query processing would load too many samples into memory in {0}")]
    TooManySamples(&'static str),
    /// The query ran past its timeout.
    #[error("query timed out in {0}")]
    Timeout(&'static str),
    /// The query was canceled by its caller.
    #[error("query was canceled in {0}")]
    Canceled(&'static str),
    /// Storage could not serve the data.
    #[error("{0}")]
    Storage(QueryError),
}

impl PromqlError {
    /// The error category, which decides the HTTP status and Prometheus `errorType`.
    pub fn code(&self) -> ErrorCode {
        match self {
            PromqlError::Parse(_) | PromqlError::BadData(_) => ErrorCode::BadData,
            PromqlError::Execution(_) | PromqlError::TooManySamples(_) => ErrorCode::Execution,
            PromqlError::Timeout(_) => ErrorCode::Timeout,
            PromqlError::Canceled(_) => ErrorCode::Canceled,
            PromqlError::Storage(err) => err.code,
        }
    }

    pub(crate) fn exec(message: impl Into<String>) -> Self {
        PromqlError::Execution(message.into())
    }
}

impl From<QueryError> for PromqlError {
    fn from(err: QueryError) -> Self {
        PromqlError::Storage(err)
    }
}

/// The error Prometheus raises when one output vector holds two series with the same labels.
pub(crate) fn duplicate_labelset() -> PromqlError {
    PromqlError::exec("vector cannot contain metrics with the same labelset")
}
