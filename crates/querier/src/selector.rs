//! A series-selector parser (`up{job="a"}`, `{__name__=~"x.*"}`) with Prometheus's
//! `ParseMetricSelector` behaviour and error messages (`1:7: parse error: unexpected ...`), used
//! for the `match[]` parameters.
//!
//! To be replaced by the PromQL parser's selector entry point (crates/promql) once it exists.

use neocortex_core::{MatchOp, Matcher, METRIC_NAME};

use crate::go_quote::{quote, quote_rune, unicode_description};

/// A selector that does not parse; `Display` gives Prometheus's `line:col: parse error: ...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: parse error: {message}")]
pub struct SelectorError {
    /// 1-based line of the offending token.
    pub line: usize,
    /// 1-based byte column within the line.
    pub column: usize,
    /// What went wrong.
    pub message: String,
}

/// Parses one series selector into its matchers; a metric name before the braces becomes a
/// trailing `__name__="..."` matcher, as in Prometheus.
pub fn parse_selector(input: &str) -> Result<Vec<Matcher>, SelectorError> {
    Parser { lexer: Lexer::new(input), input }.parse()
}

/// Parses every `match[]` value as Prometheus's `parseMatchersParam` does: each must parse and
/// hold at least one matcher that does not match the empty string.
pub fn parse_match_params<'a>(
    selectors: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<Vec<Matcher>>, String> {
    let mut matcher_sets = Vec::new();
    for selector in selectors {
        matcher_sets.push(parse_selector(selector).map_err(|error| error.to_string())?);
    }
    let all_sets_select_something =
        matcher_sets.iter().all(|matchers| matchers.iter().any(|matcher| !matcher.matches_empty()));
    if !all_sets_select_something {
        return Err("match[] must contain at least one non-empty matcher".to_string());
    }
    Ok(matcher_sets)
}

#[derive(Debug, Clone, PartialEq)]
enum TokenKind {
    Identifier,
    MetricIdentifier,
    /// A word that PromQL reserves; `allowed_as_metric_name` per the grammar's metric_identifier.
    Reserved {
        description: String,
        allowed_as_metric_name: bool,
    },
    LeftBrace,
    RightBrace,
    Comma,
    MatchOp(MatchOp),
    /// A quoted string; `value` is the unquoted content.
    String {
        value: String,
    },
    /// Any other token; only ever unexpected here.
    Other {
        description: String,
    },
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    kind: TokenKind,
    text: String,
    position: usize,
}

impl Token {
    /// Prometheus's `Item.desc()`.
    fn description(&self) -> String {
        match &self.kind {
            TokenKind::Identifier => format!("identifier {}", quote(&self.text)),
            TokenKind::MetricIdentifier => format!("metric identifier {}", quote(&self.text)),
            TokenKind::Reserved { description, .. } | TokenKind::Other { description } => description.clone(),
            TokenKind::LeftBrace => quote("{"),
            TokenKind::RightBrace => quote("}"),
            TokenKind::Comma => quote(","),
            TokenKind::MatchOp(MatchOp::Equal) => quote("="),
            TokenKind::MatchOp(op) => format!("<op:{op}>"),
            TokenKind::String { .. } => format!("string {}", quote_truncated(&self.text)),
            TokenKind::Eof => "end of input".to_string(),
        }
    }
}

/// Go's `%.10q...` for long token texts, `%q` for short ones.
fn quote_truncated(text: &str) -> String {
    if text.len() > 10 {
        let head: String = text.chars().take(10).collect();
        return format!("{}...", quote(&head));
    }
    quote(text)
}

struct LexError {
    position: usize,
    message: String,
}

struct Lexer<'a> {
    input: &'a str,
    position: usize,
    inside_braces: bool,
    paren_depth: i32,
}

impl<'a> Lexer<'a> {
    fn new(input: &'a str) -> Self {
        Self { input, position: 0, inside_braces: false, paren_depth: 0 }
    }

