//! Command line of the load generator.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::Parser;
use neocortex_loadgen::encode::{encode_workload, BatchingSpec};
use neocortex_loadgen::report::{Report, RunDescription};
use neocortex_loadgen::send::{send_workload, SendOptions};
use neocortex_loadgen::workload::{Workload, WorkloadSpec};

/// Replays a deterministic Prometheus remote-write workload against a push URL.
#[derive(Debug, Parser)]
#[command(name = "neocortex-loadgen", version)]
struct Flags {
    /// Remote-write push URL, e.g. http://127.0.0.1:9009/api/v1/push
    #[arg(long)]
    url: String,
    /// Number of distinct series.
    #[arg(long, default_value_t = 100_000)]
    series: usize,
    /// Samples per series.
    #[arg(long, default_value_t = 120)]
    samples_per_series: usize,
    /// Scrape interval between two samples of a series (Prometheus duration: 15s, 1m, 500ms).
    #[arg(long, default_value = "15s")]
    interval: String,
    /// Parallel connections; each owns a fixed share of the series.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Series carried by one request.
    #[arg(long, default_value_t = 500)]
    series_per_request: usize,
    /// Consecutive samples of each series carried by one request (1 = one scrape round).
    #[arg(long, default_value_t = 1)]
    samples_per_request: usize,
    /// Tenant sent as X-Scope-OrgID.
    #[arg(long)]
    tenant: Option<String>,
    /// HTTP basic auth as user:password.
    #[arg(long)]
    basic_auth: Option<String>,
    /// Timestamp of the first scrape round in Unix seconds; by default the last sample ends now.
    #[arg(long)]
    start: Option<f64>,
    /// Seed of the random values; the same seed and start give byte-identical requests.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Per-request timeout (Prometheus duration).
    #[arg(long, default_value = "30s")]
    timeout: String,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Exit with status 2 when any request was not answered with 2xx.
    #[arg(long)]
    fail_on_error: bool,
}

fn parse_duration(text: &str, flag: &str) -> anyhow::Result<i64> {
    let millis = neocortex_core::duration::parse_prometheus_duration_ms(text)
        .map_err(|error| anyhow::anyhow!("invalid --{flag} {text:?}: {error}"))?;
    if millis <= 0 {
        bail!("--{flag} must be positive, got {text:?}");
    }
    Ok(millis)
}

fn parse_basic_auth(text: &str) -> anyhow::Result<(String, String)> {
    let (user, password) = text.split_once(':').context("--basic-auth must be user:password")?;
    Ok((user.to_owned(), password.to_owned()))
}

fn now_ms() -> anyhow::Result<i64> {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).context("the clock is before 1970")?;
    i64::try_from(since_epoch.as_millis()).context("the clock is too far in the future")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    if flags.series == 0 || flags.samples_per_series == 0 || flags.connections == 0 {
        bail!("--series, --samples-per-series and --connections must be positive");
    }
    let interval_ms = parse_duration(&flags.interval, "interval")?;
    let timeout_ms = parse_duration(&flags.timeout, "timeout")?;
    let basic_auth = flags.basic_auth.as_deref().map(parse_basic_auth).transpose()?;
    let start_ms = match flags.start {
        Some(seconds) => (seconds * 1000.0).round() as i64,
        None => WorkloadSpec::start_for_end_at(now_ms()?, flags.samples_per_series, interval_ms),
    };

    let spec = WorkloadSpec {
        series: flags.series,
        samples_per_series: flags.samples_per_series,
        interval_ms,
        start_ms,
        seed: flags.seed,
    };
    let batching = BatchingSpec {
        series_per_request: flags.series_per_request,
        samples_per_request: flags.samples_per_request,
        connections: flags.connections,
    };
    let encode_started = Instant::now();
    let encoded = encode_workload(&Workload::new(spec), &batching);
    let encode_time = encode_started.elapsed();
    eprintln!(
        "encoded {} requests ({} samples, {:.1} MiB) in {:.2} s; sending",
        encoded.request_count(),
        encoded.total_samples,
        encoded.total_bytes as f64 / (1024.0 * 1024.0),
        encode_time.as_secs_f64()
    );

    let run = RunDescription {
        url: flags.url.clone(),
        series: flags.series,
        samples_per_series: flags.samples_per_series,
        connections: flags.connections,
        bytes_sent: encoded.total_bytes,
        encode_time,
    };
    let options = SendOptions {
        url: flags.url,
        tenant: flags.tenant,
        basic_auth,
        timeout: Duration::from_millis(timeout_ms.unsigned_abs()),
    };
    let outcome = send_workload(encoded, &options).await?;
    let report = Report::new(run, &outcome);
    if flags.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render_text());
    }
    if flags.fail_on_error && report.failed_requests > 0 {
        std::process::exit(2);
    }
    Ok(())
}
