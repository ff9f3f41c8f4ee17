//! Launches real VictoriaMetrics binaries: `vmagent` (a remote-write client that can send
//! `X-Scope-OrgID`) and the single-node `victoria-metrics` server.

use std::process::Command;
use std::time::Duration;

use crate::error::LaunchError;
use crate::ports::{free_port, retry_on_port_clash};
use crate::process::ManagedProcess;
use crate::wait::wait_for_http_ok;

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
        retry_on_port_clash(|| VmagentProcess::start_once(options)).await
    }

    async fn start_once(options: &VmagentOptions) -> Result<VmagentProcess, LaunchError> {
        let files_error = |source| LaunchError::Files { name: "vmagent".to_owned(), source };
        let directory = tempfile::Builder::new().prefix("vmagent-test-").tempdir().map_err(files_error)?;
        let port = free_port()?;
        let config_path = directory.path().join("scrape.yml");
        let interval_ms = options.scrape_interval.as_millis().max(1);
        let config = format!(
            "global:\n  scrape_interval: {interval_ms}ms\n\
             scrape_configs:\n  - job_name: vmagent\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        );
        std::fs::write(&config_path, config).map_err(files_error)?;
        let mut command = Command::new(&options.binary);
        command
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg(format!("-promscrape.config={}", config_path.display()))
            .arg(format!("-remoteWrite.url={}", options.remote_write_url))
            .arg(format!("-remoteWrite.tmpDataPath={}", directory.path().join("queue").display()))
            .arg("-remoteWrite.flushInterval=200ms");
        if !options.headers.is_empty() {
            let headers: Vec<String> =
                options.headers.iter().map(|(name, value)| format!("{name}:{value}")).collect();
            // vmagent separates several headers of one URL with "^^".
            command.arg(format!("-remoteWrite.headers={}", headers.join("^^")));
        }
        let mut process = ManagedProcess::spawn("vmagent", command, directory)?;
        wait_for_http_ok(&mut process, &format!("http://127.0.0.1:{port}/health"), STARTUP_TIMEOUT).await?;
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
        retry_on_port_clash(|| VictoriaMetricsProcess::start_once(binary)).await
    }

    async fn start_once(binary: &str) -> Result<VictoriaMetricsProcess, LaunchError> {
        let files_error = |source| LaunchError::Files { name: "victoria-metrics".to_owned(), source };
        let directory =
            tempfile::Builder::new().prefix("victoria-metrics-test-").tempdir().map_err(files_error)?;
        let port = free_port()?;
        let mut command = Command::new(binary);
        command
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg(format!("-storageDataPath={}", directory.path().join("data").display()))
            .arg("-search.latencyOffset=0s");
        let mut process = ManagedProcess::spawn("victoria-metrics", command, directory)?;
        wait_for_http_ok(&mut process, &format!("http://127.0.0.1:{port}/health"), STARTUP_TIMEOUT).await?;
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
