//! The three servers under test, each started on loopback with a fresh data directory and the
//! same query limits (10-minute timeout, Prometheus's default 50M samples per query).

use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use neocortex_testkit::ports::free_port;
use neocortex_testkit::prometheus_storage::peak_rss_bytes;
use neocortex_testkit::wait::wait_for_http_ok;
use neocortex_testkit::{ManagedProcess, NeocortexProcess, PrometheusStorageProcess};

/// Which server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// The `neocortex` binary of this workspace.
    Neocortex,
    /// Prometheus (2.42) with its remote-write receiver.
    Prometheus,
    /// Single-node VictoriaMetrics (1.79).
    VictoriaMetrics,
}

impl Target {
    /// The name used on the command line and in the report.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Target::Neocortex => "neocortex",
            Target::Prometheus => "prometheus",
            Target::VictoriaMetrics => "victoria-metrics",
        }
    }

    /// Parses a command-line name.
    pub(crate) fn parse(name: &str) -> anyhow::Result<Target> {
        [Target::Neocortex, Target::Prometheus, Target::VictoriaMetrics]
            .into_iter()
            .find(|target| target.name() == name)
            .with_context(|| format!("unknown target {name:?}"))
    }
}

/// Executables of the servers.
#[derive(Clone, Debug)]
pub(crate) struct Binaries {
    /// `neocortex`.
    pub(crate) neocortex: String,
    /// `prometheus`.
    pub(crate) prometheus: String,
    /// `victoria-metrics`.
    pub(crate) victoria_metrics: String,
}

/// A started server: where to write and query, and its process for RSS readings.
pub(crate) enum Server {
    /// Neocortex.
    Neocortex(NeocortexProcess),
    /// Prometheus.
    Prometheus(PrometheusStorageProcess),
    /// VictoriaMetrics.
    VictoriaMetrics { process: ManagedProcess, port: u16 },
}

impl Server {
    /// Starts `target` and waits until it is ready.
    pub(crate) async fn start(target: Target, binaries: &Binaries) -> anyhow::Result<Server> {
        Ok(match target {
            Target::Neocortex => Server::Neocortex(
                NeocortexProcess::start(
                    &binaries.neocortex,
                    &[
                        "-auth.enabled=false",
                        "-distributor.ingestion-rate-limit=1000000000",
                        "-distributor.ingestion-burst-size=1000000000",
                        "-ingester.max-series-per-metric=0",
                        "-ingester.max-series-per-user=0",
                        "-querier.timeout=10m",
                    ],
                )
                .await?,
            ),
            Target::Prometheus => Server::Prometheus(
                PrometheusStorageProcess::start(&binaries.prometheus, &["--query.timeout=10m"]).await?,
            ),
            Target::VictoriaMetrics => start_victoria_metrics(&binaries.victoria_metrics).await?,
        })
    }

    /// The remote-write URL.
    pub(crate) fn write_url(&self) -> String {
        match self {
            Server::Neocortex(process) => process.push_url(),
            Server::Prometheus(process) => process.write_url(),
            Server::VictoriaMetrics { port, .. } => format!("http://127.0.0.1:{port}/api/v1/write"),
        }
    }

    /// The Prometheus-compatible query API root (`…/api/v1`).
    pub(crate) fn api_url(&self) -> String {
        match self {
            Server::Neocortex(process) => process.prometheus_api_url(),
            Server::Prometheus(process) => process.api_url(),
            Server::VictoriaMetrics { port, .. } => format!("http://127.0.0.1:{port}/api/v1"),
        }
    }

    /// Extra query parameters: VictoriaMetrics must not answer from its rollup result cache.
    pub(crate) fn extra_params(&self) -> &'static [(&'static str, &'static str)] {
        match self {
            Server::VictoriaMetrics { .. } => &[("nocache", "1")],
            _ => &[],
        }
    }

    /// The process id.
    pub(crate) fn pid(&mut self) -> u32 {
        match self {
            Server::Neocortex(process) => process.process().pid(),
            Server::Prometheus(process) => process.process().pid(),
            Server::VictoriaMetrics { process, .. } => process.pid(),
        }
    }

    /// Peak resident set size so far, in bytes.
    pub(crate) fn peak_rss(&mut self) -> Option<u64> {
        peak_rss_bytes(self.pid())
    }

    /// Current resident set size, in bytes.
    pub(crate) fn current_rss(&mut self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
        let kilobytes: u64 =
            line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kilobytes * 1024)
    }
}

async fn start_victoria_metrics(binary: &str) -> anyhow::Result<Server> {
    let directory = tempfile_dir()?;
    let port = free_port()?;
    let mut command = Command::new(binary);
    command
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .arg(format!("-storageDataPath={}", directory.path().join("data").display()))
        .arg("-search.latencyOffset=0s")
        .arg("-search.maxQueryDuration=10m")
        .arg("-loggerLevel=WARN");
    let mut process = ManagedProcess::spawn("victoria-metrics", command, directory)?;
    wait_for_http_ok(&mut process, &format!("http://127.0.0.1:{port}/health"), Duration::from_secs(60))
        .await?;
    Ok(Server::VictoriaMetrics { process, port })
}

fn tempfile_dir() -> anyhow::Result<tempfile::TempDir> {
    Ok(tempfile::Builder::new().prefix("victoria-metrics-bench-").tempdir()?)
}
