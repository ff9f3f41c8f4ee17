//! The launchers start the real servers, which talk to each other: Prometheus and vmagent scrape
//! themselves and remote-write into VictoriaMetrics, where both jobs' series show up.

use std::time::Duration;

use neocortex_testkit::http::get_json;
use neocortex_testkit::{
    eventually, PrometheusOptions, PrometheusProcess, RemoteWriteTarget, VictoriaMetricsProcess,
    VmagentOptions, VmagentProcess,
};

async fn series_of_job(
    client: &reqwest::Client,
    victoria: &VictoriaMetricsProcess,
    job: &str,
) -> Option<usize> {
    let url = format!("{}/api/v1/series?match[]=up{{job=%22{job}%22}}", victoria.url());
    let (status, body) = get_json(client, &url, None).await.ok()?;
    let count = body["data"].as_array().map_or(0, Vec::len);
    (status == 200 && count > 0).then_some(count)
}

#[tokio::test]
async fn prometheus_and_vmagent_remote_write_into_victoria_metrics() -> anyhow::Result<()> {
    let mut victoria = VictoriaMetricsProcess::start().await?;
    let remote_write = RemoteWriteTarget {
        url: victoria.write_url(),
        basic_auth: Some(("user".to_owned(), "pass".to_owned())),
    };
    let mut prometheus = PrometheusProcess::start(&PrometheusOptions {
        remote_write: Some(remote_write),
        ..Default::default()
    })
    .await?;
    let mut vmagent_options = VmagentOptions::new(victoria.write_url());
    vmagent_options.headers.push(("X-Scope-OrgID".to_owned(), "team-v".to_owned()));
    let mut vmagent = VmagentProcess::start(&vmagent_options).await?;

    let client = reqwest::Client::new();
    let timeout = Duration::from_secs(60);
    eventually("prometheus's up series in victoria-metrics", timeout, || {
        series_of_job(&client, &victoria, "prometheus")
    })
    .await?;
    eventually("vmagent's up series in victoria-metrics", timeout, || {
        series_of_job(&client, &victoria, "vmagent")
    })
    .await?;

    assert!(prometheus.process().is_running());
    assert!(vmagent.process().is_running());
    assert!(victoria.process().is_running());
    let pid = prometheus.process().pid();
    drop(prometheus);
    assert!(gone(pid), "prometheus (pid {pid}) must be killed on drop");
    Ok(())
}

/// Whether no live process has `pid` (a reaped process leaves no /proc entry).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.contains(") Z "),
        Err(_) => true,
    }
}
