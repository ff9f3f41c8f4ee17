//! Launches memcached on loopback: a free port, readiness checked with the `version` command, and
//! killed on drop (or earlier with [`MemcachedProcess::kill`], to test cache outages).

use std::process::Command;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::LaunchError;
use crate::ports::{free_port, retry_on_port_clash};
use crate::process::ManagedProcess;
use crate::prometheus_storage::binary_available;
use crate::wait::POLL_INTERVAL;

/// The memcached executable (Debian package `memcached`).
pub const MEMCACHED_BINARY: &str = "memcached";

/// How long memcached may take to answer `version`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// Whether a test needing memcached can run: true when the binary is installed. When it is not,
/// prints a notice and returns false, except under `CI=true`, where it panics saying what to
/// install (a missing server is a test failure in CI).
pub fn memcached_available(test: &str) -> bool {
    if binary_available(MEMCACHED_BINARY) {
        return true;
    }
    let in_ci = std::env::var("CI").is_ok_and(|value| value == "true");
    assert!(
        !in_ci,
        "CI=true but {MEMCACHED_BINARY} is not installed (apt-get install -y memcached); needed by {test}"
    );
    eprintln!("skipping {test}: {MEMCACHED_BINARY} is not installed (apt-get install -y memcached)");
    false
}

/// A running memcached on 127.0.0.1 (killed on drop).
#[derive(Debug)]
pub struct MemcachedProcess {
    process: ManagedProcess,
    port: u16,
}

impl MemcachedProcess {
    /// Starts memcached with 64 MiB of memory on a free loopback port and waits until it answers.
    pub async fn start() -> Result<MemcachedProcess, LaunchError> {
        MemcachedProcess::start_with_memory(64).await
    }

    /// Starts memcached with `megabytes` of item memory.
    pub async fn start_with_memory(megabytes: u32) -> Result<MemcachedProcess, LaunchError> {
        retry_on_port_clash(|| MemcachedProcess::start_once(megabytes)).await
    }

    async fn start_once(megabytes: u32) -> Result<MemcachedProcess, LaunchError> {
        let files_error = |source| LaunchError::Files { name: "memcached".to_owned(), source };
        let directory = tempfile::Builder::new().prefix("memcached-").tempdir().map_err(files_error)?;
        let port = free_port()?;
        let mut command = Command::new(MEMCACHED_BINARY);
        // `-u root` only matters when running as root (memcached refuses root without -u).
        command.args(["-l", "127.0.0.1", "-U", "0", "-t", "2", "-u", "root"]).args([
            "-p",
            &port.to_string(),
            "-m",
            &megabytes.to_string(),
        ]);
        let mut process = ManagedProcess::spawn("memcached", command, directory)?;
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if !process.is_running() {
                return Err(process.exited_error());
            }
            if answers_version(port).await {
                return Ok(MemcachedProcess { process, port });
            }
            if Instant::now() >= deadline {
                return Err(LaunchError::Timeout {
                    what: format!("memcached on port {port} to answer `version`"),
                    waited: STARTUP_TIMEOUT,
                    details: format!("; output:\n{}", process.output()),
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills memcached now (an outage); the port stays unanswered.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// The underlying process (pid, output, liveness).
    pub fn process(&mut self) -> &mut ManagedProcess {
        &mut self.process
    }
}

/// Whether a memcached on `port` answers the `version` command.
async fn answers_version(port: u16) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        stream.write_all(b"version\r\n").await.ok()?;
        let mut buffer = [0u8; 64];
        let read = stream.read(&mut buffer).await.ok()?;
        buffer[..read].starts_with(b"VERSION").then_some(())
    };
    tokio::time::timeout(Duration::from_secs(1), attempt).await.ok().flatten().is_some()
}
