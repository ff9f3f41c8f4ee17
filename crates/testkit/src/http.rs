//! Small HTTP helpers for tests: remote-write pushes with full control over headers, and Prometheus
//! API reads that return the status and the parsed JSON body.

use reqwest::RequestBuilder;

/// A POST of `body` to `url` with the remote-write headers (snappy, protobuf, version 0.1.0);
/// tests add a tenant or auth on the returned builder. (Adding a header that is already set adds
/// a second value; use [`remote_write_request_with_content_type`] to send another content type.)
pub fn remote_write_request(client: &reqwest::Client, url: &str, body: Vec<u8>) -> RequestBuilder {
    remote_write_request_with_content_type(client, url, body, "application/x-protobuf")
}

/// Like [`remote_write_request`] with `content_type` as the only `Content-Type`.
pub fn remote_write_request_with_content_type(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    content_type: &str,
) -> RequestBuilder {
    client
        .post(url)
        .header("Content-Encoding", "snappy")
        .header("Content-Type", content_type)
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body)
}

/// Sends `request` and returns the status code and body text.
pub async fn send(request: RequestBuilder) -> Result<(u16, String), reqwest::Error> {
    let response = request.send().await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    Ok((status, text))
}

/// GETs `url` as `tenant` (sent as `X-Scope-OrgID` when given) and parses the body as JSON
/// (`Value::Null` when it is not JSON).
pub async fn get_json(
    client: &reqwest::Client,
    url: &str,
    tenant: Option<&str>,
) -> Result<(u16, serde_json::Value), reqwest::Error> {
    let mut request = client.get(url);
    if let Some(tenant) = tenant {
        request = request.header("X-Scope-OrgID", tenant);
    }
    let (status, text) = send(request).await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)))
}
