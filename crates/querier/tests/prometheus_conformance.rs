//! Our JSON answers against a real Prometheus 2.42 holding the same series (backfilled with
//! `promtool tsdb create-blocks-from openmetrics`): status and body must be identical, byte for
//! byte, for every request below. Skipped when `prometheus` or `promtool` is not installed.

mod support;

use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn installed(binary: &str) -> bool {
    let status = Command::new(binary).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    status.is_ok_and(|status| status.success())
}

async fn http_get(address: SocketAddr, path_and_query: &str) -> std::io::Result<(u16, String)> {
    http_call(address, format!("GET {path_and_query} HTTP/1.0\r\nHost: {address}\r\n\r\n")).await
}

async fn http_post_form(
    address: SocketAddr,
    path_and_query: &str,
    form: &str,
) -> std::io::Result<(u16, String)> {
    let request = format!(
        "POST {path_and_query} HTTP/1.0\r\nHost: {address}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    http_call(address, request).await
}

async fn http_call(address: SocketAddr, request: String) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(address).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default();
    Ok((status, body))
}

/// The reference series in OpenMetrics text, as promtool backfills them.
fn reference_openmetrics() -> String {
    let (t1, t2) = (T1 / 1000, T2 / 1000);
    format!(
        "# TYPE up gauge\n\
         up{{job=\"api\",instance=\"a:1\"}} 1 {t1}\n\
         up{{job=\"api\",instance=\"a:1\"}} 1 {t2}\n\
         up{{job=\"db\",instance=\"b<&>\\\"\\\\x\"}} 0 {t1}\n\
         # TYPE http_requests counter\n\
         http_requests_total{{job=\"api\",method=\"GET\"}} 3 {t1}\n\
         http_requests_total{{job=\"api\",method=\"POST\",zone=\"é\\n\"}} 5 {t2}\n\
         # EOF\n"
    )
}

/// Requests compared. Label names over a time range that cuts a block are left out: Prometheus
/// answers from whole blocks there, which is storage granularity, not API behaviour.
const URIS: &[&str] = &[
    "/labels",
    "/labels?match[]=up",
    "/labels?match[]=%7Bjob%3D~%22api%7Cdb%22%7D",
    "/labels?match[]=%7Bmethod%3D%22POST%22%7D&match[]=up",
    "/labels?match[]=nope",
    "/labels?start=x",
    "/labels?end=1e400",
    "/labels?match[]=%7B%7D",
    "/labels?match[]=1",
    "/labels?start=%zz",
    "/label/instance/values",
    "/label/zone/values",
    "/label/__name__/values",
    "/label/job/values?match[]=up%7Bjob%3D%22api%22%7D&match[]=http_requests_total",
    "/label/nonexistent/values",
    "/label/1a/values",
    "/label/a%C3%A9/values",
    "/label/job/values?start=x",
    "/label/job/values?match[]=%7Bjob%3D%22%22%7D",
    "/label/job/values?end=2026-11-25T12:30:00Z",
    "/series",
    "/series?match[]=up",
    "/series?match[]=up%7Bjob!%3D%22self%22%7D&match[]=%7Bjob%3D%22api%22%7D",
    "/series?match[]=up%7Binstance%3D~%22b.*%22%7D",
    "/series?match[]=%7B__name__%3D~%22.%2B%22%7D",
    "/series?match[]=http_requests_total&end=1795612815",
    "/series?match[]=http_requests_total&start=1795612817",
    "/series?match[]=http_requests_total&start=2026-11-25T00:00:00Z&end=2026-11-25T13:00:00.000Z",
    "/series?match[]=up&start=-292273086-05-16T16:47:06Z&end=292277025-08-18T07:12:54.999999999Z",
    "/series?match[]=up&start=10&end=5",
    "/series?match[]=up&start=x",
    "/series?match[]=up&start=2026-11-25T14:00:00.1234567891Z",
    "/series?match[]=%7B%7D",
    "/series?match[]=up&start=%zz",
    "/series?match[]=up;x",
    "/series?match[]=up%7B",
    "/series?match[]=up%7Bjob%3D%22%5Cq%22%7D",
    "/series?match[]=up%20offset%205m",
    "/series?match[]=rate(up%5B5m%5D)",
    "/series?match[]=up%7Bjob%3D%22a%22%20x",
    "/series?match[]=up%7Bjob%3D%22a%22%3D%7D",
    "/series?match[]=sum",
    "/series?match[]=bool",
    "/series?match[]=a%3Ab%3Ac",
    "/series?match[]=up%7Bjob%3D%60a%5Cn%60%7D",
    "/series?match[]=up%7Bjob%3D%22%5Cu00e9%22%7D",
    "/series?match[]=%7Bjob%3D%22api%22%2Cjob%3D%22db%22%7D",
    "/series?match[]=up%7B__name__%3D%22x%22%7D",
    "/series?match[]=%7B__name__%3D%22up%22%7D%20%23%20comment",
    "/series?match[]=",
    "/series?match[]=up&start=&end=",
    "/series?match[]=up&start=1e19",
    "/series?match[]=up&start=NaN",
    "/series?match[]=up&start=1_795_609_216",
    "/series?match[]=up&end=%2B1795609216.0005",
    "/series?match[]=up&match[]=%7Bjob%3D%22%22%7D",
    "/series?match%5B%5D=up&start=2026-11-25T12:20:16%2B00:00",
    "/series?match[]=up+%7Bjob%3D%22db%22%7D",
    "/labels?match[]=up&match[]=%7B%7D",
    "/label/__name__/values?match[]=up%7B",
    "/label/job/values?match[]=up&match[]=up",
    "/label/job/values?start=2026-11-25T12:20:16.0005Z&end=2026-11-25T12:20:16Z",
];

