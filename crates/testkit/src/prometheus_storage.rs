//! Launches a real Prometheus used only as a store to compare query answers with: it scrapes
//! nothing (so no sample at the wall-clock time moves its head past backfilled data) and accepts
//! remote write, or serves TSDB blocks prepared in its data directory beforehand.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::error::LaunchError;
use crate::launch::{start_on_free_port, Readiness};
use crate::process::ManagedProcess;

/// How long Prometheus may take to become ready (replaying a large head takes a while).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);

/// A running scrape-less Prometheus with the remote-write receiver on (killed on drop).
#[derive(Debug)]
pub struct PrometheusStorageProcess {
    process: ManagedProcess,
    port: u16,
}

impl PrometheusStorageProcess {
    /// Starts `binary` on a free loopback port with an empty data directory, no scrape jobs,
    /// `--web.enable-remote-write-receiver` and `extra_args`, and waits for `/-/ready`.
    pub async fn start(binary: &str, extra_args: &[&str]) -> Result<PrometheusStorageProcess, LaunchError> {
        let build = |port: u16, directory: &Path| {
            let config_path = directory.join("prometheus.yml");
            std::fs::write(&config_path, "global: {}\nscrape_configs: []\n")?;
            let mut command = Command::new(binary);
            command
                .arg(format!("--config.file={}", config_path.display()))
                .arg(format!("--storage.tsdb.path={}", directory.join("data").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--web.enable-remote-write-receiver")
                .arg("--log.level=warn")
                .args(extra_args);
            Ok(command)
        };
        let ready = Readiness::HttpOk("/-/ready");
        let (process, port) = start_on_free_port("prometheus", build, ready, STARTUP_TIMEOUT).await?;
        Ok(PrometheusStorageProcess { process, port })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The remote-write receiver URL.
    pub fn write_url(&self) -> String {
        format!("{}/api/v1/write", self.url())
    }

    /// The query API root, `http://127.0.0.1:PORT/api/v1`.
    pub fn api_url(&self) -> String {
        format!("{}/api/v1", self.url())
    }

    /// The underlying process (pid, output, liveness).
    pub fn process(&mut self) -> &mut ManagedProcess {
        &mut self.process
    }
}

/// Whether `binary` can be found: an existing path, or a name found in a `PATH` directory.
pub fn binary_available(binary: &str) -> bool {
    if binary.contains('/') {
        return Path::new(binary).is_file();
    }
    let Some(path) = std::env::var_os("PATH") else { return false };
    std::env::split_paths(&path).any(|directory| directory.join(binary).is_file())
}

/// The peak resident set size of process `pid` in bytes (`VmHWM` of `/proc/PID/status`), when
/// the kernel reports it.
pub fn peak_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kilobytes: u64 =
        line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kilobytes * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_binaries_on_the_path_and_reads_own_peak_rss() {
        assert!(binary_available("sh"));
        assert!(!binary_available("no-such-binary-anywhere-42"));
        let own = peak_rss_bytes(std::process::id()).expect("linux reports VmHWM");
        assert!(own > 0);
    }
}
