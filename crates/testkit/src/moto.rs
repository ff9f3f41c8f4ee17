//! Launches `moto_server` (PyPI `moto[server]`): real S3 and DynamoDB HTTP APIs on one loopback
//! port, state in memory, gone when the process is killed (on drop).

use std::process::Command;
use std::time::Duration;

use crate::error::LaunchError;
use crate::launch::{setup_outcome, start_on_free_port, Readiness};
use crate::process::ManagedProcess;

/// How long moto may take to answer (Python start-up is slow on a busy machine).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// The executable, on the PATH.
pub const MOTO_BINARY: &str = "moto_server";

/// What to install when `moto_server` is missing.
pub const MOTO_INSTALL_HINT: &str = "pip install 'moto[server]'";

/// A running moto server (killed on drop).
#[derive(Debug)]
pub struct MotoProcess {
    process: ManagedProcess,
    port: u16,
}

/// Whether `moto_server` can be started from the PATH.
pub fn moto_available() -> bool {
    Command::new(MOTO_BINARY)
        .arg("--help")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

impl MotoProcess {
    /// Starts `moto_server` on a free 127.0.0.1 port and waits until it answers.
    pub async fn start() -> Result<MotoProcess, LaunchError> {
        let build = |port: u16, _: &std::path::Path| {
            let mut command = Command::new(MOTO_BINARY);
            command.arg("-H").arg("127.0.0.1").arg("-p").arg(port.to_string());
            Ok(command)
        };
        let ready = Readiness::HttpOk("/moto-api/");
        let (process, port) = start_on_free_port(MOTO_BINARY, build, ready, STARTUP_TIMEOUT).await?;
        Ok(MotoProcess { process, port })
    }

    /// Starts moto when it is installed. Without it: `Ok(None)` with a printed notice, or,
    /// under `CI=true`, an error saying what to install.
    pub async fn start_or_skip(test: &str) -> Result<Option<MotoProcess>, LaunchError> {
        if moto_available() {
            return MotoProcess::start().await.map(Some);
        }
        if std::env::var("CI").is_ok_and(|value| value == "true") {
            return Err(LaunchError::Spawn {
                name: MOTO_BINARY.to_owned(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{MOTO_BINARY} is not installed; CI needs it: {MOTO_INSTALL_HINT}"),
                ),
            });
        }
        eprintln!("skipping {test}: {MOTO_BINARY} is not installed ({MOTO_INSTALL_HINT})");
        Ok(None)
    }

    /// `http://127.0.0.1:PORT`, the endpoint of every service.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates an S3 bucket (moto takes unsigned requests; a bucket that exists is kept).
    pub async fn create_bucket(&self, name: &str) -> Result<(), String> {
        let client = reqwest::Client::new();
        let response = client
            .put(format!("{}/{name}", self.url()))
            .send()
            .await
            .map_err(|err| format!("creating bucket {name}: {err}"))?;
        setup_outcome(&format!("bucket {name}"), response).await.map_err(|err| err.to_string())
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The underlying process (pid, output, liveness).
    pub fn process(&mut self) -> &mut ManagedProcess {
        &mut self.process
    }
}