/// Selectors compared through `/series?match[]=`, percent-encoded at run time.
const SELECTORS: &[&str] = &[
    r#"up{job=~"("}"#,
    r#"up{job=~"a)"}"#,
    r#"up{job=~"*"}"#,
    r#"up{job=~"\\q"}"#,
    r#"up{job=~"a{3,1}"}"#,
    r#"up{job=~"[z-a]"}"#,
    r#"up{job=~"api|db",instance!~"a.*"}"#,
    r#"{__name__=~"up|http_.*", job!="db"}"#,
    "up{job='api'}",
    "up{job=`api`}",
    r#"up{job="api"}"#,
    r#"up{job="api"}"#,
    r#"up{job="api"}"#,
    r#"up{job="api"}"#,
    r#"http_requests_total{zone="\u00e9\n"}"#,
    r#"up{instance="b<&>"\x"}"#,
    "up{job!\"api\"}",
    "{job=\"api\"",
    "up{job=\"api\"}}",
    "max{}",
    "group_left",
];

/// POST requests compared: path with query string, and the urlencoded body.
const POSTS: &[(&str, &str)] = &[
    ("/labels", "match[]=up%7Bjob%3D%22db%22%7D"),
    ("/labels?match[]=http_requests_total", "match[]=up%7Bjob%3D%22db%22%7D"),
    ("/labels", "start=x"),
    ("/labels?start=y", "start=x"),
    ("/series?match[]=http_requests_total", "match[]=up"),
    ("/series", "match[]=up&start=%zz"),
    ("/series", "match[]=up;x"),
    ("/series", ""),
    ("/series", "match[]=%7B%7D"),
];

#[tokio::test]
async fn json_answers_match_a_real_prometheus() {
    if !installed("prometheus") || !installed("promtool") {
        eprintln!("prometheus or promtool not installed; skipping");
        return;
    }
    let work_dir = tempfile::tempdir().expect("tempdir");
    let openmetrics_path = work_dir.path().join("data.om");
    std::fs::write(&openmetrics_path, reference_openmetrics()).expect("write data");
    let data_dir = work_dir.path().join("data");
    let backfill = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&openmetrics_path)
        .arg(&data_dir)
        .stdout(Stdio::null())
        .status()
        .expect("run promtool");
    assert!(backfill.success(), "promtool failed");
    let config_path = work_dir.path().join("prometheus.yml");
    std::fs::write(&config_path, "global:\n  scrape_interval: 1h\n").expect("write config");
    let port = StdTcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let address: SocketAddr = ([127, 0, 0, 1], port).into();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!("--storage.tsdb.path={}", data_dir.display()))
        .arg(format!("--web.listen-address={address}"))
        .arg("--storage.tsdb.retention.time=100y")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let _prometheus = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(http_get(address, "/-/ready").await, Ok((200, _))) {
        assert!(Instant::now() < deadline, "prometheus did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let router = router();
    let mut mismatches = Vec::new();
    for uri in URIS {
        let (their_status, their_body) =
            http_get(address, &format!("/api/v1{uri}")).await.expect("prometheus");
        let ours = get(&router, "a", uri).await;
        if ours.status != StatusCode::from_u16(their_status).expect("status") || ours.text() != their_body {
            mismatches.push(format!(
                "{uri}\n  prometheus: {their_status} {their_body}\n  ours:       {} {}",
                ours.status.as_u16(),
                ours.text()
            ));
        }
    }
    for selector in SELECTORS {
        let uri = format!("/series?match[]={}", encode(selector));
        let (their_status, their_body) =
            http_get(address, &format!("/api/v1{uri}")).await.expect("prometheus");
        let ours = get(&router, "a", &uri).await;
        if ours.status != StatusCode::from_u16(their_status).expect("status") || ours.text() != their_body {
            mismatches.push(format!(
                "{selector}\n  prometheus: {their_status} {their_body}\n  ours:       {} {}",
                ours.status.as_u16(),
                ours.text()
            ));
        }
    }
    for (uri, form) in POSTS {
        let (their_status, their_body) =
            http_post_form(address, &format!("/api/v1{uri}"), form).await.expect("prometheus");
        let ours = post_form(&router, "a", uri, form).await;
        if ours.status != StatusCode::from_u16(their_status).expect("status") || ours.text() != their_body {
            mismatches.push(format!(
                "POST {uri} {form}\n  prometheus: {their_status} {their_body}\n  ours:       {} {}",
                ours.status.as_u16(),
                ours.text()
            ));
        }
    }
    assert!(mismatches.is_empty(), "answers differ from Prometheus 2.42:\n{}", mismatches.join("\n"));
}