    fn peek_char(&self) -> Option<char> {
        self.input[self.position..].chars().next()
    }

    fn next_char(&mut self) -> Option<char> {
        let character = self.peek_char()?;
        self.position += character.len_utf8();
        Some(character)
    }

    fn skip_space_and_comments(&mut self) {
        loop {
            match self.peek_char() {
                Some(' ' | '\t' | '\n' | '\r') => self.position += 1,
                Some('#') => {
                    while self.peek_char().is_some_and(|c| c != '\n' && c != '\r') {
                        self.next_char();
                    }
                }
                _ => return,
            }
        }
    }

    fn next_token(&mut self) -> Result<Token, LexError> {
        self.skip_space_and_comments();
        let start = self.position;
        let error = |message: String| Err(LexError { position: start, message });
        let token = |lexer: &Self, kind: TokenKind| {
            Ok(Token { kind, text: lexer.input[start..lexer.position].to_string(), position: start })
        };
        let Some(character) = self.next_char() else {
            if self.inside_braces {
                return error("unexpected end of input inside braces".to_string());
            }
            if self.paren_depth != 0 {
                return error("unclosed left parenthesis".to_string());
            }
            return token(self, TokenKind::Eof);
        };
        if self.inside_braces {
            return self.next_token_inside_braces(character, start);
        }
        match character {
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                while self.peek_char().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                    self.position += 1;
                }
                let word = &self.input[start..self.position];
                token(self, classify_word(word))
            }
            c if c.is_ascii_digit() || (c == '.' && self.peek_char().is_some_and(|n| n.is_ascii_digit())) => {
                self.lex_number_or_duration(start)
            }
            '{' => {
                self.inside_braces = true;
                token(self, TokenKind::LeftBrace)
            }
            '"' | '\'' | '`' => self.lex_string(character, start),
            '(' => {
                self.paren_depth += 1;
                token(self, TokenKind::Other { description: quote("(") })
            }
            ')' => {
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    // Prometheus emits the parenthesis before failing, so the error points past it.
                    let message = format!("unexpected right parenthesis {}", quote_rune(')'));
                    return Err(LexError { position: self.position, message });
                }
                token(self, TokenKind::Other { description: quote(")") })
            }
            '[' => token(self, TokenKind::Other { description: quote("[") }),
            ']' => error(format!("unexpected right bracket {}", quote_rune(']'))),
            ',' => token(self, TokenKind::Comma),
            '=' => match self.peek_char() {
                Some('=') => {
                    self.position += 1;
                    token(self, TokenKind::Other { description: "<op:==>".to_string() })
                }
                Some('~') => error(format!("unexpected character after '=': {}", quote_rune('~'))),
                _ => token(self, TokenKind::MatchOp(MatchOp::Equal)),
            },
            '!' => match self.next_char() {
                Some('=') => token(self, TokenKind::MatchOp(MatchOp::NotEqual)),
                other => error(format!("unexpected character after '!': {}", describe_next(other))),
            },
            '<' | '>' => {
                if self.peek_char() == Some('=') {
                    self.position += 1;
                }
                let text = self.input[start..self.position].to_string();
                token(self, TokenKind::Other { description: format!("<op:{text}>") })
            }
            '+' | '-' | '*' | '/' | '%' | '^' | '@' => {
                token(self, TokenKind::Other { description: format!("<op:{character}>") })
            }
            other => error(format!("unexpected character: {}", quote_rune(other))),
        }
    }

    fn next_token_inside_braces(&mut self, character: char, start: usize) -> Result<Token, LexError> {
        let error = |message: String| Err(LexError { position: start, message });
        let token = |lexer: &Self, kind: TokenKind| {
            Ok(Token { kind, text: lexer.input[start..lexer.position].to_string(), position: start })
        };
        match character {
            c if c.is_ascii_alphabetic() || c == '_' => {
                while self.peek_char().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                    self.position += 1;
                }
                token(self, TokenKind::Identifier)
            }
            ',' => token(self, TokenKind::Comma),
            '"' | '\'' | '`' => self.lex_string(character, start),
            '=' => {
                if self.peek_char() == Some('~') {
                    self.position += 1;
                    return token(self, TokenKind::MatchOp(MatchOp::RegexMatch));
                }
                token(self, TokenKind::MatchOp(MatchOp::Equal))
            }
            '!' => match self.next_char() {
                Some('~') => token(self, TokenKind::MatchOp(MatchOp::RegexNoMatch)),
                Some('=') => token(self, TokenKind::MatchOp(MatchOp::NotEqual)),
                other => {
                    error(format!("unexpected character after '!' inside braces: {}", describe_next(other)))
                }
            },
            '{' => error(format!("unexpected left brace {}", quote_rune('{'))),
            '}' => {
                self.inside_braces = false;
                token(self, TokenKind::RightBrace)
            }
            other => error(format!("unexpected character inside braces: {}", quote_rune(other))),
        }
    }

    /// A number, or a duration (`5m`); a number directly followed by anything else that is
    /// alphanumeric is an error naming the number part, as in Prometheus.
    fn lex_number_or_duration(&mut self, start: usize) -> Result<Token, LexError> {
        let bytes = self.input.as_bytes();
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_digit() || bytes[end] == b'.') {
            end += 1;
        }
        if end < bytes.len() && matches!(bytes[end], b'e' | b'E') {
            let mut exponent_end = end + 1;
            if exponent_end < bytes.len() && matches!(bytes[exponent_end], b'+' | b'-') {
                exponent_end += 1;
            }
            if exponent_end < bytes.len() && bytes[exponent_end].is_ascii_digit() {
                while exponent_end < bytes.len() && bytes[exponent_end].is_ascii_digit() {
                    exponent_end += 1;
                }
                end = exponent_end;
            }
        }
        self.position = end;
        let followed_by_word = self.peek_char().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if !followed_by_word {
            let text = self.input[start..end].to_string();
            let description = format!("number {}", quote(&text));
            return Ok(Token { kind: TokenKind::Other { description }, text, position: start });
        }
        let mut word_end = end;
        while word_end < bytes.len() && (bytes[word_end].is_ascii_alphanumeric() || bytes[word_end] == b'_') {
            word_end += 1;
        }
        let word = &self.input[start..word_end];
        if neocortex_core::duration::parse_prometheus_duration_ms(word).is_ok() {
            self.position = word_end;
            let description = format!("duration {}", quote(word));
            return Ok(Token {
                kind: TokenKind::Other { description },
                text: word.to_string(),
                position: start,
            });
        }
        let message = format!("bad number or duration syntax: {}", quote(&self.input[start..end]));
        Err(LexError { position: start, message })
    }

    /// Lexes and unquotes a string whose opening quote was just read, with PromQL's escapes.
    fn lex_string(&mut self, quote_char: char, start: usize) -> Result<Token, LexError> {
        let error = |message: &str| Err(LexError { position: start, message: message.to_string() });
        let mut value: Vec<u8> = Vec::new();
        loop {
            let Some(character) = self.next_char() else {
                return error(if quote_char == '`' {
                    "unterminated raw string"
                } else {
                    "unterminated quoted string"
                });
            };
            if character == quote_char {
                break;
            }
            if quote_char == '`' {
                push_char(&mut value, character);
                continue;
            }
            match character {
                '\n' => return error("unterminated quoted string"),
                '\\' => self
                    .lex_escape(quote_char, &mut value)
                    .map_err(|message| LexError { position: start, message })?,
                other => push_char(&mut value, other),
            }
        }
        let text = self.input[start..self.position].to_string();
        let value = String::from_utf8_lossy(&value).into_owned();
        Ok(Token { kind: TokenKind::String { value }, text, position: start })
    }

    fn lex_escape(&mut self, quote_char: char, value: &mut Vec<u8>) -> Result<(), String> {
        let Some(character) = self.next_char() else {
            return Err("escape sequence not terminated".to_string());
        };
        let simple = match character {
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            c if c == quote_char => Some(c as u8),
            _ => None,
        };
        if let Some(byte) = simple {
            value.push(byte);
            return Ok(());
        }
        let (digit_count, base, max, first_digit) = match character {
            '0'..='7' => (3, 8, 255, Some(character)),
            'x' => (2, 16, 255, None),
            'u' => (4, 16, 0x10_FFFF, None),
            'U' => (8, 16, 0x10_FFFF, None),
            other => return Err(format!("unknown escape sequence {}", unicode_description(other))),
        };
        let mut code: u32 = 0;
        let mut pending_first = first_digit;
        for _ in 0..digit_count {
            let digit_char = match pending_first.take() {
                Some(c) => Some(c),
                None => self.next_char(),
            };
            let Some(digit_char) = digit_char else {
                return Err("escape sequence not terminated".to_string());
            };
            match digit_char.to_digit(base) {
                Some(digit) => code = code * base + digit,
                None => {
                    return Err(format!(
                        "illegal character {} in escape sequence",
                        unicode_description(digit_char)
                    ))
                }
            }
        }
        if code > max || (0xD800..0xE000).contains(&code) {
            return Err("escape sequence is an invalid Unicode code point".to_string());
        }
        if max == 255 {
            value.push(code as u8);
            return Ok(());
        }
        match char::from_u32(code) {
            Some(c) => push_char(value, c),
            None => return Err("escape sequence is an invalid Unicode code point".to_string()),
        }
        Ok(())
    }
}

