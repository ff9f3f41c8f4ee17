//! Launches Google's Bigtable emulator (`cbtemulator`) on loopback.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::error::LaunchError;
use crate::external::find_binary;
use crate::launch::{start_on_free_port, Readiness};
use crate::process::ManagedProcess;

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
        let build = |port: u16, _: &std::path::Path| {
            let mut command = Command::new(binary);
            command.arg("-host").arg("127.0.0.1").arg("-port").arg(port.to_string());
            Ok(command)
        };
        let ready = Readiness::OutputLine("running on");
        let (process, port) = start_on_free_port("cbtemulator", build, ready, STARTUP_TIMEOUT).await?;
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
