//! Timestamps and durations in request parameters, parsed exactly as Prometheus's HTTP API
//! parses them: float Unix seconds (rounded to the millisecond) or RFC 3339 with up to nine
//! fractional digits; durations as float seconds or Prometheus durations (`5m`, `1h30m`).

use neocortex_core::calendar::{days_from_civil, days_in_month};
use neocortex_core::duration::parse_prometheus_duration_ms;

use crate::form::FormParams;
use crate::go_quote::quote;
use crate::response::ApiError;

/// Prometheus's `minTime` in milliseconds: the default `start` of series and label queries.
pub const MIN_TIME_MS: i64 = -9_223_309_901_257_974_000;
/// Prometheus's `maxTime` in milliseconds: the default `end` of series and label queries.
pub const MAX_TIME_MS: i64 = 9_223_309_901_257_974_999;
/// `minTime` in RFC 3339, which clients send back (Go's parser cannot read 9-digit years).
pub const MIN_TIME_FORMATTED: &str = "-292273086-05-16T16:47:06Z";
/// `maxTime` in RFC 3339.
pub const MAX_TIME_FORMATTED: &str = "292277025-08-18T07:12:54.999999999Z";

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// A timestamp or duration that could not be parsed; the message is Prometheus's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseTimeError(pub String);

/// Parses a timestamp as Prometheus's `parseTime`, returning milliseconds since the epoch
/// (Prometheus's `timestamp.FromTime`, including Go's wrap-around for absurd floats).
pub fn parse_time(text: &str) -> Result<i64, ParseTimeError> {
    if let Some(seconds) = parse_go_float(text) {
        return Ok(float_seconds_to_millis(seconds));
    }
    if let Some(millis) = parse_rfc3339_nano(text) {
        return Ok(millis);
    }
    match text {
        MIN_TIME_FORMATTED => Ok(MIN_TIME_MS),
        MAX_TIME_FORMATTED => Ok(MAX_TIME_MS),
        _ => Err(ParseTimeError(format!("cannot parse {} to a valid timestamp", quote(text)))),
    }
}

/// Parses a duration as Prometheus's `parseDuration` (for `step`, `timeout`, …), returning
/// nanoseconds (Go's `time.Duration`); floats are seconds and may be negative.
pub fn parse_duration(text: &str) -> Result<i64, ParseTimeError> {
    if let Some(seconds) = parse_go_float(text) {
        let nanos = seconds * NANOS_PER_SECOND as f64;
        if nanos.is_nan() || nanos > i64::MAX as f64 || nanos < i64::MIN as f64 {
            return Err(ParseTimeError(format!(
                "cannot parse {} to a valid duration. It overflows int64",
                quote(text)
            )));
        }
        return Ok(nanos as i64);
    }
    if let Ok(millis) = parse_prometheus_duration_ms(text) {
        if let Some(nanos) = millis.checked_mul(1_000_000) {
            return Ok(nanos);
        }
    }
    Err(ParseTimeError(format!("cannot parse {} to a valid duration", quote(text))))
}

/// Reads timestamp parameter `name` (its first value), `default_ms` when absent or empty; the
/// error is Prometheus's `invalid parameter "start": Invalid time value for 'start': ...`.
pub fn time_param(params: &FormParams, name: &str, default_ms: i64) -> Result<i64, ApiError> {
    let text = params.value(name);
    if text.is_empty() {
        return Ok(default_ms);
    }
    parse_time(text)
        .map_err(|error| ApiError::invalid_param(name, format!("Invalid time value for '{name}': {error}")))
}

