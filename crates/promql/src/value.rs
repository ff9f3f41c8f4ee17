//! Query results and their Prometheus HTTP API JSON encoding (the `data` object).

use std::fmt::Write;

use neocortex_core::{Labels, Sample};

/// One sample of an instant-vector result.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    /// The series labels.
    pub labels: Labels,
    /// Evaluation time in milliseconds.
    pub timestamp_ms: i64,
    /// The value.
    pub value: f64,
}

/// One series of a range-vector (matrix) result.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    /// The series labels.
    pub labels: Labels,
    /// Points in time order.
    pub samples: Vec<Sample>,
}

/// The result of a query, as Prometheus types it.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryValue {
    /// A scalar at the evaluation time.
    Scalar {
        /// Evaluation time in milliseconds.
        timestamp_ms: i64,
        /// The value.
        value: f64,
    },
    /// A string at the evaluation time.
    String {
        /// Evaluation time in milliseconds.
        timestamp_ms: i64,
        /// The string.
        value: String,
    },
    /// An instant vector, in evaluation order (meaningful after `sort`, `topk`, ...).
    Vector(Vec<InstantSample>),
    /// A range vector; range queries return these sorted by labels.
    Matrix(Vec<RangeSeries>),
}

impl QueryValue {
    /// Prometheus's `resultType` name.
    pub fn result_type(&self) -> &'static str {
        match self {
            QueryValue::Scalar { .. } => "scalar",
            QueryValue::String { .. } => "string",
            QueryValue::Vector(_) => "vector",
            QueryValue::Matrix(_) => "matrix",
        }
    }

    /// The `data` object of a Prometheus query API response, byte-compatible with Prometheus:
    /// `{"resultType":"vector","result":[{"metric":{...},"value":[1435781451.781,"1"]}]}`.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("{\"resultType\":\"");
        out.push_str(self.result_type());
        out.push_str("\",\"result\":");
        match self {
            QueryValue::Scalar { timestamp_ms, value } => {
                write_point(&mut out, *timestamp_ms, *value);
            }
            QueryValue::String { timestamp_ms, value } => {
                out.push('[');
                out.push_str(&format_timestamp(*timestamp_ms));
                out.push(',');
                write_json_string(&mut out, value);
                out.push(']');
            }
            QueryValue::Vector(samples) => {
                out.push('[');
                for (i, sample) in samples.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str("{\"metric\":");
                    write_labels(&mut out, &sample.labels);
                    out.push_str(",\"value\":");
                    write_point(&mut out, sample.timestamp_ms, sample.value);
                    out.push('}');
                }
                out.push(']');
            }
            QueryValue::Matrix(series) => {
                out.push('[');
                for (i, s) in series.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str("{\"metric\":");
                    write_labels(&mut out, &s.labels);
                    out.push_str(",\"values\":[");
                    for (j, sample) in s.samples.iter().enumerate() {
                        if j > 0 {
                            out.push(',');
                        }
                        write_point(&mut out, sample.timestamp_ms, sample.value);
                    }
                    out.push_str("]}");
                }
                out.push(']');
            }
        }
        out.push('}');
        out
    }
}

fn write_point(out: &mut String, timestamp_ms: i64, value: f64) {
    out.push('[');
    out.push_str(&format_timestamp(timestamp_ms));
    out.push_str(",\"");
    out.push_str(&format_value(value));
    out.push_str("\"]");
}

fn write_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, label) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_string(out, &label.name);
        out.push(':');
        write_json_string(out, &label.value);
    }
    out.push('}');
}

/// Writes a JSON string the way Go's `encoding/json` does (HTML-safe escapes included).
pub fn write_json_string(out: &mut String, text: &str) {
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", ch as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A timestamp in seconds with exactly three decimals when not whole (`1435781451.781`,
/// `1435781451.500`), as Prometheus's `jsonutil.MarshalTimestamp` writes it.
pub fn format_timestamp(timestamp_ms: i64) -> String {
    let sign = if timestamp_ms < 0 { "-" } else { "" };
    let abs = timestamp_ms.unsigned_abs();
    let seconds = abs / 1000;
    let millis = abs % 1000;
    if millis == 0 {
        return format!("{sign}{seconds}");
    }
    format!("{sign}{seconds}.{millis:03}")
}

/// A sample value as Prometheus's API writes it: Go's `strconv.AppendFloat(v, 'f', -1, 64)`,
/// switching to `'e'` below 1e-6 and from 1e21 on, with `NaN`, `+Inf`, `-Inf`.
pub fn format_value(value: f64) -> String {
    let abs = value.abs();
    if abs.is_finite() && abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        return format_go_e(value);
    }
    format_go_f(value)
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: shortest round-tripping digits, no exponent
/// (used by `count_values` for its label values).
pub fn format_go_f(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf".to_string() } else { "-Inf".to_string() };
    }
    // Rust's Display prints the shortest round-tripping digits without an exponent, as Go does;
    // only the choice between two equally near shortest candidates differs.
    break_tie_to_even(value, format!("{value}"))
}

