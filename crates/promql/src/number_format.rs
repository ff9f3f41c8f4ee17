//! Numbers as Prometheus's API writes them, appended straight to a byte buffer: timestamps as
//! seconds with millisecond decimals, values as Go's `strconv.FormatFloat(v, 'f', -1, 64)`
//! (shortest round-tripping digits) switching to `'e'` below 1e-6 and from 1e21 on.
//!
//! The shortest digits come from Ryu (the `ryu` crate), the algorithm Go's `strconv` uses for
//! shortest formatting, so ties between two equally near candidates break to the even digit as
//! in Go. Only the layout (where the point goes, exponent form) is ours. Big matrices write
//! millions of values, so nothing here allocates.

/// Appends a timestamp in seconds: `1435781451`, `1435781451.781`, `-1.500`.
pub fn write_timestamp(out: &mut Vec<u8>, timestamp_ms: i64) {
    if timestamp_ms < 0 {
        out.push(b'-');
    }
    let abs = timestamp_ms.unsigned_abs();
    let mut integer = itoa::Buffer::new();
    out.extend_from_slice(integer.format(abs / 1000).as_bytes());
    let millis = (abs % 1000) as u16;
    if millis != 0 {
        let digits =
            [b'.', b'0' + (millis / 100) as u8, b'0' + (millis / 10 % 10) as u8, b'0' + (millis % 10) as u8];
        out.extend_from_slice(&digits);
    }
}

/// Appends a sample value: Go's `'f'` format with `-1` precision, `'e'` outside
/// `1e-6 <= |v| < 1e21`, and `NaN`, `+Inf`, `-Inf`.
pub fn write_value(out: &mut Vec<u8>, value: f64) {
    let abs = value.abs();
    let exponent_form = abs.is_finite() && abs != 0.0 && !(1e-6..1e21).contains(&abs);
    write_float(out, value, exponent_form);
}

/// Appends Go's `strconv.FormatFloat(v, 'f', -1, 64)`: never an exponent.
pub fn write_go_f(out: &mut Vec<u8>, value: f64) {
    write_float(out, value, false);
}

fn write_float(out: &mut Vec<u8>, value: f64, exponent_form: bool) {
    if value.is_nan() {
        out.extend_from_slice(b"NaN");
        return;
    }
    if value.is_infinite() {
        out.extend_from_slice(if value > 0.0 { b"+Inf" } else { b"-Inf" });
        return;
    }
    if value.is_sign_negative() {
        out.push(b'-');
    }
    if value == 0.0 {
        out.push(b'0');
        return;
    }
    let mut buffer = ryu::Buffer::new();
    let decimal = Decimal::parse(buffer.format_finite(value.abs()));
    if exponent_form {
        decimal.write_exponent_form(out);
    } else {
        decimal.write_plain(out);
    }
}

/// A positive decimal `0.<digits> × 10^point`, digits without leading or trailing zeros.
struct Decimal {
    digits: [u8; 24],
    len: usize,
    point: i32,
}

impl Decimal {
    /// Reads Ryu's output (`123.45`, `1.0`, `1e21`, `1.5e-7`, `0.001`) of a positive finite value.
    fn parse(text: &str) -> Decimal {
        let (mantissa, exponent) = match text.split_once(['e', 'E']) {
            Some((mantissa, exponent)) => (mantissa, exponent.parse::<i32>().unwrap_or(0)),
            None => (text, 0),
        };
        let mut decimal = Decimal { digits: [0; 24], len: 0, point: 0 };
        let mut integer_digits = 0i32;
        let mut seen_point = false;
        for byte in mantissa.bytes() {
            match byte {
                b'.' => seen_point = true,
                b'0' if decimal.len == 0 => {
                    // A leading zero: before the point it carries nothing, after it shifts the point.
                    if seen_point {
                        integer_digits -= 1;
                    }
                }
                digit => {
                    if decimal.len < decimal.digits.len() {
                        decimal.digits[decimal.len] = digit;
                        decimal.len += 1;
                    }
                    if !seen_point {
                        integer_digits += 1;
                    }
                }
            }
        }
        while decimal.len > 0 && decimal.digits[decimal.len - 1] == b'0' {
            decimal.len -= 1;
        }
        decimal.point = integer_digits + exponent;
        decimal
    }

    fn digits(&self) -> &[u8] {
        &self.digits[..self.len]
    }

    /// `123.45`, `0.00012`, `1000`.
    fn write_plain(&self, out: &mut Vec<u8>) {
        let digits = self.digits();
        let point = self.point;
        if point <= 0 {
            out.extend_from_slice(b"0.");
            out.extend(std::iter::repeat_n(b'0', point.unsigned_abs() as usize));
            out.extend_from_slice(digits);
        } else if point as usize >= digits.len() {
            out.extend_from_slice(digits);
            out.extend(std::iter::repeat_n(b'0', point as usize - digits.len()));
        } else {
            out.extend_from_slice(&digits[..point as usize]);
            out.push(b'.');
            out.extend_from_slice(&digits[point as usize..]);
        }
    }

