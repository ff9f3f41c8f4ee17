//! One small error-code vocabulary shared by every part: the category shown to users (and its
//! HTTP status) is separate from the message, and says whether a retry may help.

/// What kind of failure an error is, independent of where it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The request is malformed or violates validation (HTTP 400, not retryable).
    BadData,
    /// No tenant could be determined (HTTP 401).
    Unauthorized,
    /// The request body is too large (HTTP 413).
    TooLarge,
    /// A rate or series limit was hit (HTTP 429, retry later).
    TooManyRequests,
    /// The query could not be executed (HTTP 422), e.g. many-to-many matching.
    Execution,
    /// The request was canceled by the client (HTTP 499).
    Canceled,
    /// The request took too long (HTTP 503, retryable).
    Timeout,
    /// A dependency is unavailable (HTTP 503, retryable).
    Unavailable,
    /// Our own fault (HTTP 500, retryable).
    Internal,
    /// The resource does not exist (HTTP 404).
    NotFound,
}

impl ErrorCode {
    /// The HTTP status for this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadData => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::NotFound => 404,
            ErrorCode::TooLarge => 413,
            ErrorCode::Execution => 422,
            ErrorCode::TooManyRequests => 429,
            ErrorCode::Canceled => 499,
            ErrorCode::Internal => 500,
            ErrorCode::Timeout | ErrorCode::Unavailable => 503,
        }
    }

    /// Whether a client (e.g. Prometheus remote write) may retry the same request.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::TooManyRequests | ErrorCode::Timeout | ErrorCode::Unavailable | ErrorCode::Internal
        )
    }

    /// The Prometheus API `errorType` for this code.
    pub fn prometheus_error_type(self) -> &'static str {
        match self {
            ErrorCode::BadData | ErrorCode::Unauthorized | ErrorCode::TooLarge => "bad_data",
            ErrorCode::Execution => "execution",
            ErrorCode::Canceled => "canceled",
            ErrorCode::Timeout => "timeout",
            ErrorCode::NotFound => "not_found",
            ErrorCode::TooManyRequests | ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}
