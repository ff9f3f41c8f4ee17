//! The PromQL lexer: turns a query into tokens with byte positions, following the 2.42 rules for
//! numbers (decimal, hex, octal, exponents), durations (`1h30m`), strings (Go escapes, backtick
//! raw strings) and comments.

use crate::parser::ParseError;

/// A token kind with its payload.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Token {
    Ident(String),
    Number(f64),
    Duration(i64),
    Str(String),
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Colon,
    At,
    Assign,
    Neq,
    RegexMatch,
    RegexNoMatch,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eql,
    Gtr,
    Lss,
    Gte,
    Lte,
    Eof,
}

impl Token {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Token::Ident(word) if crate::parser::is_keyword(word) => {
                format!("<{}>", word.to_ascii_lowercase())
            }
            Token::Ident(word) => format!("identifier {word:?}"),
            Token::Number(n) => format!("number {n}"),
            Token::Duration(ms) => format!("duration \"{}\"", crate::ast::format_duration(*ms)),
            Token::Str(s) => format!("string {s:?}"),
            Token::LParen => "left parenthesis '('".into(),
            Token::RParen => "right parenthesis ')'".into(),
            Token::LBrace => "left brace '{'".into(),
            Token::RBrace => "right brace '}'".into(),
            Token::LBracket => "left bracket '['".into(),
            Token::RBracket => "right bracket ']'".into(),
            Token::Comma => "comma ','".into(),
            Token::Colon => "colon ':'".into(),
            Token::At => "\"@\"".into(),
            Token::Assign => "\"=\"".into(),
            Token::Neq => "\"!=\"".into(),
            Token::RegexMatch => "\"=~\"".into(),
            Token::RegexNoMatch => "\"!~\"".into(),
            Token::Add => "\"+\"".into(),
            Token::Sub => "\"-\"".into(),
            Token::Mul => "\"*\"".into(),
            Token::Div => "\"/\"".into(),
            Token::Mod => "\"%\"".into(),
            Token::Pow => "\"^\"".into(),
            Token::Eql => "\"==\"".into(),
            Token::Gtr => "\">\"".into(),
            Token::Lss => "\"<\"".into(),
            Token::Gte => "\">=\"".into(),
            Token::Lte => "\"<=\"".into(),
            Token::Eof => "end of input".into(),
        }
    }
}

/// A token and the byte offset where it starts.
#[derive(Debug, Clone)]
pub(crate) struct Spanned {
    pub(crate) token: Token,
    pub(crate) pos: usize,
}

/// Splits `input` into tokens, ending with `Token::Eof`.
pub(crate) fn tokenize(input: &str) -> Result<Vec<Spanned>, ParseError> {
    let mut lexer = Lexer { input, bytes: input.as_bytes(), pos: 0 };
    let mut tokens = Vec::new();
    loop {
        lexer.skip_space_and_comments();
        let start = lexer.pos;
        let Some(&byte) = lexer.bytes.get(start) else {
            tokens.push(Spanned { token: Token::Eof, pos: start });
            return Ok(tokens);
        };
        let token = lexer.next_token(byte)?;
        tokens.push(Spanned { token, pos: start });
    }
}

