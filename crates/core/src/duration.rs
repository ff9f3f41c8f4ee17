//! Durations in the two spellings users meet: Prometheus's (`1d2h`, `5m`, `30s`, `100ms`, as in
//! PromQL and limits) and Go's (`1h30m0s`, `1.5s`, `250ms`, as in most Cortex flags).

use std::time::Duration;

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid duration string: {0:?}")]
pub struct DurationError(pub String);

const MS: u64 = 1;
const UNITS_PROMETHEUS: [(&str, u64); 7] = [
    ("ms", MS),
    ("s", 1000 * MS),
    ("m", 60 * 1000 * MS),
    ("h", 3600 * 1000 * MS),
    ("d", 24 * 3600 * 1000 * MS),
    ("w", 7 * 24 * 3600 * 1000 * MS),
    ("y", 365 * 24 * 3600 * 1000 * MS),
];

/// Parses a Prometheus duration (`[0-9]+(ms|s|m|h|d|w|y)` repeated, units in decreasing order,
/// each at most once; `0` alone is allowed). Returns milliseconds.
pub fn parse_prometheus_duration_ms(text: &str) -> Result<i64, DurationError> {
    let err = || DurationError(text.to_string());
    if text == "0" {
        return Ok(0);
    }
    if text.is_empty() {
        return Err(err());
    }
    let bytes = text.as_bytes();
    let mut pos = 0;
    let mut total: u64 = 0;
    let mut last_unit_index: Option<usize> = None;
    while pos < bytes.len() {
        let digits_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        if digits_start == pos {
            return Err(err());
        }
        let number: u64 = text[digits_start..pos].parse().map_err(|_| err())?;
        let unit_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_alphabetic() {
            pos += 1;
        }
        let unit = &text[unit_start..pos];
        let unit_index = UNITS_PROMETHEUS.iter().position(|(name, _)| *name == unit).ok_or_else(err)?;
        // Units must appear from largest to smallest, each once (ms is the smallest).
        let rank = |i: usize| if i == 0 { 0 } else { i };
        if let Some(last) = last_unit_index {
            if rank(unit_index) >= rank(last) || unit_index == 0 && last == 0 {
                return Err(err());
            }
        }
        last_unit_index = Some(unit_index);
        total = number
            .checked_mul(UNITS_PROMETHEUS[unit_index].1)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(err)?;
    }
    i64::try_from(total).map_err(|_| err())
}

/// Formats milliseconds as Prometheus does (`1d2h`, `5m`, `0s`).
pub fn format_prometheus_duration_ms(ms: i64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    let mut rest = ms.unsigned_abs();
    if ms < 0 {
        out.push('-');
    }
    for (name, size) in UNITS_PROMETHEUS.iter().rev() {
        if rest >= *size {
            let count = rest / size;
            rest %= size;
            out.push_str(&count.to_string());
            out.push_str(name);
        }
    }
    out
}

/// Parses a Go `time.Duration` string (`1h30m`, `1.5s`, `300ms`, `2us`, `-1s`, `0`).
pub fn parse_go_duration(text: &str) -> Result<Duration, DurationError> {
    let err = || DurationError(text.to_string());
    let body = text.strip_prefix('+').unwrap_or(text);
    if body.starts_with('-') {
        return Err(err());
    }
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    if body.is_empty() {
        return Err(err());
    }
    let mut nanos: f64 = 0.0;
    let mut rest = body;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(err)?;
        if number_len == 0 {
            return Err(err());
        }
        let number: f64 = rest[..number_len].parse().map_err(|_| err())?;
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(err()),
        };
        rest = &rest[unit_len..];
        nanos += number * scale;
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}

/// Formats a duration as Go's `time.Duration.String()` does (`1h0m0s`, `1.5s`, `250ms`).
pub fn format_go_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000_000_000 {
        let (unit, scale) = if nanos < 1_000 {
            ("ns", 1u128)
        } else if nanos < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", trim_fraction(nanos, scale));
    }
    let total_seconds = nanos / 1_000_000_000;
    let hours = total_seconds / 3600;
    let minutes = (total_seconds % 3600) / 60;
    let seconds_nanos = nanos % 60_000_000_000;
    let seconds = trim_fraction(seconds_nanos, 1_000_000_000);
    if hours > 0 {
        format!("{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

fn trim_fraction(value: u128, scale: u128) -> String {
    let whole = value / scale;
    let fraction = value % scale;
    if fraction == 0 {
        return whole.to_string();
    }
    let width = scale.to_string().len() - 1;
    let digits = format!("{fraction:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_durations() {
        assert_eq!(parse_prometheus_duration_ms("5m"), Ok(300_000));
        assert_eq!(parse_prometheus_duration_ms("1h30m"), Ok(5_400_000));
        assert_eq!(parse_prometheus_duration_ms("100ms"), Ok(100));
        assert_eq!(parse_prometheus_duration_ms("1d"), Ok(86_400_000));
        assert_eq!(parse_prometheus_duration_ms("0"), Ok(0));
        assert!(parse_prometheus_duration_ms("5m1h").is_err());
        assert!(parse_prometheus_duration_ms("1.5h").is_err());
        assert!(parse_prometheus_duration_ms("").is_err());
        assert!(parse_prometheus_duration_ms("5").is_err());
        assert_eq!(format_prometheus_duration_ms(5_400_000), "1h30m");
        assert_eq!(format_prometheus_duration_ms(14 * 86_400_000), "2w");
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_go_duration("5d").is_err());
        assert_eq!(format_go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(format_go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_go_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_go_duration(Duration::from_secs(600)), "10m0s");
    }
}

/// A duration in a config file or flag spelled the Prometheus way (`2w`, `10m`); Go spellings
/// (`1h30m0s`, `1.5s`) are accepted too. Cortex's `model.Duration` options use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ModelDuration(pub Duration);

/// A duration in a config file or flag spelled the Go way (`1h0m0s`, `250ms`); Prometheus
/// spellings (`1d`) are accepted too. Cortex's `time.Duration` options use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GoDuration(pub Duration);

/// Parses either spelling of a duration.
pub fn parse_any_duration(text: &str) -> Result<Duration, DurationError> {
    if let Ok(ms) = parse_prometheus_duration_ms(text) {
        return Ok(Duration::from_millis(ms as u64));
    }
    parse_go_duration(text)
}

impl std::str::FromStr for ModelDuration {
    type Err = DurationError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_any_duration(text).map(Self)
    }
}

impl std::str::FromStr for GoDuration {
    type Err = DurationError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_any_duration(text).map(Self)
    }
}

impl std::fmt::Display for ModelDuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_prometheus_duration_ms(self.0.as_millis() as i64))
    }
}

impl std::fmt::Display for GoDuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_go_duration(self.0))
    }
}

macro_rules! duration_serde {
    ($ty:ty) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

duration_serde!(ModelDuration);
duration_serde!(GoDuration);