/// Go's `strconv.ParseFloat(text, 64)`: decimal floats, hexadecimal floats with a binary
/// exponent (`0x1.8p1`), `inf`/`infinity`/`nan` in any case (no sign before `nan`), `_` between
/// decimal digits; `None` where Go reports an error (including overflow to infinity).
fn parse_go_float(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let has_sign = unsigned.len() != text.len();
    let is_infinity_word = unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity");
    if unsigned.eq_ignore_ascii_case("nan") {
        return (!has_sign).then_some(f64::NAN);
    }
    if let Some(hex) = unsigned.strip_prefix("0x").or_else(|| unsigned.strip_prefix("0X")) {
        let magnitude = parse_hex_float(hex)?;
        return Some(if text.starts_with('-') { -magnitude } else { magnitude });
    }
    let first = unsigned.bytes().next()?;
    if !(first.is_ascii_digit() || first == b'.' || is_infinity_word) {
        return None;
    }
    let value: f64 = if text.contains('_') {
        if !underscores_between_digits(text) {
            return None;
        }
        text.replace('_', "").parse().ok()?
    } else {
        text.parse().ok()?
    };
    if value.is_infinite() && !is_infinity_word {
        return None;
    }
    Some(value)
}

/// The part of a Go hexadecimal float after `0x`: hex digits with an optional point, then a
/// mandatory `p` exponent (a power of two).
fn parse_hex_float(text: &str) -> Option<f64> {
    let (mantissa_text, exponent_text) = text.split_once(['p', 'P'])?;
    let (whole_digits, fraction_digits) = mantissa_text.split_once('.').unwrap_or((mantissa_text, ""));
    if whole_digits.is_empty() && fraction_digits.is_empty() {
        return None;
    }
    let mut mantissa = 0.0_f64;
    for digit in whole_digits.chars().chain(fraction_digits.chars()) {
        mantissa = mantissa * 16.0 + f64::from(digit.to_digit(16)?);
    }
    let exponent: i32 = exponent_text.parse().ok()?;
    let fraction_bits = i32::try_from(fraction_digits.len()).ok()?.checked_mul(4)?;
    let value = mantissa * 2f64.powi(exponent.checked_sub(fraction_bits)?);
    value.is_finite().then_some(value)
}

fn underscores_between_digits(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().all(|(index, &byte)| {
        byte != b'_'
            || (index > 0
                && bytes[index - 1].is_ascii_digit()
                && bytes.get(index + 1).is_some_and(u8::is_ascii_digit))
    })
}

/// Go's float-to-int64 conversion on amd64: out-of-range values and NaN become `i64::MIN`.
fn go_float_to_i64(value: f64) -> i64 {
    // 2^63 is exactly representable; i64 holds [-2^63, 2^63).
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    if !(-TWO_POW_63..TWO_POW_63).contains(&value) {
        return i64::MIN;
    }
    value as i64
}

/// Prometheus: `s, ns := math.Modf(t); ns = math.Round(ns*1000)/1000;
/// time.Unix(int64(s), int64(ns*1e9))`, then `timestamp.FromTime`, with Go's integer wrapping.
fn float_seconds_to_millis(seconds: f64) -> i64 {
    let whole = seconds.trunc();
    let fraction = if seconds.is_infinite() { f64::NAN } else { seconds - whole };
    let fraction = (fraction * 1000.0).round() / 1000.0;
    let mut unix_seconds = go_float_to_i64(whole);
    let mut nanos = go_float_to_i64(fraction * NANOS_PER_SECOND as f64);
    if !(0..NANOS_PER_SECOND).contains(&nanos) {
        let carry = nanos / NANOS_PER_SECOND;
        unix_seconds = unix_seconds.wrapping_add(carry);
        nanos -= carry * NANOS_PER_SECOND;
        if nanos < 0 {
            nanos += NANOS_PER_SECOND;
            unix_seconds = unix_seconds.wrapping_sub(1);
        }
    }
    unix_seconds.wrapping_mul(1000).wrapping_add(nanos / 1_000_000)
}