struct Lexer<'a> {
    input: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl Lexer<'_> {
    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.pos + offset).copied()
    }

    fn error(&self, pos: usize, message: impl Into<String>) -> ParseError {
        ParseError::new(self.input, pos, message)
    }

    fn skip_space_and_comments(&mut self) {
        while let Some(b) = self.peek_at(0) {
            if b == b'#' {
                while let Some(c) = self.peek_at(0) {
                    if c == b'\n' {
                        break;
                    }
                    self.pos += 1;
                }
            } else if b.is_ascii_whitespace() {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn next_token(&mut self, byte: u8) -> Result<Token, ParseError> {
        let start = self.pos;
        let two = |lexer: &mut Self, token: Token| {
            lexer.pos += 2;
            Ok(token)
        };
        let one = |lexer: &mut Self, token: Token| {
            lexer.pos += 1;
            Ok(token)
        };
        let next = self.peek_at(1);
        match byte {
            b'(' => one(self, Token::LParen),
            b')' => one(self, Token::RParen),
            b'{' => one(self, Token::LBrace),
            b'}' => one(self, Token::RBrace),
            b'[' => one(self, Token::LBracket),
            b']' => one(self, Token::RBracket),
            b',' => one(self, Token::Comma),
            b'@' => one(self, Token::At),
            b'+' => one(self, Token::Add),
            b'-' => one(self, Token::Sub),
            b'*' => one(self, Token::Mul),
            b'/' => one(self, Token::Div),
            b'%' => one(self, Token::Mod),
            b'^' => one(self, Token::Pow),
            b'=' => match next {
                Some(b'=') => two(self, Token::Eql),
                Some(b'~') => two(self, Token::RegexMatch),
                _ => one(self, Token::Assign),
            },
            b'!' => match next {
                Some(b'=') => two(self, Token::Neq),
                Some(b'~') => two(self, Token::RegexNoMatch),
                _ => Err(self.error(start, "unexpected character after '!'")),
            },
            b'>' => match next {
                Some(b'=') => two(self, Token::Gte),
                _ => one(self, Token::Gtr),
            },
            b'<' => match next {
                Some(b'=') => two(self, Token::Lte),
                _ => one(self, Token::Lss),
            },
            b'"' | b'\'' => self.quoted_string(byte),
            b'`' => self.raw_string(),
            b':' if !next.is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':') => {
                one(self, Token::Colon)
            }
            b'0'..=b'9' => self.number_or_duration(),
            b'.' if next.is_some_and(|b| b.is_ascii_digit()) => self.number_or_duration(),
            b if b.is_ascii_alphabetic() || b == b'_' || b == b':' => {
                while self.peek_at(0).is_some_and(|b| is_alnum(b) || b == b':') {
                    self.pos += 1;
                }
                Ok(Token::Ident(self.input[start..self.pos].to_string()))
            }
            _ => {
                let ch = self.input[start..].chars().next().unwrap_or('?');
                Err(self.error(start, format!("unexpected character: {ch:?}")))
            }
        }
    }

    fn number_or_duration(&mut self) -> Result<Token, ParseError> {
        let start = self.pos;
        if let Some(end) = self.scan_number() {
            self.pos = end;
            let text = &self.input[start..end];
            return parse_number(text).map(Token::Number).ok_or_else(|| {
                self.error(
                    start,
                    format!("error parsing number: strconv.ParseFloat: parsing {text:?}: invalid syntax"),
                )
            });
        }
        // Not a plain number: a duration such as `5m` or `1h30m`.
        let mut end = start;
        while self.bytes.get(end).is_some_and(|&b| is_alnum(b)) {
            end += 1;
        }
        let text = &self.input[start..end];
        self.pos = end;
        parse_duration(text).map(Token::Duration).map_err(|message| {
            self.error(start, format!("bad number or duration syntax: {text:?}: {message}"))
        })
    }

    /// Scans a number at the current position; returns its end if it is not followed by an
    /// alphanumeric character (which would make it a duration).
    fn scan_number(&self) -> Option<usize> {
        let mut end = self.pos;
        let mut hex = false;
        if self.bytes.get(end) == Some(&b'0') && matches!(self.bytes.get(end + 1), Some(b'x' | b'X')) {
            hex = true;
            end += 2;
        }
        let is_digit = |b: u8| if hex { b.is_ascii_hexdigit() } else { b.is_ascii_digit() };
        while self.bytes.get(end).is_some_and(|&b| is_digit(b)) {
            end += 1;
        }
        if self.bytes.get(end) == Some(&b'.') {
            end += 1;
            while self.bytes.get(end).is_some_and(|&b| is_digit(b)) {
                end += 1;
            }
        }
        if !hex && matches!(self.bytes.get(end), Some(b'e' | b'E')) {
            end += 1;
            if matches!(self.bytes.get(end), Some(b'+' | b'-')) {
                end += 1;
            }
            while self.bytes.get(end).is_some_and(|b| b.is_ascii_digit()) {
                end += 1;
            }
        }
        if self.bytes.get(end).is_some_and(|&b| is_alnum(b)) {
            return None;
        }
        Some(end)
    }

    fn quoted_string(&mut self, quote: u8) -> Result<Token, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(ch) = self.input[self.pos..].chars().next() else {
                return Err(self.error(start, "unterminated quoted string"));
            };
            self.pos += ch.len_utf8();
            if ch as u32 == quote as u32 {
                return Ok(Token::Str(out));
            }
            match ch {
                '\n' => return Err(self.error(start, "unterminated quoted string")),
                '\\' => {
                    self.escape(quote, &mut out).map_err(|message| self.error(start, message))?;
                }
                _ => out.push(ch),
            }
        }
    }

    /// Decodes one Go escape sequence (the backslash is already consumed).
    fn escape(&mut self, quote: u8, out: &mut String) -> Result<(), String> {
        let Some(&b) = self.bytes.get(self.pos) else {
            return Err("escape sequence not terminated".into());
        };
        self.pos += 1;
        let simple = match b {
            b'a' => Some('\x07'),
            b'b' => Some('\x08'),
            b'f' => Some('\x0c'),
            b'n' => Some('\n'),
            b'r' => Some('\r'),
            b't' => Some('\t'),
            b'v' => Some('\x0b'),
            b'\\' => Some('\\'),
            b'"' | b'\'' if b == quote => Some(b as char),
            _ => None,
        };
        if let Some(ch) = simple {
            out.push(ch);
            return Ok(());
        }
        let (digits, radix, max) = match b {
            b'0'..=b'7' => {
                self.pos -= 1;
                (3, 8, 255)
            }
            b'x' => (2, 16, 255),
            b'u' => (4, 16, 0x10ffff),
            b'U' => (8, 16, 0x10ffff),
            _ => {
                let ch = self.input[self.pos - 1..].chars().next().unwrap_or('?');
                return Err(format!("unknown escape sequence U+{:04X} {ch:?}", ch as u32));
            }
        };
        let Some(text) = self.input.get(self.pos..self.pos + digits) else {
            return Err("escape sequence not terminated".into());
        };
        let code =
            u32::from_str_radix(text, radix).map_err(|_| format!("illegal escape sequence {text:?}"))?;
        self.pos += digits;
        if code > max {
            return Err(format!("escape sequence is an invalid Unicode code point: {text:?}"));
        }
        if radix == 8 || b == b'x' {
            // Byte escapes: Prometheus strings are UTF-8, so only ASCII survives as a char.
            let byte = u8::try_from(code).map_err(|_| "octal escape value > 255".to_string())?;
            out.push(char::from(byte));
            return Ok(());
        }
        let ch = char::from_u32(code).ok_or_else(|| format!("invalid unicode code point {text:?}"))?;
        out.push(ch);
        Ok(())
    }

    fn raw_string(&mut self) -> Result<Token, ParseError> {
        let start = self.pos;
        let Some(len) = self.input[start + 1..].find('`') else {
            return Err(self.error(start, "unterminated raw string"));
        };
        let text = self.input[start + 1..start + 1 + len].to_string();
        self.pos = start + len + 2;
        Ok(Token::Str(text))
    }
}