fn push_char(value: &mut Vec<u8>, character: char) {
    let mut buffer = [0; 4];
    value.extend_from_slice(character.encode_utf8(&mut buffer).as_bytes());
}

/// Go's `%q` of the rune after `!`, where end of input is Go's `eof` rune (-1).
fn describe_next(character: Option<char>) -> String {
    match character {
        Some(c) => quote_rune(c),
        None => quote_rune(char::REPLACEMENT_CHARACTER),
    }
}

/// How the statement lexer classifies a word: keywords, aggregators and word operators are
/// reserved, `inf`/`nan` are numbers, words with a colon are metric identifiers.
fn classify_word(word: &str) -> TokenKind {
    let lower = word.to_ascii_lowercase();
    let reserved = |description: String, allowed_as_metric_name: bool| TokenKind::Reserved {
        description,
        allowed_as_metric_name,
    };
    match lower.as_str() {
        "sum" | "avg" | "count" | "min" | "max" | "group" | "stddev" | "stdvar" | "topk" | "bottomk"
        | "count_values" | "quantile" => reserved(format!("<aggr:{word}>"), true),
        "by" | "without" | "offset" => reserved(format!("<{word}>"), true),
        "on" | "ignoring" | "group_left" | "group_right" | "bool" => reserved(format!("<{word}>"), false),
        "and" | "or" | "unless" => reserved(format!("<op:{word}>"), true),
        "atan2" => reserved(format!("<op:{word}>"), false),
        "start" | "end" => reserved(quote(word), true),
        "inf" | "nan" => TokenKind::Other { description: format!("number {}", quote(word)) },
        _ if word.contains(':') => TokenKind::MetricIdentifier,
        _ => TokenKind::Identifier,
    }
}

