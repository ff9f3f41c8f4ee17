//! JSON output written straight into a byte buffer, escaped exactly as Prometheus's Go encoder
//! escapes it (`<`, `>`, `&`, U+2028 and U+2029 as `\uXXXX`, other control characters as
//! `\u00XX`), so responses match Prometheus byte for byte without building a value tree.

use neocortex_core::Labels;

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Bytes that may need escaping: control characters, `"`, `\\`, `<`, `>`, `&`, and 0xE2, the
/// first byte of U+2028 and U+2029.
static MAY_NEED_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[b'&' as usize] = true;
    table[0xE2] = true;
    table
};

/// Appends `text` as a JSON string literal, quotes included.
pub fn write_string(out: &mut Vec<u8>, text: &str) {
    out.reserve(text.len() + 2);
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut copied_up_to = 0;
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if !MAY_NEED_ESCAPE[usize::from(byte)] {
            index += 1;
            continue;
        }
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0xE2 => {
                // U+2028 and U+2029 are E2 80 A8 / E2 80 A9 in UTF-8; other E2 sequences pass.
                let is_separator =
                    bytes.get(index + 1) == Some(&0x80) && matches!(bytes.get(index + 2), Some(0xA8 | 0xA9));
                if !is_separator {
                    index += 1;
                    continue;
                }
                out.extend_from_slice(&bytes[copied_up_to..index]);
                out.extend_from_slice(if bytes[index + 2] == 0xA8 { b"\\u2028" } else { b"\\u2029" });
                index += 3;
                copied_up_to = index;
                continue;
            }
            _ => {
                out.extend_from_slice(&bytes[copied_up_to..index]);
                out.extend_from_slice(b"\\u00");
                out.push(HEX_DIGITS[usize::from(byte >> 4)]);
                out.push(HEX_DIGITS[usize::from(byte & 0xF)]);
                index += 1;
                copied_up_to = index;
                continue;
            }
        };
        out.extend_from_slice(&bytes[copied_up_to..index]);
        out.extend_from_slice(escape);
        index += 1;
        copied_up_to = index;
    }
    out.extend_from_slice(&bytes[copied_up_to..]);
    out.push(b'"');
}

/// Appends a JSON array of strings.
pub fn write_string_array<'a>(out: &mut Vec<u8>, items: impl IntoIterator<Item = &'a str>) {
    out.push(b'[');
    for (position, item) in items.into_iter().enumerate() {
        if position > 0 {
            out.push(b',');
        }
        write_string(out, item);
    }
    out.push(b']');
}

/// Appends a label set as a JSON object (`{"__name__":"up","job":"a"}`), keys in sorted order as
/// Go's map encoding writes them.
pub fn write_labels_object(out: &mut Vec<u8>, labels: &Labels) {
    out.push(b'{');
    for (position, label) in labels.iter().enumerate() {
        if position > 0 {
            out.push(b',');
        }
        write_string(out, &label.name);
        out.push(b':');
        write_string(out, &label.value);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(text: &str) -> String {
        let mut out = Vec::new();
        write_string(&mut out, text);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn escapes_like_go() {
        assert_eq!(encoded("plain"), r#""plain""#);
        assert_eq!(encoded("b<&>\"\\x"), r#""b\u003c\u0026\u003e\"\\x""#);
        assert_eq!(encoded("é\n\r\t"), "\"é\\n\\r\\t\"");
        assert_eq!(encoded("\u{1}\u{8}\u{c}\u{1f}\u{7f}"), "\"\\u0001\\u0008\\u000c\\u001f\u{7f}\"");
        assert_eq!(encoded("a\u{2028}b\u{2029}c\u{2027}"), "\"a\\u2028b\\u2029c\u{2027}\"");
        assert_eq!(encoded(""), r#""""#);
    }

    #[test]
    fn writes_arrays_and_label_objects() {
        let mut out = Vec::new();
        write_string_array(&mut out, ["__name__", "job"]);
        assert_eq!(out, br#"["__name__","job"]"#);
        out.clear();
        write_string_array(&mut out, std::iter::empty());
        assert_eq!(out, b"[]");
        out.clear();
        write_labels_object(&mut out, &Labels::from_pairs([("job", "a"), ("__name__", "up")]));
        assert_eq!(out, br#"{"__name__":"up","job":"a"}"#);
    }
}