    /// `1.5e+21`, `1e-07`: at least two exponent digits, as Go writes them.
    fn write_exponent_form(&self, out: &mut Vec<u8>) {
        let digits = self.digits();
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        let exponent = self.point - 1;
        out.extend_from_slice(if exponent < 0 { b"e-" } else { b"e+" });
        let exponent = exponent.unsigned_abs();
        if exponent < 10 {
            out.push(b'0');
        }
        let mut text = itoa::Buffer::new();
        out.extend_from_slice(text.format(exponent).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value(value: f64) -> String {
        let mut out = Vec::new();
        write_value(&mut out, value);
        String::from_utf8(out).unwrap()
    }

    fn go_f(value: f64) -> String {
        let mut out = Vec::new();
        write_go_f(&mut out, value);
        String::from_utf8(out).unwrap()
    }

    fn timestamp(ms: i64) -> String {
        let mut out = Vec::new();
        write_timestamp(&mut out, ms);
        String::from_utf8(out).unwrap()
    }

    /// The formatting by other means: Rust's shortest `Display` digits (which break an exact
    /// tie upwards) corrected to Go's tie-to-even, and Rust's `{:e}` for the exponent form.
    fn reference(value: f64) -> String {
        if value.is_nan() {
            return "NaN".into();
        }
        if value.is_infinite() {
            return if value > 0.0 { "+Inf".into() } else { "-Inf".into() };
        }
        let abs = value.abs();
        if abs.is_finite() && abs != 0.0 && !(1e-6..1e21).contains(&abs) {
            let scientific = format!("{value:e}");
            let (mantissa, exponent) = scientific.split_once('e').unwrap();
            let exponent: i32 = exponent.parse().unwrap();
            let sign = if exponent < 0 { '-' } else { '+' };
            return format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs());
        }
        let shortest = format!("{value}");
        let bits = value.to_bits();
        let exponent = ((bits >> 52) & 0x7FF) as i64;
        let mut mantissa = bits & 0x000F_FFFF_FFFF_FFFF;
        if exponent != 0 {
            mantissa |= 1 << 52;
        }
        if mantissa == 0 {
            return shortest;
        }
        let fraction_digits = -(exponent.max(1) - 1075 + i64::from(mantissa.trailing_zeros()));
        if !(1..=8).contains(&fraction_digits) {
            return shortest;
        }
        let exact = format!("{:.*}", fraction_digits as usize, value);
        let shown = shortest.split_once('.').map_or(0, |(_, f)| f.len()) as i64;
        if shown + 1 != fraction_digits || !exact.ends_with('5') {
            return shortest;
        }
        let lower = &exact[..exact.len() - 1];
        if lower.bytes().last().is_some_and(|d| (d - b'0').is_multiple_of(2)) {
            lower.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            shortest
        }
    }

    #[test]
    fn values_as_go_writes_them() {
        assert_eq!(value(1e21), "1e+21");
        assert_eq!(value(1e-7), "1e-07");
        assert_eq!(value(1.5e-7), "1.5e-07");
        assert_eq!(value(9.141969297911274e260), "9.141969297911274e+260");
        assert_eq!(value(-2.5e-300), "-2.5e-300");
        assert_eq!(value(123456.789), "123456.789");
        assert_eq!(value(0.000001), "0.000001");
        assert_eq!(value(0.00012), "0.00012");
        assert_eq!(value(1.0), "1");
        assert_eq!(value(1000.0), "1000");
        assert_eq!(value(9.999999999999999e20), "999999999999999900000");
        assert_eq!(value(2_201_873_039_468_871.0 + 0.25), "2201873039468871.2");
        assert_eq!(value(2_201_873_039_468_871.0 + 0.75), "2201873039468871.8");
        assert_eq!(value(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(value(f64::INFINITY), "+Inf");
        assert_eq!(value(f64::NAN), "NaN");
        assert_eq!(value(-0.0), "-0");
        assert_eq!(value(0.0), "0");
        assert_eq!(value(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(value(f64::MIN_POSITIVE), "2.2250738585072014e-308");
        assert_eq!(value(5e-324), "5e-324");
        assert_eq!(go_f(1e21), "1000000000000000000000");
        assert_eq!(go_f(1e-7), "0.0000001");
    }

    #[test]
    fn timestamps_in_seconds() {
        assert_eq!(timestamp(1_435_781_451_781), "1435781451.781");
        assert_eq!(timestamp(1_435_781_451_000), "1435781451");
        assert_eq!(timestamp(1_435_781_451_100), "1435781451.100");
        assert_eq!(timestamp(1_435_781_451_001), "1435781451.001");
        assert_eq!(timestamp(-1500), "-1.500");
        assert_eq!(timestamp(-1000), "-1");
        assert_eq!(timestamp(0), "0");
        assert_eq!(timestamp(i64::MIN), "-9223372036854775.808");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        #[test]
        fn any_bit_pattern_formats_as_the_reference(bits in any::<u64>()) {
            let v = f64::from_bits(bits);
            prop_assert_eq!(value(v), reference(v));
        }

        #[test]
        fn sample_like_values_format_as_the_reference(int in -1_000_000_000i64..1_000_000_000, scale in 0u32..12) {
            let v = int as f64 / 10f64.powi(scale as i32);
            prop_assert_eq!(value(v), reference(v));
            let halves = int as f64 + 0.5;
            prop_assert_eq!(value(halves), reference(halves));
        }
    }
}