/// Words a regex compile error as Go's `regexp` does (`error parsing regexp: missing closing ):
/// `^(?:()$``) for the common mistakes, from the Rust regex error's message and caret span.
fn go_regex_error(rust_message: &str, pattern: &str) -> String {
    let anchored = format!("^(?:{pattern})$");
    let lines: Vec<&str> = rust_message.lines().collect();
    let kind = lines.last().and_then(|line| line.strip_prefix("error: ")).unwrap_or(rust_message);
    let fragment = match lines.as_slice() {
        [_, pattern_line, caret_line, _] => {
            let pattern_chars: Vec<char> = pattern_line.chars().skip(4).collect();
            let caret_chars: Vec<char> = caret_line.chars().skip(4).collect();
            let start = caret_chars.iter().position(|c| *c == '^').unwrap_or(0);
            let length = caret_chars.iter().filter(|c| **c == '^').count();
            pattern_chars.iter().skip(start).take(length).collect::<String>()
        }
        _ => anchored.clone(),
    };
    let (go_kind, go_fragment) = match kind {
        "unclosed group" => ("missing closing )", anchored),
        "unopened group" => ("unexpected )", anchored),
        "repetition operator missing expression" => ("missing argument to repetition operator", fragment),
        "unrecognized escape sequence" => ("invalid escape sequence", fragment),
        "invalid repetition count range, the start must be <= the end" => ("invalid repeat count", fragment),
        "invalid character class range, the start must be <= the end" => {
            ("invalid character class range", fragment)
        }
        "empty capture group name" => ("invalid named capture", fragment),
        other => return format!("error parsing regexp: {other}: `{fragment}`"),
    };
    format!("error parsing regexp: {go_kind}: `{go_fragment}`")
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    input: &'a str,
}

