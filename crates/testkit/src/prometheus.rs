//! Launches a real Prometheus (2.42 on these machines) that scrapes itself and, optionally,
//! remote-writes what it scrapes to a URL.

use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

use crate::error::LaunchError;
use crate::launch::{start_on_free_port, Readiness};
use crate::process::ManagedProcess;

/// How long Prometheus may take to become ready.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Where Prometheus remote-writes and how it authenticates.
#[derive(Clone, Debug, Default)]
pub struct RemoteWriteTarget {
    /// The push URL.
    pub url: String,
    /// HTTP basic auth `(user, password)`.
    pub basic_auth: Option<(String, String)>,
}

/// What the launched Prometheus does.
#[derive(Clone, Debug)]
pub struct PrometheusOptions {
    /// The executable (`prometheus` on the PATH by default).
    pub binary: String,
    /// Interval of its self-scrape.
    pub scrape_interval: Duration,
    /// Remote-write destination, if any.
    pub remote_write: Option<RemoteWriteTarget>,
    /// Whether to accept remote write itself (`--web.enable-remote-write-receiver`).
    pub remote_write_receiver: bool,
}

impl Default for PrometheusOptions {
    fn default() -> Self {
        PrometheusOptions {
            binary: "prometheus".to_owned(),
            scrape_interval: Duration::from_secs(1),
            remote_write: None,
            remote_write_receiver: false,
        }
    }
}

/// A running Prometheus (killed on drop).
#[derive(Debug)]
pub struct PrometheusProcess {
    process: ManagedProcess,
    port: u16,
}

impl PrometheusProcess {
    /// Starts Prometheus on a free loopback port with a fresh data directory and waits for `/-/ready`.
    pub async fn start(options: &PrometheusOptions) -> Result<PrometheusProcess, LaunchError> {
        let build = |port: u16, directory: &std::path::Path| {
            let config_path = directory.join("prometheus.yml");
            std::fs::write(&config_path, prometheus_config(options, port))?;
            let mut command = Command::new(&options.binary);
            command
                .arg(format!("--config.file={}", config_path.display()))
                .arg(format!("--storage.tsdb.path={}", directory.join("data").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--log.level=info");
            if options.remote_write_receiver {
                command.arg("--web.enable-remote-write-receiver");
            }
            Ok(command)
        };
        let ready = Readiness::HttpOk("/-/ready");
        let (process, port) = start_on_free_port("prometheus", build, ready, STARTUP_TIMEOUT).await?;
        Ok(PrometheusProcess { process, port })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The address Prometheus scrapes itself at (`127.0.0.1:PORT`), which is its `instance` label.
    pub fn instance(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The underlying process (pid, output, liveness).
    pub fn process(&mut self) -> &mut ManagedProcess {
        &mut self.process
    }
}

/// The YAML config: a self-scrape job named `prometheus` and the optional remote write with a
/// short batch deadline so samples leave within about a second.
pub fn prometheus_config(options: &PrometheusOptions, port: u16) -> String {
    let interval_ms = options.scrape_interval.as_millis().max(1);
    let mut config = format!(
        "global:\n  scrape_interval: {interval_ms}ms\n  evaluation_interval: {interval_ms}ms\n\
         scrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
    );
    if let Some(target) = &options.remote_write {
        let _ = write!(config, "remote_write:\n  - url: {}\n", yaml_string(&target.url));
        if let Some((user, password)) = &target.basic_auth {
            let _ = write!(
                config,
                "    basic_auth:\n      username: {}\n      password: {}\n",
                yaml_string(user),
                yaml_string(password)
            );
        }
        config.push_str(
            "    queue_config:\n      batch_send_deadline: 500ms\n      min_backoff: 100ms\n      max_backoff: 1s\n",
        );
    }
    config
}

/// A YAML double-quoted scalar (JSON strings are valid YAML).
fn yaml_string(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_self_scrape_and_remote_write_with_basic_auth() {
        let options = PrometheusOptions {
            remote_write: Some(RemoteWriteTarget {
                url: "http://127.0.0.1:1/api/v1/push".to_owned(),
                basic_auth: Some(("team-a".to_owned(), "secret".to_owned())),
            }),
            ..PrometheusOptions::default()
        };
        let config = prometheus_config(&options, 9999);
        assert!(config.contains("targets: ['127.0.0.1:9999']"), "{config}");
        assert!(config.contains("url: \"http://127.0.0.1:1/api/v1/push\""), "{config}");
        assert!(config.contains("username: \"team-a\""), "{config}");
        assert!(config.contains("scrape_interval: 1000ms"), "{config}");
    }
}
