//! Request parameters parsed as Go's `net/http` parses them for Prometheus (`r.Form`): the
//! urlencoded body of a POST first, then the query string; malformed pairs are skipped and the
//! first problem is kept for the handlers that report it (`/series` does, the others ignore it).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, Method};

use crate::go_quote;
use crate::response::ApiError;

/// Largest form body read, as Go's `http.Request.ParseForm` allows (10 MiB).
pub const MAX_FORM_BODY_BYTES: usize = 10 << 20;

/// The parameters of one request, in Go's `r.Form` order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormParams {
    values: Vec<(String, String)>,
    parse_error: Option<String>,
}

impl FormParams {
    /// Parses a query string (or urlencoded body) as Go's `url.ParseQuery` does.
    pub fn parse(query: &str) -> Self {
        let mut params = Self::default();
        params.append_query(query);
        params
    }

    /// Reads the parameters of `request`: for POST, PUT and PATCH with an urlencoded body the
    /// body's pairs come first, then the query string's.
    pub async fn from_request(request: Request) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        let mut params = Self::default();
        let has_body = matches!(parts.method, Method::POST | Method::PUT | Method::PATCH);
        let is_urlencoded = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.split(';').next().unwrap_or("").trim())
            .is_some_and(|media_type| media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded"));
        if has_body && is_urlencoded {
            let bytes = read_form_body(body).await?;
            params.append_query(&String::from_utf8_lossy(&bytes));
        }
        params.append_query(parts.uri.query().unwrap_or(""));
        Ok(params)
    }

    /// The first value of `name`, or `""` (Go's `r.FormValue`).
    pub fn value(&self, name: &str) -> &str {
        self.values.iter().find(|(key, _)| key == name).map_or("", |(_, value)| value.as_str())
    }

    /// Every value of `name` in order (Go's `r.Form[name]`).
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.values.iter().filter(move |(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// The first parse problem, worded as Go words it (`invalid URL escape "%zz"`).
    pub fn parse_error(&self) -> Option<&str> {
        self.parse_error.as_deref()
    }

    fn append_query(&mut self, query: &str) {
        let mut error: Option<String> = None;
        for pair in query.split('&') {
            if pair.contains(';') {
                error = Some("invalid semicolon separator in query".to_string());
                continue;
            }
            if pair.is_empty() {
                continue;
            }
            let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded = query_unescape(raw_key).and_then(|key| Ok((key, query_unescape(raw_value)?)));
            match decoded {
                Ok(pair) => self.values.push(pair),
                Err(unescape_error) => {
                    error.get_or_insert(unescape_error);
                }
            }
        }
        if self.parse_error.is_none() {
            self.parse_error = error;
        }
    }
}

async fn read_form_body(body: Body) -> Result<Vec<u8>, ApiError> {
    crate::body::read_limited(body, MAX_FORM_BODY_BYTES).await.map_err(|error| {
        let message = match error {
            crate::body::BodyError::TooLarge { .. } => "http: POST too large".to_string(),
            crate::body::BodyError::Read(message) => message,
        };
        ApiError::bad_data(format!("error parsing form values: {message}"))
    })
}

/// Decodes one query component as Go's `url.QueryUnescape`: `+` is a space, `%XX` a byte.
fn query_unescape(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    if !bytes.iter().any(|&b| b == b'%' || b == b'+') {
        return Ok(text.to_string());
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' => {
                let high = bytes.get(index + 1).and_then(|b| hex_value(*b));
                let low = bytes.get(index + 2).and_then(|b| hex_value(*b));
                let (Some(high), Some(low)) = (high, low) else {
                    let bad: String =
                        String::from_utf8_lossy(&bytes[index..bytes.len().min(index + 3)]).into();
                    return Err(format!("invalid URL escape {}", go_quote::quote(&bad)));
                };
                out.push(high << 4 | low);
                index += 3;
            }
            b'+' => {
                out.push(b' ');
                index += 1;
            }
            other => {
                out.push(other);
                index += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_go() {
        let params = FormParams::parse("match[]=up&match[]=%7Bjob%3D%22a+b%22%7D&&start=1&empty=");
        assert_eq!(params.values("match[]").collect::<Vec<_>>(), ["up", "{job=\"a b\"}"]);
        assert_eq!(params.value("start"), "1");
        assert_eq!(params.value("empty"), "");
        assert_eq!(params.value("missing"), "");
        assert_eq!(params.parse_error(), None);
    }

    #[test]
    fn bad_pairs_are_skipped_and_reported() {
        let params = FormParams::parse("start=%zz&match[]=up&x=%4");
        assert_eq!(params.parse_error(), Some(r#"invalid URL escape "%zz""#));
        assert_eq!(params.value("start"), "");
        assert_eq!(params.value("match[]"), "up");
        let params = FormParams::parse("match[]=up;x");
        assert_eq!(params.parse_error(), Some("invalid semicolon separator in query"));
        assert_eq!(FormParams::parse("a=%4").parse_error(), Some(r#"invalid URL escape "%4""#));
    }
}