impl Parser<'_> {
    fn error_at(&self, position: usize, message: String) -> SelectorError {
        let before = &self.input[..position.min(self.input.len())];
        let line = 1 + before.matches('\n').count();
        let column = match before.rfind('\n') {
            Some(newline) => position - newline,
            None => position + 1,
        };
        SelectorError { line, column, message }
    }

    fn next(&mut self) -> Result<Token, SelectorError> {
        self.lexer.next_token().map_err(|error| self.error_at(error.position, error.message))
    }

    fn unexpected(&self, token: &Token, context: &str, expected: &str) -> SelectorError {
        let mut message = format!("unexpected {}", token.description());
        if !context.is_empty() {
            message.push_str(" in ");
            message.push_str(context);
        }
        if !expected.is_empty() {
            message.push_str(", expected ");
            message.push_str(expected);
        }
        self.error_at(token.position, message)
    }

    fn parse(mut self) -> Result<Vec<Matcher>, SelectorError> {
        let first = self.next()?;
        let (metric_name, after_name) = match &first.kind {
            TokenKind::Identifier
            | TokenKind::MetricIdentifier
            | TokenKind::Reserved { allowed_as_metric_name: true, .. } => {
                (Some(first.text.clone()), self.next()?)
            }
            _ => (None, first),
        };
        let (mut matchers, after_selector) = match after_name.kind {
            TokenKind::LeftBrace => (self.parse_label_matchers()?, self.next()?),
            _ if metric_name.is_some() => (Vec::new(), after_name),
            _ => return Err(self.unexpected(&after_name, "", "")),
        };
        if after_selector.kind != TokenKind::Eof {
            return Err(self.unexpected(&after_selector, "", ""));
        }
        if let Some(name) = metric_name {
            matchers.push(Matcher::equal(METRIC_NAME, name));
        }
        Ok(matchers)
    }

    /// Parses matchers after `{` up to and including `}`.
    fn parse_label_matchers(&mut self) -> Result<Vec<Matcher>, SelectorError> {
        const CONTEXT: &str = "label matching";
        let mut matchers = Vec::new();
        loop {
            let name = self.next()?;
            match name.kind {
                TokenKind::RightBrace => return Ok(matchers),
                TokenKind::Identifier => {}
                _ => return Err(self.unexpected(&name, CONTEXT, "identifier or \"}\"")),
            }
            let operator = self.next()?;
            let TokenKind::MatchOp(op) = operator.kind else {
                return Err(self.unexpected(&operator, CONTEXT, "label matching operator"));
            };
            let value = self.next()?;
            let TokenKind::String { value: unquoted } = &value.kind else {
                return Err(self.unexpected(&value, CONTEXT, "string"));
            };
            let matcher = Matcher::new(op, name.text.as_str(), unquoted.as_str())
                .map_err(|error| self.error_at(name.position, go_regex_error(&error.message, unquoted)))?;
            matchers.push(matcher);
            let separator = self.next()?;
            match separator.kind {
                TokenKind::RightBrace => return Ok(matchers),
                TokenKind::Comma => {}
                _ => return Err(self.unexpected(&separator, CONTEXT, "\",\" or \"}\"")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matchers(input: &str) -> Vec<String> {
        parse_selector(input).expect("parses").iter().map(ToString::to_string).collect()
    }

    fn error(input: &str) -> String {
        parse_selector(input).expect_err("fails").to_string()
    }

    #[test]
    fn parses_selectors() {
        assert_eq!(matchers("up"), ["__name__=\"up\""]);
        assert_eq!(matchers("up{job=\"a\"}"), ["job=\"a\"", "__name__=\"up\""]);
        assert_eq!(matchers("{__name__=~\"x.*\",job!=\"\"}"), ["__name__=~\"x.*\"", "job!=\"\""]);
        assert_eq!(matchers(" a:b:c { job !~ 'x' , } # comment"), ["job!~\"x\"", "__name__=\"a:b:c\""]);
        assert_eq!(matchers("sum{job=`a\\n`}"), ["job=\"a\\\\n\"", "__name__=\"sum\""]);
        assert_eq!(matchers("up{}"), ["__name__=\"up\""]);
        assert!(parse_selector("{}").expect("parses").is_empty());
    }

    #[test]
    fn unquotes_go_escapes() {
        let parsed = parse_selector(r#"{a="\u00e9\x41\101\t\"", b='\'', c=`\x`}"#).expect("parses");
        assert_eq!(parsed[0].value, "éAA\t\"");
        assert_eq!(parsed[1].value, "'");
        assert_eq!(parsed[2].value, "\\x");
    }

    #[test]
    fn errors_match_prometheus() {
        let cases = [
            ("up{", "1:4: parse error: unexpected end of input inside braces"),
            ("up{job", "1:7: parse error: unexpected end of input inside braces"),
            ("up{job=\"a\" x", "1:12: parse error: unexpected identifier \"x\" in label matching, expected \",\" or \"}\""),
            ("up{job.=\"a\"}", "1:7: parse error: unexpected character inside braces: '.'"),
            ("up{job!\"a\"}", "1:7: parse error: unexpected character after '!' inside braces: '\"'"),
            ("up{{", "1:4: parse error: unexpected left brace '{'"),
            ("{job=\"a}", "1:6: parse error: unterminated quoted string"),
            ("up foo", "1:4: parse error: unexpected identifier \"foo\""),
            ("up{job=1}", "1:8: parse error: unexpected character inside braces: '1'"),
            ("1", "1:1: parse error: unexpected number \"1\""),
            ("bool", "1:1: parse error: unexpected <bool>"),
            ("on{job=\"a\"}", "1:1: parse error: unexpected <on>"),
            ("up{job=\"\\q\"}", "1:8: parse error: unknown escape sequence U+0071 'q'"),
            ("up{job='a\\x4g'}", "1:8: parse error: illegal character U+0067 'g' in escape sequence"),
            ("up{,}", "1:4: parse error: unexpected \",\" in label matching, expected identifier or \"}\""),
            ("", "1:1: parse error: unexpected end of input"),
            ("up{job=\"a\"}[5m]", "1:12: parse error: unexpected \"[\""),
            ("up offset 5m", "1:4: parse error: unexpected <offset>"),
            ("rate(up[5m])", "1:5: parse error: unexpected \"(\""),
            (
                "up{job=\"aaaaaaaaaaaaaaaaaaaaaaaa\" \"b\"}",
                "1:35: parse error: unexpected string \"\\\"b\\\"\" in label matching, expected \",\" or \"}\"",
            ),
            ("up}", "1:3: parse error: unexpected character: '}'"),
            ("Inf", "1:1: parse error: unexpected number \"Inf\""),
            ("nan{}", "1:1: parse error: unexpected number \"nan\""),
            ("up{job=\"é", "1:8: parse error: unterminated quoted string"),
            ("up{1a=\"x\"}", "1:4: parse error: unexpected character inside braces: '1'"),
            ("up{job \"a\"}", "1:8: parse error: unexpected string \"\\\"a\\\"\" in label matching, expected label matching operator"),
            ("up{job=,}", "1:8: parse error: unexpected \",\" in label matching, expected string"),
            ("up\n{job=}", "2:6: parse error: unexpected \"}\" in label matching, expected string"),
            ("up{job=\"a\"=}", "1:11: parse error: unexpected \"=\" in label matching, expected \",\" or \"}\""),
            ("up{job=\"a\",,}", "1:12: parse error: unexpected \",\" in label matching, expected identifier or \"}\""),
            ("up==1", "1:3: parse error: unexpected <op:==>"),
            ("up!x", "1:3: parse error: unexpected character after '!': 'x'"),
            ("up{job=\"\\u12\"}", "1:8: parse error: illegal character U+0022 '\"' in escape sequence"),
            ("up{job=\"\\400\"}", "1:8: parse error: escape sequence is an invalid Unicode code point"),
            ("up{job=\"\\ud800\"}", "1:8: parse error: escape sequence is an invalid Unicode code point"),
            ("up{job=\"a\\", "1:8: parse error: escape sequence not terminated"),
            ("a.b", "1:2: parse error: unexpected character: '.'"),
            ("up )", "1:5: parse error: unexpected right parenthesis ')'"),
            ("up ]", "1:4: parse error: unexpected right bracket ']'"),
            ("up 5m", "1:4: parse error: unexpected duration \"5m\""),
            ("up 5x", "1:4: parse error: bad number or duration syntax: \"5\""),
            ("atan2", "1:1: parse error: unexpected <op:atan2>"),
            (
                "up{job=\"aaaaaaaaaaaaé\" \"bbbbbbbbbbbbbbb\"}",
                "1:25: parse error: unexpected string \"\\\"bbbbbbbbb\"... in label matching, expected \",\" or \"}\"",
            ),
            ("up{job!", "1:7: parse error: unexpected character after '!' inside braces: '\u{fffd}'"),
            ("x{job=\"a\"} {}", "1:12: parse error: unexpected \"{\""),
        ];
        for (input, expected) in cases {
            assert_eq!(error(input), expected, "input {input:?}");
        }
        let regex_cases = [
            ("(", "missing closing ): `^(?:()$`"),
            ("a)", "unexpected ): `^(?:a))$`"),
            ("*", "missing argument to repetition operator: `*`"),
            ("\\\\q", "invalid escape sequence: `\\q`"),
            ("a{3,1}", "invalid repeat count: `{3,1}`"),
            ("[z-a]", "invalid character class range: `z-a`"),
        ];
        for (regex, expected) in regex_cases {
            let input = format!("up{{job=~\"{regex}\"}}");
            assert_eq!(
                error(&input),
                format!("1:4: parse error: error parsing regexp: {expected}"),
                "{input}"
            );
        }
    }

    #[test]
    fn match_params_need_a_non_empty_matcher() {
        let sets = parse_match_params(["up", "{job=\"a\"}"]).expect("parses");
        assert_eq!(sets.len(), 2);
        let empty_error = "match[] must contain at least one non-empty matcher";
        assert_eq!(parse_match_params(["{}"]).unwrap_err(), empty_error);
        assert_eq!(parse_match_params(["up", "{job=\"\"}"]).unwrap_err(), empty_error);
        assert_eq!(parse_match_params(["{job=~\".*\"}"]).unwrap_err(), empty_error);
        assert!(parse_match_params(["{job=~\".+\"}"]).is_ok());
        assert!(parse_match_params(["up{"]).unwrap_err().starts_with("1:4: parse error"));
    }
}
