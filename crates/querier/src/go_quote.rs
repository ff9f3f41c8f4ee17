//! Go's `%q` and `%#U` formatting, which Prometheus uses inside its error messages
//! (`invalid label name: "1a"`, `unexpected character inside braces: '.'`).

use std::fmt::Write;

/// Quotes `text` as Go's `strconv.Quote` does: printable characters kept, the rest escaped.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for character in text.chars() {
        push_escaped(&mut out, character, '"');
    }
    out.push('"');
    out
}

/// Quotes one character as Go's `strconv.QuoteRune` does (`'.'`, `'\n'`).
pub fn quote_rune(character: char) -> String {
    let mut out = String::with_capacity(4);
    out.push('\'');
    push_escaped(&mut out, character, '\'');
    out.push('\'');
    out
}

/// Formats a character as Go's `%#U` does: `U+0071 'q'`, without the quoted part when it does
/// not print.
pub fn unicode_description(character: char) -> String {
    let mut out = format!("U+{:04X}", u32::from(character));
    if is_print(character) {
        let _ = write!(out, " '{character}'");
    }
    out
}

fn push_escaped(out: &mut String, character: char, quote_char: char) {
    if character == quote_char || character == '\\' {
        out.push('\\');
        out.push(character);
        return;
    }
    if is_print(character) {
        out.push(character);
        return;
    }
    let code = u32::from(character);
    let _ = match character {
        '\u{7}' => write!(out, "\\a"),
        '\u{8}' => write!(out, "\\b"),
        '\u{c}' => write!(out, "\\f"),
        '\n' => write!(out, "\\n"),
        '\r' => write!(out, "\\r"),
        '\t' => write!(out, "\\t"),
        '\u{b}' => write!(out, "\\v"),
        _ if code < 0x20 || code == 0x7f => write!(out, "\\x{code:02x}"),
        _ if code < 0x10000 => write!(out, "\\u{code:04x}"),
        _ => write!(out, "\\U{code:08x}"),
    };
}

/// Approximates Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and the
/// ASCII space; not control, format, separator or private-use characters.
fn is_print(character: char) -> bool {
    if character == ' ' {
        return true;
    }
    if character.is_control() || character.is_whitespace() {
        return false;
    }
    let code = u32::from(character);
    let is_format_or_private = matches!(code,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E
        | 0x2060..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB | 0xE000..=0xF8FF | 0xF0000..=0x10FFFF
        | 0xFFFE | 0xFFFF);
    !is_format_or_private
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_go() {
        assert_eq!(quote("1a"), r#""1a""#);
        assert_eq!(quote("aé"), "\"aé\"");
        assert_eq!(quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(quote("\n\u{1}\u{7f}\u{200b}"), r#""\n\x01\x7f\u200b""#);
        assert_eq!(quote_rune('.'), "'.'");
        assert_eq!(quote_rune('"'), "'\"'");
        assert_eq!(quote_rune('\''), r"'\''");
        assert_eq!(unicode_description('q'), "U+0071 'q'");
        assert_eq!(unicode_description('\n'), "U+000A");
    }
}