/// Go's `time.Parse(time.RFC3339Nano, text)` as Go 1.19 accepts it: four-digit year, one- or
/// two-digit hour, up to nine fractional digits after `.` or `,`, `Z` or `±hh:mm`.
fn parse_rfc3339_nano(text: &str) -> Option<i64> {
    let mut cursor = Cursor { bytes: text.as_bytes(), position: 0 };
    let year = cursor.fixed_digits(4)?;
    cursor.literal(b'-')?;
    let month = cursor.fixed_digits(2)?;
    cursor.literal(b'-')?;
    let day = cursor.fixed_digits(2)?;
    cursor.literal(b'T')?;
    let hour = cursor.one_or_two_digits()?;
    cursor.literal(b':')?;
    let minute = cursor.fixed_digits(2)?;
    cursor.literal(b':')?;
    let second = cursor.fixed_digits(2)?;
    let mut nanos = 0;
    if matches!(cursor.peek(0), Some(b'.' | b',')) && cursor.peek(1).is_some_and(|b| b.is_ascii_digit()) {
        cursor.position += 1;
        let digits_start = cursor.position;
        while cursor.peek(0).is_some_and(|b| b.is_ascii_digit()) {
            cursor.position += 1;
        }
        let digit_count = cursor.position - digits_start;
        if digit_count > 9 {
            return None;
        }
        let digits: i64 = text[digits_start..cursor.position].parse().ok()?;
        nanos = digits * 10_i64.pow(9 - digit_count as u32);
    }
    let offset_seconds = match cursor.next()? {
        b'Z' => 0,
        sign @ (b'+' | b'-') => {
            let offset_hours = cursor.fixed_digits(2)?;
            cursor.literal(b':')?;
            let offset_minutes = cursor.fixed_digits(2)?;
            let magnitude = offset_hours * 3600 + offset_minutes * 60;
            if sign == b'-' {
                -magnitude
            } else {
                magnitude
            }
        }
        _ => return None,
    };
    if cursor.position != text.len() {
        return None;
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour >= 24 || minute >= 60 || second >= 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let unix_seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(unix_seconds * 1000 + nanos / 1_000_000)
}

struct Cursor<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl Cursor<'_> {
    fn peek(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.position + ahead).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek(0)?;
        self.position += 1;
        Some(byte)
    }

    fn literal(&mut self, expected: u8) -> Option<()> {
        (self.next()? == expected).then_some(())
    }

    fn fixed_digits(&mut self, count: usize) -> Option<i64> {
        let mut value = 0;
        for _ in 0..count {
            let byte = self.next()?;
            if !byte.is_ascii_digit() {
                return None;
            }
            value = value * 10 + i64::from(byte - b'0');
        }
        Some(value)
    }

    fn one_or_two_digits(&mut self) -> Option<i64> {
        let first = self.fixed_digits(1)?;
        if self.peek(0).is_some_and(|b| b.is_ascii_digit()) {
            return Some(first * 10 + self.fixed_digits(1)?);
        }
        Some(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_round_to_the_millisecond_as_go_does() {
        assert_eq!(parse_time("1795615200"), Ok(1_795_615_200_000));
        assert_eq!(parse_time("1.0005"), Ok(1000));
        assert_eq!(parse_time("-1.0005"), Ok(-1000));
        assert_eq!(parse_time("0.5"), Ok(500));
        assert_eq!(parse_time(".5"), Ok(500));
        assert_eq!(parse_time("+5"), Ok(5000));
        assert_eq!(parse_time("-0.0004"), Ok(0));
        assert_eq!(parse_time("-1.5"), Ok(-1500));
        assert_eq!(parse_time("1e3"), Ok(1_000_000));
        assert_eq!(parse_time("1_0"), Ok(10_000));
        assert_eq!(parse_time("1.123456"), Ok(1123));
        assert_eq!(parse_time("0x1p4"), Ok(16_000));
        assert_eq!(parse_time("0x1.8p1"), Ok(3000));
        assert_eq!(parse_time("-0X.8p0"), Ok(-500));
        assert!(parse_time("0x10").is_err());
        assert!(parse_time("0xp1").is_err());
    }

    #[test]
    fn absurd_floats_wrap_like_go_instead_of_failing() {
        assert_eq!(parse_time("1e19"), Ok(0));
        assert_eq!(parse_time("-1e19"), Ok(0));
        assert!(parse_time("inf").is_ok());
        assert!(parse_time("NaN").is_ok());
        assert!(parse_time("+nan").is_err());
        assert!(parse_time("1e400").is_err());
        assert!(parse_time("1__0").is_err());
        assert!(parse_time("_1").is_err());
    }

    #[test]
    fn rfc3339_as_go_accepts_it() {
        assert_eq!(parse_time("2026-11-25T14:00:00Z"), Ok(1_795_615_200_000));
        assert_eq!(parse_time("2026-11-25T14:00:00,5Z"), Ok(1_795_615_200_500));
        assert_eq!(parse_time("2026-11-25T14:00:00.123456789Z"), Ok(1_795_615_200_123));
        assert_eq!(parse_time("2026-11-25T14:00:00.0019Z"), Ok(1_795_615_200_001));
        assert_eq!(parse_time("2026-11-25T14:00:00+05:30"), Ok(1_795_595_400_000));
        assert_eq!(parse_time("2026-11-25T14:00:00+25:00"), Ok(1_795_525_200_000));
        assert_eq!(parse_time("2026-11-25T14:00:00-00:59"), Ok(1_795_618_740_000));
        assert_eq!(parse_time("2024-02-29T14:00:00Z"), Ok(1_709_215_200_000));
        assert_eq!(parse_time("2026-11-25T4:00:00Z"), Ok(1_795_579_200_000));
        assert_eq!(parse_time("0001-01-01T00:00:00Z"), Ok(-62_135_596_800_000));
        assert_eq!(parse_time("1969-12-31T23:59:59.9995Z"), Ok(-1));
        for refused in [
            "2026-11-25t14:00:00Z",
            "2026-11-25T14:00:00z",
            "2026-11-25T14:00:00.Z",
            "2026-02-30T14:00:00Z",
            "2026-11-25T24:00:00Z",
            "+026-11-25T14:00:00Z",
            "2026-11-25T14:00:60Z",
            "2026-11-25 14:00:00Z",
            "2026-11-25T14:00:00",
            "2026-11-25T14:00:00.1234567891Z",
            "2026-11-25T4:0:00Z",
            "2026-1-25T14:00:00Z",
            "2026-11-25T14:00:00+0530",
            "0x10",
            "",
        ] {
            assert_eq!(
                parse_time(refused),
                Err(ParseTimeError(format!("cannot parse {} to a valid timestamp", quote(refused)))),
                "{refused}"
            );
        }
    }

    #[test]
    fn min_and_max_time_round_trip() {
        assert_eq!(parse_time(MIN_TIME_FORMATTED), Ok(MIN_TIME_MS));
        assert_eq!(parse_time(MAX_TIME_FORMATTED), Ok(MAX_TIME_MS));
        // The formatted constants name the same instants as the millisecond ones.
        let max_days = MAX_TIME_MS.div_euclid(86_400_000);
        assert_eq!(days_from_civil(292_277_025, 8, 18), max_days);
        let min_days = MIN_TIME_MS.div_euclid(86_400_000);
        assert_eq!(days_from_civil(-292_273_086, 5, 16), min_days);
    }

    #[test]
    fn durations_as_prometheus_parses_them() {
        assert_eq!(parse_duration("15"), Ok(15_000_000_000));
        assert_eq!(parse_duration("0.5"), Ok(500_000_000));
        assert_eq!(parse_duration("-1"), Ok(-1_000_000_000));
        assert_eq!(parse_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_duration("100ms"), Ok(100_000_000));
        assert_eq!(parse_duration("1d"), Ok(86_400_000_000_000));
        assert_eq!(
            parse_duration("x"),
            Err(ParseTimeError(r#"cannot parse "x" to a valid duration"#.into()))
        );
        assert_eq!(
            parse_duration("1s1m"),
            Err(ParseTimeError(r#"cannot parse "1s1m" to a valid duration"#.into()))
        );
        assert_eq!(
            parse_duration("1e10"),
            Err(ParseTimeError(r#"cannot parse "1e10" to a valid duration. It overflows int64"#.into()))
        );
    }

    #[test]
    fn time_param_wraps_errors_like_prometheus() {
        let params = FormParams::parse("start=x&end=");
        assert_eq!(time_param(&params, "end", MAX_TIME_MS), Ok(MAX_TIME_MS));
        let error = time_param(&params, "start", MIN_TIME_MS).unwrap_err();
        assert_eq!(
            error.message,
            r#"invalid parameter "start": Invalid time value for 'start': cannot parse "x" to a valid timestamp"#
        );
    }
}
