//! Go-compatible formatting for error messages, so that clients and dashboards see the same
//! text Cortex sends (`%q`, `%.200q`, `%v` of a float, label sets).

use std::fmt::Write;

use neocortex_core::METRIC_NAME;

/// How many characters of a cause or series Cortex keeps in a message (`%.200q`).
pub(crate) const MESSAGE_TRUNCATE_CHARS: usize = 200;

/// Appends `text` quoted as Go's `%q` does: double quotes, `\"` and `\\`, control characters
/// escaped.
pub(crate) fn push_go_quoted(out: &mut String, text: &str) {
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `text` as Go's `%.200q`: at most 200 characters of it, then quoted.
pub(crate) fn go_quote_truncated(text: &str) -> String {
    let end = text.char_indices().nth(MESSAGE_TRUNCATE_CHARS).map_or(text.len(), |(index, _)| index);
    let mut out = String::with_capacity(end + 2);
    push_go_quoted(&mut out, &text[..end]);
    out
}

/// Formats a label set as Cortex does in validation errors: the metric name first (the first
/// non-empty `__name__`), then the other labels in the given order as `name="value"`, keeping
/// duplicates: `up{job="node", instance="a"}`.
pub(crate) fn format_label_set<'a>(labels: impl Iterator<Item = (&'a str, &'a str)> + Clone) -> String {
    let metric_name = labels.clone().find(|(name, value)| *name == METRIC_NAME && !value.is_empty());
    let mut out = String::new();
    if let Some((_, value)) = metric_name {
        out.push_str(value);
    }
    let mut skipped_metric_name = metric_name.is_none();
    let mut wrote_any = false;
    for (name, value) in labels {
        if !skipped_metric_name && name == METRIC_NAME && !value.is_empty() {
            skipped_metric_name = true;
            continue;
        }
        out.push_str(if wrote_any { ", " } else { "{" });
        wrote_any = true;
        out.push_str(name);
        out.push('=');
        push_go_quoted(&mut out, value);
    }
    if wrote_any {
        out.push('}');
    } else if metric_name.is_none() {
        out.push_str("{}");
    }
    out
}

/// Formats a float as Go's `%v` does (`strconv.FormatFloat(v, 'g', -1, 64)`): the shortest
/// round-tripping digits, in exponent form (`1e+06`) when the decimal exponent is below -4 or at
/// least 6.
pub(crate) fn format_go_float(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf".to_string() } else { "-Inf".to_string() };
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0".to_string() } else { "0".to_string() };
    }
    // Rust's `{:e}` prints the shortest round-tripping digits: `2.5e4`, `1e6`, `-1.25e-5`.
    let scientific = format!("{value:e}");
    let Some((mantissa, exponent)) = scientific.split_once('e') else {
        return scientific;
    };
    let Ok(exponent) = exponent.parse::<i32>() else {
        return scientific;
    };
    if !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.abs());
    }
    // Plain notation, as Rust's `{}` prints it (shortest digits, no exponent).
    format!("{value}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_matches_go() {
        assert_eq!(go_quote_truncated("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
        assert_eq!(go_quote_truncated("\u{1}é"), "\"\\x01é\"");
        let long = "x".repeat(300);
        assert_eq!(go_quote_truncated(&long), format!("\"{}\"", "x".repeat(200)));
        let long_multibyte = "é".repeat(250);
        assert_eq!(go_quote_truncated(&long_multibyte).chars().count(), 202);
    }

    #[test]
    fn label_sets_put_the_metric_name_first() {
        let labels = [("job", "node"), ("__name__", "up"), ("a", "q\"x")];
        assert_eq!(format_label_set(labels.iter().copied()), r#"up{job="node", a="q\"x"}"#);
        assert_eq!(format_label_set([("__name__", "up")].iter().copied()), "up");
        assert_eq!(format_label_set([].iter().copied()), "{}");
        assert_eq!(format_label_set([("a", "b"), ("a", "c")].iter().copied()), r#"{a="b", a="c"}"#);
        assert_eq!(format_label_set([("__name__", "")].iter().copied()), r#"{__name__=""}"#);
    }

    #[test]
    fn floats_match_go_percent_v() {
        assert_eq!(format_go_float(25_000.0), "25000");
        assert_eq!(format_go_float(0.5), "0.5");
        assert_eq!(format_go_float(1e6), "1e+06");
        assert_eq!(format_go_float(999_999.5), "999999.5");
        assert_eq!(format_go_float(1_234_567.0), "1.234567e+06");
        assert_eq!(format_go_float(1e-5), "1e-05");
        assert_eq!(format_go_float(0.0), "0");
        assert_eq!(format_go_float(f64::INFINITY), "+Inf");
    }
}
