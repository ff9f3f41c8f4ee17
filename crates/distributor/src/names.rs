//! Table-driven checks of metric and label names, the per-label work of validation. Same
//! answers as `neocortex_core::labels::is_valid_metric_name` / `is_valid_label_name` (a test
//! checks it), about half the instructions per byte.

const LABEL_FIRST: u8 = 1;
const LABEL_REST: u8 = 2;
const METRIC_FIRST: u8 = 4;
const METRIC_REST: u8 = 8;

/// Per byte, which name positions it may take.
static NAME_BYTES: [u8; 256] = build_table();

const fn build_table() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut byte = 0usize;
    while byte < 256 {
        let b = byte as u8;
        let letter = b.is_ascii_alphabetic() || b == b'_';
        let digit = b.is_ascii_digit();
        let mut flags = 0;
        if letter {
            flags |= LABEL_FIRST | LABEL_REST | METRIC_FIRST | METRIC_REST;
        }
        if digit {
            flags |= LABEL_REST | METRIC_REST;
        }
        if b == b':' {
            flags |= METRIC_FIRST | METRIC_REST;
        }
        table[byte] = flags;
        byte += 1;
    }
    table
}

fn matches(name: &str, first: u8, rest: u8) -> bool {
    let Some((&head, tail)) = name.as_bytes().split_first() else {
        return false;
    };
    NAME_BYTES[usize::from(head)] & first != 0 && tail.iter().all(|&b| NAME_BYTES[usize::from(b)] & rest != 0)
}

/// Whether `name` is a valid metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub(crate) fn is_valid_metric_name(name: &str) -> bool {
    matches(name, METRIC_FIRST, METRIC_REST)
}

/// Whether `name` is a valid label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn is_valid_label_name(name: &str) -> bool {
    matches(name, LABEL_FIRST, LABEL_REST)
}

#[cfg(test)]
mod tests {
    use neocortex_core::labels;

    use super::*;

    #[test]
    fn agrees_with_core_on_every_short_name() {
        let alphabet: Vec<char> = "aZ_:09-. é\u{0}".chars().collect();
        let mut names = vec![String::new()];
        for _ in 0..3 {
            let longer: Vec<String> =
                names.iter().flat_map(|name| alphabet.iter().map(move |c| format!("{name}{c}"))).collect();
            names.extend(longer);
        }
        for name in &names {
            assert_eq!(is_valid_metric_name(name), labels::is_valid_metric_name(name), "{name:?}");
            assert_eq!(is_valid_label_name(name), labels::is_valid_label_name(name), "{name:?}");
        }
        for byte in 0..=255u8 {
            let name = String::from_utf8_lossy(&[b'a', byte]).into_owned();
            assert_eq!(is_valid_label_name(&name), labels::is_valid_label_name(&name), "{byte}");
            assert_eq!(is_valid_metric_name(&name), labels::is_valid_metric_name(&name), "{byte}");
        }
    }
}
