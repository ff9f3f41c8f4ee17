//! GCS chunk objects through the GCS JSON API (the API Google's own client libraries use):
//! media uploads, `alt=media` downloads, deletes and paged listings, with a bearer token from
//! a service-account key or Google's default credentials — or none against an emulator.
//!
//! Not `object_store`'s `GoogleCloudStorage`: it writes and deletes through the XML API, which
//! the fake GCS server the tests run does not serve (it answers `PUT /<bucket>/<object>` with
//! "invalid uploadType"), so that client could not be tested against a real server here.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::{Method, RequestBuilder, Response, StatusCode};

use crate::error::StorageError;
use crate::gcp::config::GcsConfig;
use crate::object::ObjectClient;

/// Google's storage endpoint.
const GCS_BASE_URL: &str = "https://storage.googleapis.com";
const SCOPE: &str = "https://www.googleapis.com/auth/devstorage.read_write";
/// Attempts of a request that failed transiently (connection errors, 429, 5xx).
const ATTEMPTS: u32 = 3;

fn gcs_error(message: impl std::fmt::Display) -> StorageError {
    StorageError::backend("gcs", message)
}

/// Percent-encodes everything but RFC 3986's unreserved characters (object names go into
/// paths and query strings whole, `/` included).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// One page of an object listing.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListPage {
    #[serde(default)]
    items: Vec<ListItem>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(serde::Deserialize)]
struct ListItem {
    name: String,
}

/// Chunk objects in one GCS bucket.
#[derive(Clone)]
pub struct GcsObjectClient {
    http: reqwest::Client,
    base_url: String,
    bucket: String,
    tokens: Option<Arc<dyn gcp_auth::TokenProvider>>,
}

impl std::fmt::Debug for GcsObjectClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcsObjectClient")
            .field("base_url", &self.base_url)
            .field("bucket", &self.bucket)
            .finish()
    }
}

impl GcsObjectClient {
    /// A client for the bucket in `config` (credentials are looked up now, tokens per request).
    pub async fn connect(config: &GcsConfig) -> Result<Self, StorageError> {
        if config.bucket_name.is_empty() {
            return Err(StorageError::Config(
                "storage.gcs.bucket_name (-gcs.bucketname) must be set".to_string(),
            ));
        }
        let mut http = reqwest::Client::builder();
        if !config.request_timeout.0.is_zero() {
            http = http.timeout(config.request_timeout.0);
        }
        let http = http.build().map_err(|err| StorageError::Config(format!("storage.gcs: {err}")))?;
        let (base_url, tokens) = match config.effective_endpoint() {
            Some(endpoint) => (endpoint, None),
            None if !config.service_account.is_empty() => {
                let account = gcp_auth::CustomServiceAccount::from_json(&config.service_account)
                    .map_err(|err| StorageError::Config(format!("storage.gcs.service_account: {err}")))?;
                (GCS_BASE_URL.to_string(), Some(Arc::new(account) as Arc<dyn gcp_auth::TokenProvider>))
            }
            None => {
                let tokens =
                    gcp_auth::provider().await.map_err(|err| gcs_error(format!("credentials: {err}")))?;
                (GCS_BASE_URL.to_string(), Some(tokens))
            }
        };
        Ok(Self { http, base_url, bucket: config.bucket_name.clone(), tokens })
    }

    fn object_url(&self, key: &str) -> String {
        format!("{}/storage/v1/b/{}/o/{}", self.base_url, encode(&self.bucket), encode(key))
    }

    /// Sends the request `build` makes, with a token, again after transient failures.
    async fn send(&self, what: &str, build: impl Fn() -> RequestBuilder) -> Result<Response, StorageError> {
        let mut attempt = 1;
        loop {
            let mut request = build();
            if let Some(tokens) = &self.tokens {
                let token =
                    tokens.token(&[SCOPE]).await.map_err(|err| gcs_error(format!("credentials: {err}")))?;
                request = request.bearer_auth(token.as_str());
            }
            let retry = match request.send().await {
                Ok(response)
                    if response.status() == StatusCode::TOO_MANY_REQUESTS
                        || response.status().is_server_error() =>
                {
                    format!("status {}", response.status())
                }
                Ok(response) => return Ok(response),
                Err(err) if err.is_connect() || err.is_timeout() => err.to_string(),
                Err(err) => return Err(gcs_error(format!("{what}: {err}"))),
            };
            if attempt >= ATTEMPTS {
                return Err(gcs_error(format!("{what}: {retry} after {attempt} attempts")));
            }
            tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            attempt += 1;
        }
    }

    /// The response if successful, else an error with the server's message.
    async fn check(what: &str, response: Response) -> Result<Response, StorageError> {
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        Err(gcs_error(format!("{what}: status {status}: {}", body.trim())))
    }
}

#[async_trait]
impl ObjectClient for GcsObjectClient {
    async fn put(&self, key: &str, data: Bytes) -> Result<(), StorageError> {
        let url = format!(
            "{}/upload/storage/v1/b/{}/o?uploadType=media&name={}",
            self.base_url,
            encode(&self.bucket),
            encode(key)
        );
        let what = format!("writing {key}");
        let response = self
            .send(&what, || {
                self.http
                    .request(Method::POST, &url)
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(data.clone())
            })
            .await?;
        Self::check(&what, response).await?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        let url = format!("{}?alt=media", self.object_url(key));
        let what = format!("reading {key}");
        let response = self.send(&what, || self.http.get(&url)).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(StorageError::NotFound(key.to_string()));
        }
        let response = Self::check(&what, response).await?;
        response.bytes().await.map_err(|err| gcs_error(format!("{what}: {err}")))
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let url = self.object_url(key);
        let what = format!("deleting {key}");
        let response = self.send(&what, || self.http.delete(&url)).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(());
        }
        Self::check(&what, response).await?;
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let trimmed = prefix.trim_end_matches('/');
        let name_prefix = if trimmed.is_empty() { String::new() } else { format!("{trimmed}/") };
        let what = format!("listing {prefix:?}");
        let mut keys = Vec::new();
        let mut page_token: Option<String> = None;
        loop {
            let mut url = format!(
                "{}/storage/v1/b/{}/o?prefix={}&fields=items(name),nextPageToken",
                self.base_url,
                encode(&self.bucket),
                encode(&name_prefix)
            );
            if let Some(token) = &page_token {
                url.push_str(&format!("&pageToken={}", encode(token)));
            }
            let response = Self::check(&what, self.send(&what, || self.http.get(&url)).await?).await?;
            let page: ListPage = response.json().await.map_err(|err| gcs_error(format!("{what}: {err}")))?;
            keys.extend(page.items.into_iter().map(|item| item.name));
            match page.next_page_token.filter(|token| !token.is_empty()) {
                Some(token) => page_token = Some(token),
                None => break,
            }
        }
        keys.retain(|key| crate::object::key_under_prefix(key, trimmed));
        keys.sort();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_encoded_whole() {
        assert_eq!(encode("team-a/1f:0:1:ab"), "team-a%2F1f%3A0%3A1%3Aab");
        assert_eq!(encode("a b*~"), "a%20b%2A~");
        assert_eq!(encode("é"), "%C3%A9");
    }
}
