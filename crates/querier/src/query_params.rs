//! The parameters of `/api/v1/query` and `/api/v1/query_range`, checked in Prometheus's order
//! with its exact messages, for the query handlers (the expression itself is parsed by the
//! PromQL crate: Prometheus wraps its error in `invalid parameter "query"` for instant queries
//! only).

use crate::form::FormParams;
use crate::response::ApiError;
use crate::time_param::{parse_duration, parse_time, time_param};

/// Most points per series a range query may return, as in Prometheus.
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

const NANOS_PER_MILLI: i64 = 1_000_000;

/// `/api/v1/query` parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstantQueryParams {
    /// The PromQL expression, unparsed.
    pub query: String,
    /// Evaluation time in milliseconds; `now` when `time` is absent.
    pub time_ms: i64,
    /// The `timeout` parameter in nanoseconds, when given.
    pub timeout_nanos: Option<i64>,
    /// The `stats` parameter (`""`, or `all` for per-step statistics).
    pub stats: String,
}

/// `/api/v1/query_range` parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeQueryParams {
    /// The PromQL expression, unparsed.
    pub query: String,
    /// First evaluation time in milliseconds.
    pub start_ms: i64,
    /// Last evaluation time in milliseconds (not before `start_ms`).
    pub end_ms: i64,
    /// Resolution step in nanoseconds (positive).
    pub step_nanos: i64,
    /// The `timeout` parameter in nanoseconds, when given.
    pub timeout_nanos: Option<i64>,
    /// The `stats` parameter.
    pub stats: String,
}

impl RangeQueryParams {
    /// The step in milliseconds, truncated as Prometheus's engine truncates it.
    pub fn step_ms(&self) -> i64 {
        self.step_nanos / NANOS_PER_MILLI
    }
}

/// Reads `/api/v1/query` parameters: `time` (default `now_ms`), then `timeout`.
pub fn instant_query_params(params: &FormParams, now_ms: i64) -> Result<InstantQueryParams, ApiError> {
    let time_ms = time_param(params, "time", now_ms)?;
    let timeout_nanos = timeout_param(params)?;
    Ok(InstantQueryParams {
        query: params.value("query").to_string(),
        time_ms,
        timeout_nanos,
        stats: params.value("stats").to_string(),
    })
}

/// Reads `/api/v1/query_range` parameters: `start` and `end` (required), `end` not before
/// `start`, a positive `step`, at most 11,000 points, then `timeout`.
pub fn range_query_params(params: &FormParams) -> Result<RangeQueryParams, ApiError> {
    let start_ms =
        parse_time(params.value("start")).map_err(|error| ApiError::invalid_param("start", error))?;
    let end_ms = parse_time(params.value("end")).map_err(|error| ApiError::invalid_param("end", error))?;
    if end_ms < start_ms {
        return Err(ApiError::invalid_param("end", "end timestamp must not be before start time"));
    }
    let step_nanos =
        parse_duration(params.value("step")).map_err(|error| ApiError::invalid_param("step", error))?;
    if step_nanos <= 0 {
        return Err(ApiError::invalid_param(
            "step",
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    // Go's time.Sub saturates at the largest duration instead of overflowing.
    let range_nanos = (i128::from(end_ms) - i128::from(start_ms)) * i128::from(NANOS_PER_MILLI);
    let range_nanos = range_nanos.min(i128::from(i64::MAX));
    if range_nanos / i128::from(step_nanos) > i128::from(MAX_POINTS_PER_SERIES) {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let timeout_nanos = timeout_param(params)?;
    Ok(RangeQueryParams {
        query: params.value("query").to_string(),
        start_ms,
        end_ms,
        step_nanos,
        timeout_nanos,
        stats: params.value("stats").to_string(),
    })
}

fn timeout_param(params: &FormParams) -> Result<Option<i64>, ApiError> {
    match params.value("timeout") {
        "" => Ok(None),
        text => parse_duration(text).map(Some).map_err(|error| ApiError::invalid_param("timeout", error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range_error(query: &str) -> String {
        range_query_params(&FormParams::parse(query)).expect_err("refused").message
    }

    #[test]
    fn range_errors_match_prometheus() {
        let cases = [
            ("query=up", r#"invalid parameter "start": cannot parse "" to a valid timestamp"#),
            ("query=up&start=1", r#"invalid parameter "end": cannot parse "" to a valid timestamp"#),
            ("start=10&end=5&step=1", r#"invalid parameter "end": end timestamp must not be before start time"#),
            ("start=1&end=5", r#"invalid parameter "step": cannot parse "" to a valid duration"#),
            (
                "start=1&end=5&step=0",
                r#"invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer"#,
            ),
            ("start=1&end=5&step=-1s", r#"invalid parameter "step": cannot parse "-1s" to a valid duration"#),
            (
                "start=0&end=11001&step=1",
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
            ),
            (
                "start=1&end=5&step=0.0001",
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
            ),
            ("start=1&end=5&step=x", r#"invalid parameter "step": cannot parse "x" to a valid duration"#),
            ("start=1&end=5&step=1&timeout=x", r#"invalid parameter "timeout": cannot parse "x" to a valid duration"#),
            (
                "start=1&end=5&step=1e10",
                r#"invalid parameter "step": cannot parse "1e10" to a valid duration. It overflows int64"#,
            ),
        ];
        for (query, expected) in cases {
            assert_eq!(range_error(query), expected, "{query}");
        }
    }

    #[test]
    fn range_params_are_read() {
        let params = FormParams::parse("query=rate(up[5m])&start=0&end=11000&step=1&timeout=30s&stats=all");
        let parsed = range_query_params(&params).expect("valid");
        assert_eq!(parsed.query, "rate(up[5m])");
        assert_eq!((parsed.start_ms, parsed.end_ms, parsed.step_ms()), (0, 11_000_000, 1000));
        assert_eq!(parsed.timeout_nanos, Some(30_000_000_000));
        assert_eq!(parsed.stats, "all");
        let many = range_query_params(&FormParams::parse("start=0&end=1e9&step=1h")).expect_err("too many");
        assert!(many.message.starts_with("exceeded maximum resolution"));
        // Go's time.Sub saturates at ~292 years, so absurd ranges with a long step pass.
        assert!(range_query_params(&FormParams::parse("start=-1e15&end=1e15&step=1y")).is_ok());
    }

    #[test]
    fn instant_params_match_prometheus() {
        let parsed = instant_query_params(&FormParams::parse("query=up"), 1234).expect("valid");
        assert_eq!((parsed.query.as_str(), parsed.time_ms, parsed.timeout_nanos), ("up", 1234, None));
        let error = instant_query_params(&FormParams::parse("query=up&time=x"), 0).expect_err("bad time");
        assert_eq!(
            error.message,
            r#"invalid parameter "time": Invalid time value for 'time': cannot parse "x" to a valid timestamp"#
        );
        let error =
            instant_query_params(&FormParams::parse("query=up&timeout=x"), 0).expect_err("bad timeout");
        assert_eq!(error.message, r#"invalid parameter "timeout": cannot parse "x" to a valid duration"#);
    }
}
