//! What a regex matcher's pattern reveals without running it: an alternation of plain literals
//! (`a|b|c`) can be answered by direct lookups, and a literal prefix (`node_cpu.*`) narrows the
//! label values to scan to one sorted range. Anything else is scanned value by value.

/// A cheaper way to find the label values a regex matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RegexHint {
    /// The pattern matches exactly these strings.
    Literals(Vec<String>),
    /// Every match starts with this non-empty prefix (the regex must still be checked).
    Prefix(String),
    /// `.*` or `.+`: every stored (non-empty) value matches unless it holds a newline, which
    /// `.` does not match.
    AnyNonEmpty,
    /// No shortcut.
    Scan,
}

fn is_meta(c: char) -> bool {
    matches!(c, '\\' | '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$')
}

fn is_quantifier(c: char) -> bool {
    matches!(c, '*' | '+' | '?' | '{')
}

/// Analyses an (unanchored as written, anchored when matched) Prometheus regex.
pub(crate) fn analyze(pattern: &str) -> RegexHint {
    if pattern == ".*" || pattern == ".+" {
        return RegexHint::AnyNonEmpty;
    }
    if !pattern.chars().any(|c| is_meta(c) && c != '|') {
        return RegexHint::Literals(pattern.split('|').map(str::to_string).collect());
    }
    if pattern.contains('|') {
        return RegexHint::Scan;
    }
    let literal_end = pattern.find(is_meta).unwrap_or(pattern.len());
    let mut prefix = &pattern[..literal_end];
    let next = pattern[literal_end..].chars().next();
    if next.is_some_and(is_quantifier) {
        // The quantifier applies to the last literal character, which may then be absent.
        prefix = prefix.char_indices().last().map_or("", |(index, _)| &prefix[..index]);
    }
    if prefix.is_empty() {
        return RegexHint::Scan;
    }
    RegexHint::Prefix(prefix.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn literals(items: &[&str]) -> RegexHint {
        RegexHint::Literals(items.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn literal_alternations() {
        assert_eq!(analyze("api"), literals(&["api"]));
        assert_eq!(analyze("a|b|cd"), literals(&["a", "b", "cd"]));
        assert_eq!(analyze("a|"), literals(&["a", ""]));
        assert_eq!(analyze(""), literals(&[""]));
    }

    #[test]
    fn literal_prefixes() {
        assert_eq!(analyze("node_cpu.*"), RegexHint::Prefix("node_cpu".into()));
        assert_eq!(analyze("abc?"), RegexHint::Prefix("ab".into()));
        assert_eq!(analyze("ab{2}"), RegexHint::Prefix("a".into()));
        assert_eq!(analyze("é+"), RegexHint::Scan);
        assert_eq!(analyze("x[0-9]"), RegexHint::Prefix("x".into()));
    }

    #[test]
    fn no_shortcut() {
        assert_eq!(analyze(".*foo"), RegexHint::Scan);
        assert_eq!(analyze("(?i)foo"), RegexHint::Scan);
        assert_eq!(analyze("foo.*|bar"), RegexHint::Scan);
        assert_eq!(analyze("a\\.b"), RegexHint::Prefix("a".into()));
        assert_eq!(analyze(".*"), RegexHint::AnyNonEmpty);
        assert_eq!(analyze(".+"), RegexHint::AnyNonEmpty);
    }
}
