//! Launches real VictoriaMetrics binaries: `vmagent` (a remote-write client that can send
//! `X-Scope-OrgID`) and the single-node `victoria-metrics` server.

use std::process::Command;
use std::time::Duration;

use crate::error::LaunchError;
use crate::launch::{start_on_free_port, Readiness};
use crate::process::ManagedProcess;

/// How long a VictoriaMetrics binary may take to answer `/health`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// What the launched vmagent does.
#[derive(Clone, Debug)]
pub struct VmagentOptions {
    /// The executable (`vmagent` on the PATH by default).
    pub binary: String,
    /// Remote-write URL.
    pub remote_write_url: String,
    /// Extra headers sent with every remote-write request, e.g. `("X-Scope-OrgID", "team-v")`.
    pub headers: Vec<(String, String)>,
    /// Interval of its self-scrape.
    pub scrape_interval: Duration,
}

impl VmagentOptions {
    /// Options that scrape vmagent itself every second and write to `remote_write_url`.
    pub fn new(remote_write_url: impl Into<String>) -> VmagentOptions {
        VmagentOptions {
            binary: "vmagent".to_owned(),
            remote_write_url: remote_write_url.into(),
            headers: Vec::new(),
            scrape_interval: Duration::from_secs(1),
        }
    }
}

/// A running vmagent (killed on drop).
#[derive(Debug)]
pub struct VmagentProcess {
    process: ManagedProcess,
    port: u16,
}

impl VmagentProcess {
    /// Starts vmagent on a free loopback port and waits for `/health`.
    pub async fn start(options: &VmagentOptions) -> Result<VmagentProcess, LaunchError> {
        let build = |port: u16, directory: &std::path::Path| {
            let config_path = directory.join("scrape.yml");
            let interval_ms = options.scrape_interval.as_millis().max(1);
            let config = format!(
                "global:\n  scrape_interval: {interval_ms}ms\n\
                 scrape_configs:\n  - job_name: vmagent\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
            );
            std::fs::write(&config_path, config)?;
            let mut command = Command::new(&options.binary);
            command
                .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
                .arg(format!("-promscrape.config={}", config_path.display()))
                .arg(format!("-remoteWrite.url={}", options.remote_write_url))
                .arg(format!("-remoteWrite.tmpDataPath={}", directory.join("queue").display()))
                .arg("-remoteWrite.flushInterval=200ms");
            if !options.headers.is_empty() {
                let headers: Vec<String> =
                    options.headers.iter().map(|(name, value)| format!("{name}:{value}")).collect();
                // vmagent separates several headers of one URL with "^^".
                command.arg(format!("-remoteWrite.headers={}", headers.join("^^")));
            }
            Ok(command)
        };
        let (process, port) =
            start_on_free_port("vmagent", build, Readiness::HttpOk("/health"), STARTUP_TIMEOUT).await?;
        Ok(VmagentProcess { process, port })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The address vmagent scrapes itself at, which is its `instance` label.
    pub fn instance(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The underlying process (pid, output, liveness).
    pub fn process(&mut self) -> &mut ManagedProcess {
        &mut self.process
    }
}

/// A running single-node VictoriaMetrics (killed on drop), with a fresh data directory.
#[derive(Debug)]
pub struct VictoriaMetricsProcess {
    process: ManagedProcess,
    port: u16,
}

impl VictoriaMetricsProcess {
    /// Starts `victoria-metrics` (the Debian name of the single-node binary) on a free loopback
    /// port and waits for `/health`.
    pub async fn start() -> Result<VictoriaMetricsProcess, LaunchError> {
        VictoriaMetricsProcess::start_with_binary("victoria-metrics").await
    }

    /// Same as [`VictoriaMetricsProcess::start`] with another executable.
    pub async fn start_with_binary(binary: &str) -> Result<VictoriaMetricsProcess, LaunchError> {
        let build = |port: u16, directory: &std::path::Path| {
            let mut command = Command::new(binary);
            command
                .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
                .arg(format!("-storageDataPath={}", directory.join("data").display()))
                .arg("-search.latencyOffset=0s");
            Ok(command)
        };
        let ready = Readiness::HttpOk("/health");
        let (process, port) = start_on_free_port("victoria-metrics", build, ready, STARTUP_TIMEOUT).await?;
        Ok(VictoriaMetricsProcess { process, port })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The Prometheus remote-write URL it accepts.
    pub fn write_url(&self) -> String {
        format!("{}/api/v1/write", self.url())
    }

    /// The underlying process (pid, output, liveness).
    pub fn process(&mut self) -> &mut ManagedProcess {
        &mut self.process
    }
}
