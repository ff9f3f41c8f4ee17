//! The URLs of Cortex's `-dynamodb.url` and `-s3.url` flags:
//! `scheme://[key[:secret]@]host[/path]`, key and secret percent-escaped. A host that looks like
//! an address (it has a `.`, a port, or is `localhost`) is an endpoint; any other host is an AWS
//! region whose endpoint the SDK derives.

/// The parts of an AWS service URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsUrl {
    /// `dynamodb`, `s3`, `http` or `https`.
    pub scheme: String,
    /// The access key id from the user part, unescaped.
    pub access_key_id: Option<String>,
    /// The secret access key from the password part, unescaped.
    pub secret_access_key: Option<String>,
    /// The host (with port, if any).
    pub host: String,
    /// The path without its leading `/` (S3: the bucket names).
    pub path: String,
}

/// Where a client sends its requests: an explicit endpoint or the region's AWS endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An endpoint URL (`http://127.0.0.1:5000`), with the region to sign for.
    Endpoint {
        /// The endpoint, scheme included.
        url: String,
        /// The signing region.
        region: String,
    },
    /// An AWS region; the SDK picks the endpoint.
    Region(String),
}

/// The region signed for when an endpoint is given without one (custom endpoints such as moto
/// or MinIO accept any).
pub const DEFAULT_ENDPOINT_REGION: &str = "us-east-1";

impl AwsUrl {
    /// Parses `text`; the error says what is wrong and shows the URL with its secret masked.
    pub fn parse(text: &str) -> Result<Self, String> {
        let shown = neocortex_core::secret::mask_url_password(text);
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| format!("{shown:?} is not a URL (expected scheme://host)"))?;
        if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-') {
            return Err(format!("{shown:?} has an invalid scheme"));
        }
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash + 1..]),
            None => (rest, ""),
        };
        let (user_info, host) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        if host.is_empty() && scheme != "inmemory" {
            return Err(format!("{shown:?} names no host (expected scheme://[key:secret@]host)"));
        }
        let (access_key_id, secret_access_key) = match user_info {
            None => (None, None),
            Some(info) => {
                let (user, password) = match info.split_once(':') {
                    Some((user, password)) => (user, Some(password)),
                    None => (info, None),
                };
                let user = percent_decode(user).map_err(|e| format!("{shown:?}: key: {e}"))?;
                let password = password
                    .map(percent_decode)
                    .transpose()
                    .map_err(|e| format!("{shown:?}: secret: {e}"))?;
                (Some(user), password)
            }
        };
        Ok(Self {
            scheme: scheme.to_ascii_lowercase(),
            access_key_id,
            secret_access_key,
            host: host.to_string(),
            path: path.trim_end_matches('/').to_string(),
        })
    }

    /// Whether the host is an address rather than a region name.
    pub fn host_is_endpoint(&self) -> bool {
        host_is_endpoint(&self.host)
    }

    /// Where requests go: `http(s)://host` for an address (https only for the `https` scheme, as
    /// Cortex uses plain http for such hosts), else the host as the region. `region` (when not
    /// empty) is the signing region of an endpoint.
    pub fn target(&self, region: &str) -> Target {
        if self.host_is_endpoint() {
            let scheme = if self.scheme == "https" { "https" } else { "http" };
            let region = if region.is_empty() { DEFAULT_ENDPOINT_REGION } else { region };
            Target::Endpoint { url: format!("{scheme}://{}", self.host), region: region.to_string() }
        } else {
            Target::Region(self.host.clone())
        }
    }
}

/// Whether `host` is an address (has a `.` or a port, or is `localhost`) rather than a region.
pub fn host_is_endpoint(host: &str) -> bool {
    host.contains('.') || host.contains(':') || host == "localhost"
}

/// Undoes `%XX` escapes; a `%` not followed by two hex digits is an error.
fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            let value = hex
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| "a % not followed by two hex digits".to_string())?;
            out.push(value);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "escapes do not form UTF-8".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_region_and_endpoint_forms() {
        let region = AwsUrl::parse("dynamodb://us-east-1").unwrap();
        assert_eq!(region.target(""), Target::Region("us-east-1".into()));
        assert_eq!(region.access_key_id, None);

        let local = AwsUrl::parse("http://AKID:se%2Fcret%40x@127.0.0.1:5000/bucket-a,bucket-b/").unwrap();
        assert_eq!(local.access_key_id.as_deref(), Some("AKID"));
        assert_eq!(local.secret_access_key.as_deref(), Some("se/cret@x"));
        assert_eq!(local.path, "bucket-a,bucket-b");
        assert_eq!(
            local.target(""),
            Target::Endpoint { url: "http://127.0.0.1:5000".into(), region: DEFAULT_ENDPOINT_REGION.into() }
        );
        let tls = AwsUrl::parse("https://dynamodb.eu-west-1.amazonaws.com").unwrap();
        assert_eq!(
            tls.target("eu-west-1"),
            Target::Endpoint {
                url: "https://dynamodb.eu-west-1.amazonaws.com".into(),
                region: "eu-west-1".into()
            }
        );
        assert!(AwsUrl::parse("s3://localhost/b").unwrap().host_is_endpoint());
    }

    #[test]
    fn rejects_malformed_urls() {
        assert!(AwsUrl::parse("us-east-1").unwrap_err().contains("not a URL"));
        assert!(AwsUrl::parse("dynamodb://").unwrap_err().contains("no host"));
        assert!(AwsUrl::parse("http://k:%zz@host.x").unwrap_err().contains("secret"));
        assert!(AwsUrl::parse("://host").unwrap_err().contains("scheme"));
        for bad in ["http://AKID:hunter2%zz@host.x", "ht_tp://AKID:hunter2@host.x", "http://AKID:hunter2@"] {
            let err = AwsUrl::parse(bad).unwrap_err();
            assert!(!err.contains("hunter2") && err.contains("AKID:********@"), "{err}");
        }
    }
}