/// Go's shortest formatting (Ryu) rounds an exact tie between two shortest candidates to the
/// even last digit, Rust's rounds it up. Ties need an exactly representable value whose decimal
/// expansion is one digit longer than the shortest form, which only happens with few
/// fractional bits, so the check is cheap.
fn break_tie_to_even(value: f64, shortest: String) -> String {
    let bits = value.to_bits();
    let exponent = ((bits >> 52) & 0x7FF) as i64;
    let mut mantissa = bits & 0x000F_FFFF_FFFF_FFFF;
    if exponent != 0 {
        mantissa |= 1 << 52;
    }
    if mantissa == 0 {
        return shortest;
    }
    let binary_exponent = exponent.max(1) - 1075 + i64::from(mantissa.trailing_zeros());
    let fraction_digits = -binary_exponent;
    if !(1..=8).contains(&fraction_digits) {
        return shortest;
    }
    let exact = format!("{:.*}", fraction_digits as usize, value);
    let shown = shortest.split_once('.').map_or(0, |(_, f)| f.len()) as i64;
    if shown + 1 != fraction_digits || !exact.ends_with('5') {
        return shortest;
    }
    let lower = &exact[..exact.len() - 1];
    let lower_even = lower.bytes().last().is_some_and(|d| (d - b'0').is_multiple_of(2));
    if lower_even {
        lower.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        shortest
    }
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`: `1.5e+21`, `1e-07`.
fn format_go_e(value: f64) -> String {
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs())
}

/// A float as Go's `fmt` prints it with `%v` (shortest digits, exponent form below 1e-4 and
/// from 1e6 on): used where Prometheus puts numbers into error messages.
pub fn go_format_float(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf".to_string() } else { "-Inf".to_string() };
    }
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs());
    }
    format!("{value}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_prometheus() {
        assert_eq!(format_timestamp(1_435_781_451_781), "1435781451.781");
        assert_eq!(format_timestamp(1_435_781_451_000), "1435781451");
        assert_eq!(format_timestamp(1_435_781_451_100), "1435781451.100");
        assert_eq!(format_timestamp(-1500), "-1.500");
        assert_eq!(format_value(1e21), "1e+21");
        assert_eq!(format_value(1e-7), "1e-07");
        assert_eq!(format_value(9.141969297911274e260), "9.141969297911274e+260");
        assert_eq!(format_value(123456.789), "123456.789");
        assert_eq!(format_value(0.000001), "0.000001");
        assert_eq!(format_go_f(1e21), "1000000000000000000000");
        // An exact tie between two 17-digit candidates: Go picks the even digit.
        assert_eq!(format_value(2_201_873_039_468_871.0 + 0.25), "2201873039468871.2");
        assert_eq!(format_value(2_201_873_039_468_871.0 + 0.75), "2201873039468871.8");
        assert_eq!(format_value(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(-0.0), "-0");
    }

    #[test]
    fn go_float_formatting() {
        assert_eq!(go_format_float(1e100), "1e+100");
        assert_eq!(go_format_float(9.3e18), "9.3e+18");
        assert_eq!(go_format_float(-9.3e18), "-9.3e+18");
        assert_eq!(go_format_float(0.000001234), "1.234e-06");
        assert_eq!(go_format_float(1234567.5), "1.2345675e+06");
        assert_eq!(go_format_float(0.5), "0.5");
        assert_eq!(go_format_float(f64::INFINITY), "+Inf");
    }

    #[test]
    fn json_shapes() {
        let labels = Labels::from_pairs([("__name__", "up"), ("job", "<a>")]);
        let matrix = QueryValue::Matrix(vec![RangeSeries {
            labels: labels.clone(),
            samples: vec![Sample { timestamp_ms: 1_435_781_430_781, value: 1.0 }],
        }]);
        assert_eq!(
            matrix.to_json(),
            r#"{"resultType":"matrix","result":[{"metric":{"__name__":"up","job":"\u003ca\u003e"},"values":[[1435781430.781,"1"]]}]}"#
        );
        let scalar = QueryValue::Scalar { timestamp_ms: 1000, value: f64::NAN };
        assert_eq!(scalar.to_json(), r#"{"resultType":"scalar","result":[1,"NaN"]}"#);
        let vector = QueryValue::Vector(vec![InstantSample { labels, timestamp_ms: 2000, value: 0.5 }]);
        assert!(vector.to_json().contains(r#""value":[2,"0.5"]"#));
    }
}
