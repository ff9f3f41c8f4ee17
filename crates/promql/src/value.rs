//! Query results and their Prometheus HTTP API JSON encoding (the `data` object).

use neocortex_core::{Labels, Sample};

use crate::{json, number_format};

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
        let mut out = Vec::with_capacity(256);
        self.write_json(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// Appends [`QueryValue::to_json`]'s bytes to `out` (straight into a response body).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.reserve(self.json_size_hint());
        out.extend_from_slice(b"{\"resultType\":\"");
        out.extend_from_slice(self.result_type().as_bytes());
        out.extend_from_slice(b"\",\"result\":");
        match self {
            QueryValue::Scalar { timestamp_ms, value } => {
                write_point(out, *timestamp_ms, *value);
            }
            QueryValue::String { timestamp_ms, value } => {
                out.push(b'[');
                number_format::write_timestamp(out, *timestamp_ms);
                out.push(b',');
                json::write_string(out, value);
                out.push(b']');
            }
            QueryValue::Vector(samples) => {
                out.push(b'[');
                for (i, sample) in samples.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(b"{\"metric\":");
                    json::write_labels_object(out, &sample.labels);
                    out.extend_from_slice(b",\"value\":");
                    write_point(out, sample.timestamp_ms, sample.value);
                    out.push(b'}');
                }
                out.push(b']');
            }
            QueryValue::Matrix(series) => {
                out.push(b'[');
                for (i, s) in series.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(b"{\"metric\":");
                    json::write_labels_object(out, &s.labels);
                    out.extend_from_slice(b",\"values\":[");
                    for (j, sample) in s.samples.iter().enumerate() {
                        if j > 0 {
                            out.push(b',');
                        }
                        write_point(out, sample.timestamp_ms, sample.value);
                    }
                    out.extend_from_slice(b"]}");
                }
                out.push(b']');
            }
        }
        out.push(b'}');
    }

    /// A guess of the encoded size (about 32 bytes a point, 100 a label set), so a big
    /// matrix is written into one allocation instead of doubling its way up.
    fn json_size_hint(&self) -> usize {
        match self {
            QueryValue::Scalar { .. } | QueryValue::String { .. } => 64,
            QueryValue::Vector(samples) => samples.len() * 132 + 64,
            QueryValue::Matrix(series) => {
                series.iter().map(|s| s.samples.len() * 32 + 100).sum::<usize>() + 64
            }
        }
    }
}

fn write_point(out: &mut Vec<u8>, timestamp_ms: i64, value: f64) {
    out.push(b'[');
    number_format::write_timestamp(out, timestamp_ms);
    out.extend_from_slice(b",\"");
    number_format::write_value(out, value);
    out.extend_from_slice(b"\"]");
}

/// A timestamp as Prometheus's API writes it: seconds with millisecond decimals.
pub fn format_timestamp(timestamp_ms: i64) -> String {
    let mut out = Vec::with_capacity(24);
    number_format::write_timestamp(&mut out, timestamp_ms);
    String::from_utf8(out).unwrap_or_default()
}

/// A sample value as Prometheus's API writes it: Go's `strconv.AppendFloat(v, 'f', -1, 64)`,
/// switching to `'e'` below 1e-6 and from 1e21 on, with `NaN`, `+Inf`, `-Inf`.
pub fn format_value(value: f64) -> String {
    let mut out = Vec::with_capacity(24);
    number_format::write_value(&mut out, value);
    String::from_utf8(out).unwrap_or_default()
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: shortest round-tripping digits, no exponent
/// (used by `count_values` for its label values).
pub fn format_go_f(value: f64) -> String {
    let mut out = Vec::with_capacity(24);
    number_format::write_go_f(&mut out, value);
    String::from_utf8(out).unwrap_or_default()
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
