//! The generator's timed phase against a real receiver: every request is accepted and the
//! receiver ends up with exactly the generated series and samples.

use std::time::Duration;

use neocortex_loadgen::encode::{encode_workload, BatchingSpec};
use neocortex_loadgen::send::{send_workload, SendOptions};
use neocortex_loadgen::workload::{Workload, WorkloadSpec};
use neocortex_testkit::http::get_json;
use neocortex_testkit::remote_write::now_ms;
use neocortex_testkit::{eventually, VictoriaMetricsProcess};

#[tokio::test]
async fn victoria_metrics_receives_every_series_and_sample() -> anyhow::Result<()> {
    let victoria = VictoriaMetricsProcess::start().await?;
    let spec = WorkloadSpec {
        series: 2_000,
        samples_per_series: 6,
        interval_ms: 15_000,
        start_ms: WorkloadSpec::start_for_end_at(now_ms(), 6, 15_000),
        seed: 3,
    };
    let batching = BatchingSpec { series_per_request: 300, samples_per_request: 2, connections: 3 };
    let encoded = encode_workload(&Workload::new(spec), &batching);
    assert_eq!(encoded.request_count(), 7 * 3);
    let options = SendOptions {
        url: victoria.write_url(),
        tenant: Some("team-load".to_owned()),
        basic_auth: Some(("user".to_owned(), "password".to_owned())),
        timeout: Duration::from_secs(30),
    };
    let outcome = send_workload(encoded, &options).await?;
    assert_eq!(outcome.status_counts.get("204"), Some(&21), "{:?}", outcome.error_examples);
    assert_eq!(outcome.samples_accepted, 12_000);
    assert_eq!(outcome.latencies.len(), 21);

    let client = reqwest::Client::new();
    let count_url = format!("{}/api/v1/series/count", victoria.url());
    eventually("victoria-metrics to count 2000 series", Duration::from_secs(30), || async {
        let (_, body) = get_json(&client, &count_url, None).await.ok()?;
        (body["data"][0].as_u64() == Some(2_000)).then_some(())
    })
    .await?;
    let samples_url =
        format!("{}/api/v1/query?query=sum(count_over_time({{job=%22node%22}}[1h]))", victoria.url());
    eventually("victoria-metrics to count 12000 samples", Duration::from_secs(30), || async {
        let (_, body) = get_json(&client, &samples_url, None).await.ok()?;
        (body["data"]["result"][0]["value"][1] == "12000").then_some(())
    })
    .await?;
    Ok(())
}
