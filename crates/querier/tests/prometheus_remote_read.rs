//! A real Prometheus 2.42 reads from our `/read` endpoint: its remote-read client must decode
//! our snappy protobuf answers. Skipped when no `prometheus` binary is installed.

mod support;

use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::{Extension, Router};
use neocortex_core::TenantId;
use neocortex_querier::QuerierConfig;
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

fn prometheus_binary() -> Option<String> {
    let found =
        Command::new("prometheus").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    found.is_ok_and(|status| status.success()).then(|| "prometheus".to_string())
}

fn free_port() -> u16 {
    StdTcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A minimal HTTP/1.0 GET, returning status code and body.
async fn http_get(address: SocketAddr, path_and_query: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(address).await?;
    let request = format!("GET {path_and_query} HTTP/1.0\r\nHost: {address}\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default();
    Ok((status, body))
}

#[tokio::test]
async fn prometheus_reads_through_our_remote_read_endpoint() {
    let Some(binary) = prometheus_binary() else {
        eprintln!("prometheus not installed; skipping");
        return;
    };
    // Our read API for tenant "a" (Prometheus cannot send X-Scope-OrgID, so the tenant is fixed
    // here as the binary's auth middleware would fix it).
    let api = router_with(reference_source(), QuerierConfig::default());
    let app =
        Router::new().nest("/prometheus/api/v1", api).layer(Extension(TenantId::new("a").expect("tenant")));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let our_address = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });

    let data_dir = tempfile::tempdir().expect("tempdir");
    let config_path = data_dir.path().join("prometheus.yml");
    let config = format!(
        "global:\n  scrape_interval: 1h\nremote_read:\n  - url: http://{our_address}/prometheus/api/v1/read\n    read_recent: true\n"
    );
    std::fs::write(&config_path, config).expect("write config");
    let prometheus_port = free_port();
    let prometheus_address: SocketAddr = ([127, 0, 0, 1], prometheus_port).into();
    let child = Command::new(binary)
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!("--storage.tsdb.path={}", data_dir.path().join("data").display()))
        .arg(format!("--web.listen-address={prometheus_address}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let _prometheus = KillOnDrop(child);

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((200, _)) = http_get(prometheus_address, "/-/ready").await {
            break;
        }
        assert!(Instant::now() < deadline, "prometheus did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // An instant query at T2 reads the last 5 minutes through remote read.
    let (status, body) = http_get(prometheus_address, &format!("/api/v1/query?query=up&time={}", T2 / 1000))
        .await
        .expect("query");
    assert_eq!(status, 200, "{body}");
    let expected = format!(
        r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{"__name__":"up","instance":"a:1","job":"api"}},"value":[{},"1"]}}]}}}}"#,
        T2 / 1000
    );
    assert_eq!(body, expected);

    // A range query over both samples sees the label values we stored, escaped by Prometheus.
    let (status, body) = http_get(
        prometheus_address,
        &format!("/api/v1/query_range?query=up&start={}&end={}&step=3600", T1 / 1000, T2 / 1000),
    )
    .await
    .expect("query_range");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""instance":"b\u003c\u0026\u003e\"\\x""#), "{body}");
    assert!(body.contains(&format!(r#"[{},"0"]"#, T1 / 1000)), "{body}");
    assert!(!body.contains("secret"), "tenant b leaked: {body}");
}
