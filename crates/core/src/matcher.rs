//! Label matchers (`=`, `!=`, `=~`, `!~`) with Prometheus's fully anchored regex semantics.

use std::fmt;

use regex::Regex;

use crate::labels::Labels;

/// The four matcher operators of PromQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    RegexMatch,
    /// `!~`
    RegexNoMatch,
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        })
    }
}

/// Error building a matcher: the regex did not compile.
#[derive(Debug, thiserror::Error)]
#[error("invalid regular expression {pattern:?}: {message}")]
pub struct MatcherError {
    /// The pattern as the user wrote it.
    pub pattern: String,
    /// What the regex compiler said.
    pub message: String,
}

/// One label matcher. Regexes are anchored at both ends, as in Prometheus.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Label name the matcher applies to.
    pub name: String,
    /// Operator.
    pub op: MatchOp,
    /// Value or regex source as written.
    pub value: String,
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Eq for Matcher {}

impl std::hash::Hash for Matcher {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.op.hash(state);
        self.value.hash(state);
    }
}

impl Matcher {
    /// Builds a matcher, compiling the anchored regex for `=~` and `!~`.
    pub fn new(op: MatchOp, name: impl Into<String>, value: impl Into<String>) -> Result<Self, MatcherError> {
        let name = name.into();
        let value = value.into();
        let regex = match op {
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|err| MatcherError { pattern: value.clone(), message: err.to_string() })?,
            ),
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Self { name, op, value, regex })
    }

    /// Shorthand for an equality matcher, which cannot fail.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self { name: name.into(), op: MatchOp::Equal, value: value.into(), regex: None }
    }

    /// Whether `value` (the label's value, empty when absent) satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Equal => self.value == value,
            MatchOp::NotEqual => self.value != value,
            MatchOp::RegexMatch => self.regex.as_ref().is_some_and(|re| re.is_match(value)),
            MatchOp::RegexNoMatch => !self.regex.as_ref().is_some_and(|re| re.is_match(value)),
        }
    }

    /// Whether the matcher accepts a series that lacks the label (an empty value).
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// Whether `labels` satisfy the matcher.
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(&self.name).unwrap_or(""))
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op, self.value)
    }
}

/// Whether `labels` satisfy every matcher.
pub fn matches_all(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches_labels(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_is_fully_anchored() {
        let m = Matcher::new(MatchOp::RegexMatch, "job", "api").unwrap();
        assert!(m.matches("api"));
        assert!(!m.matches("api-server"));
        assert!(!m.matches("my-api"));
        let alt = Matcher::new(MatchOp::RegexMatch, "job", "a|b").unwrap();
        assert!(alt.matches("a") && alt.matches("b") && !alt.matches("ab"));
    }

    #[test]
    fn absent_label_is_empty_value() {
        let labels = Labels::from_pairs([("__name__", "up")]);
        assert!(Matcher::new(MatchOp::RegexNoMatch, "job", ".+").unwrap().matches_labels(&labels));
        assert!(Matcher::equal("job", "").matches_labels(&labels));
        assert!(!Matcher::new(MatchOp::NotEqual, "job", "").unwrap().matches_labels(&labels));
    }

    #[test]
    fn bad_regex_is_an_error() {
        assert!(Matcher::new(MatchOp::RegexMatch, "a", "(").is_err());
    }
}