/// Parses a number literal as Go's `ParseInt(s, 0, 64)` then `ParseFloat` would.
pub(crate) fn parse_number(text: &str) -> Option<f64> {
    let lower = text.to_ascii_lowercase();
    if lower == "inf" || lower == "+inf" {
        return Some(f64::INFINITY);
    }
    if lower == "-inf" {
        return Some(f64::NEG_INFINITY);
    }
    if lower == "nan" || lower == "+nan" || lower == "-nan" {
        return Some(f64::NAN);
    }
    let (negative, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let sign = if negative { -1.0 } else { 1.0 };
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        return i64::from_str_radix(hex, 16).ok().map(|v| sign * v as f64);
    }
    if body.len() > 1 && body.starts_with('0') && body.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(v) = i64::from_str_radix(&body[1..], 8) {
            return Some(sign * v as f64);
        }
    }
    if body.is_empty() || body.starts_with(['+', '-']) {
        return None;
    }
    body.parse::<f64>().ok().map(|v| sign * v)
}

/// Parses a Prometheus duration (`1y2w3d4h5m6s7ms`, units in descending order) into milliseconds.
pub(crate) fn parse_duration(text: &str) -> Result<i64, String> {
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ];
    if text == "0" {
        return Ok(0);
    }
    let bytes = text.as_bytes();
    let mut pos = 0;
    let mut total: i64 = 0;
    let mut next_unit = 0;
    if bytes.is_empty() {
        return Err("empty duration string".into());
    }
    while pos < bytes.len() {
        let digits_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos == digits_start {
            return Err("not a valid duration string".into());
        }
        let value: i64 = text[digits_start..pos].parse().map_err(|_| "duration out of range".to_string())?;
        let unit_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_alphabetic() {
            pos += 1;
        }
        let unit = &text[unit_start..pos];
        let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err("not a valid duration string".into());
        };
        if index < next_unit {
            return Err("not a valid duration string".into());
        }
        next_unit = index + 1;
        total = value
            .checked_mul(UNITS[index].1)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| "duration out of range".to_string())?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_go_rules() {
        assert_eq!(parse_number("0x1F"), Some(31.0));
        assert_eq!(parse_number("010"), Some(8.0));
        assert_eq!(parse_number("089"), Some(89.0));
        assert_eq!(parse_number("1e3"), Some(1000.0));
        assert_eq!(parse_number(".5"), Some(0.5));
        assert_eq!(parse_number("2."), Some(2.0));
        assert!(parse_number("Inf").is_some_and(|v| v.is_infinite()));
    }

    #[test]
    fn durations_combine_units_in_order() {
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("500ms"), Ok(500));
        assert_eq!(parse_duration("1d"), Ok(86_400_000));
        assert!(parse_duration("30m1h").is_err());
        assert!(parse_duration("5x").is_err());
    }

    #[test]
    fn tokens_carry_positions() {
        let tokens = tokenize("rate(foo[5m:1m]) # comment").unwrap();
        let kinds: Vec<_> = tokens.iter().map(|t| t.token.clone()).collect();
        assert_eq!(
            kinds,
            vec![
                Token::Ident("rate".into()),
                Token::LParen,
                Token::Ident("foo".into()),
                Token::LBracket,
                Token::Duration(300_000),
                Token::Colon,
                Token::Duration(60_000),
                Token::RBracket,
                Token::RParen,
                Token::Eof
            ]
        );
        assert_eq!(tokens[2].pos, 5);
    }

    #[test]
    fn strings_decode_escapes() {
        let tokens = tokenize(r#""a\"b\n\x41\u00e9" 'it\'s' `raw\n`"#).unwrap();
        assert_eq!(tokens[0].token, Token::Str("a\"b\nAé".into()));
        assert_eq!(tokens[1].token, Token::Str("it's".into()));
        assert_eq!(tokens[2].token, Token::Str("raw\\n".into()));
    }
}
