//! Launches Google's Bigtable emulator (`cbtemulator`) on loopback.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::error::LaunchError;
use crate::external::find_binary;
use crate::ports::{free_port, retry_on_port_clash};
use crate::process::ManagedProcess;
use crate::wait::wait_for_output_line;

/// Where Debian's `google-cloud-cli-bigtable-emulator` package installs the emulator.
pub const CBTEMULATOR_PATH: &str = "/usr/lib/google-cloud-sdk/platform/bigtable-emulator/cbtemulator";

/// What to install when the emulator is missing.
pub const CBTEMULATOR_INSTALL_HINT: &str = "cbtemulator is not installed: install the Debian package \
     google-cloud-cli-bigtable-emulator (it puts the emulator at \
     /usr/lib/google-cloud-sdk/platform/bigtable-emulator/cbtemulator) or set CBTEMULATOR";

/// How long the emulator may take to listen.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The emulator binary: `$CBTEMULATOR`, `cbtemulator` on the PATH, or the Debian package's path.
pub fn cbtemulator_binary() -> Option<PathBuf> {
    find_binary("CBTEMULATOR", "cbtemulator", &[PathBuf::from(CBTEMULATOR_PATH)])
}

/// A running Bigtable emulator (in memory; killed on drop).
#[derive(Debug)]
pub struct BigtableEmulatorProcess {
    process: ManagedProcess,
    port: u16,
}

impl BigtableEmulatorProcess {
    /// Starts `binary` on a free loopback port and waits until it listens.
    pub async fn start(binary: &std::path::Path) -> Result<BigtableEmulatorProcess, LaunchError> {
        retry_on_port_clash(|| BigtableEmulatorProcess::start_once(binary)).await
    }

    async fn start_once(binary: &std::path::Path) -> Result<BigtableEmulatorProcess, LaunchError> {
        let files_error = |source| LaunchError::Files { name: "cbtemulator".to_owned(), source };
        let directory =
            tempfile::Builder::new().prefix("cbtemulator-test-").tempdir().map_err(files_error)?;
        let port = free_port()?;
        let mut command = Command::new(binary);
        command.arg("-host").arg("127.0.0.1").arg("-port").arg(port.to_string());
        let mut process = ManagedProcess::spawn("cbtemulator", command, directory)?;
        wait_for_output_line(&mut process, "running on", STARTUP_TIMEOUT).await?;
        Ok(BigtableEmulatorProcess { process, port })
    }

    /// `127.0.0.1:PORT`, the form `BIGTABLE_EMULATOR_HOST` takes.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The underlying process (pid, output, liveness).
    pub fn process(&mut self) -> &mut ManagedProcess {
        &mut self.process
    }
}
