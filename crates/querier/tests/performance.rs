//! The read API over 100k series: label values and series answers are built straight into the
//! response buffer. Prints the timings (run with `--release --nocapture` for real figures).

mod support;

use std::time::{Duration, Instant};

use neocortex_querier::QuerierConfig;
use support::*;

const SERIES: usize = 100_000;

fn large_source() -> MemorySource {
    let series = (0..SERIES)
        .map(|index| {
            let instance = format!("host-{index:06}.example.org:9100");
            let pod = format!("pod-{}", index % 1000);
            series(
                &[
                    ("__name__", "node_cpu_seconds_total"),
                    ("instance", &instance),
                    ("job", "node"),
                    ("mode", "idle"),
                    ("pod", &pod),
                ],
                &[(T1, index as f64)],
            )
        })
        .collect();
    MemorySource::new().with_tenant("a", TenantData { series, metadata: Vec::new() })
}

async fn timed(router: &axum::Router, uri: &str) -> (Duration, Answer) {
    let started = Instant::now();
    let answer = get(router, "a", uri).await;
    (started.elapsed(), answer)
}

#[tokio::test]
async fn label_values_and_series_over_100k_series() {
    let router = router_with(large_source(), QuerierConfig::default());

    let (elapsed, answer) = timed(&router, "/label/instance/values").await;
    let values: serde_json::Value = serde_json::from_slice(&answer.body).expect("json");
    assert_eq!(values["data"].as_array().expect("array").len(), SERIES);
    println!("label values, {SERIES} distinct: {elapsed:?}, {} bytes", answer.body.len());
    assert!(elapsed < Duration::from_secs(10), "label values took {elapsed:?}");

    let (elapsed, answer) = timed(&router, "/series?match[]=node_cpu_seconds_total").await;
    let series: serde_json::Value = serde_json::from_slice(&answer.body).expect("json");
    assert_eq!(series["data"].as_array().expect("array").len(), SERIES);
    assert_eq!(
        series["data"][0],
        serde_json::json!({"__name__": "node_cpu_seconds_total", "instance": "host-000000.example.org:9100", "job": "node", "mode": "idle", "pod": "pod-0"})
    );
    println!("series, {SERIES} label sets: {elapsed:?}, {} bytes", answer.body.len());
    assert!(elapsed < Duration::from_secs(10), "series took {elapsed:?}");

    // Two overlapping selectors: the union is merged and deduplicated.
    let uri = "/series?match[]=node_cpu_seconds_total&match[]=%7Bjob%3D%22node%22%7D";
    let (elapsed, answer) = timed(&router, uri).await;
    let series: serde_json::Value = serde_json::from_slice(&answer.body).expect("json");
    assert_eq!(series["data"].as_array().expect("array").len(), SERIES);
    println!("series, 2 overlapping selectors: {elapsed:?}");
}
