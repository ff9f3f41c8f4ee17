//! Launches Azurite's Blob service (npm package `azurite`) on loopback, in memory, and creates
//! containers in it with the emulator's well-known account and key.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use neocortex_core::calendar::civil_from_days;
use sha2::{Digest, Sha256};

use crate::error::LaunchError;
use crate::external::find_binary;
use crate::launch::{setup_outcome, start_on_free_port, Readiness};
use crate::process::ManagedProcess;

/// Azurite's well-known account.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known account key (public; it only opens the emulator).
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// What to install when Azurite is missing.
pub const AZURITE_INSTALL_HINT: &str = "azurite is not installed: npm install --prefix \
     $HOME/.cache/azurite azurite (.ci/run does this) or set AZURITE_BLOB to its azurite-blob";

/// How long Azurite may take to listen.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// The REST API version the container request is signed for.
const API_VERSION: &str = "2021-08-06";

/// The `azurite-blob` binary: `$AZURITE_BLOB`, `azurite-blob` on the PATH, or the install
/// under `$HOME/.cache/azurite` that `.ci/run` makes.
pub fn azurite_binary() -> Option<PathBuf> {
    let cached = std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".cache/azurite/node_modules/.bin/azurite-blob"))
        .into_iter()
        .collect::<Vec<_>>();
    find_binary("AZURITE_BLOB", "azurite-blob", &cached)
}

/// A running Azurite Blob service (killed on drop).
#[derive(Debug)]
pub struct AzuriteProcess {
    process: ManagedProcess,
    port: u16,
}

impl AzuriteProcess {
    /// Starts `binary` (`azurite-blob`) on a free loopback port and waits until it listens.
    pub async fn start(binary: &std::path::Path) -> Result<AzuriteProcess, LaunchError> {
        let build = |port: u16, _: &std::path::Path| {
            let mut command = Command::new(binary);
            command
                .args(["--blobHost", "127.0.0.1", "--blobPort"])
                .arg(port.to_string())
                .args(["--inMemoryPersistence", "--extentMemoryLimit", "256"])
                .args(["--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent"]);
            Ok(command)
        };
        let ready = Readiness::OutputLine("successfully listens");
        let (process, port) = start_on_free_port("azurite", build, ready, STARTUP_TIMEOUT).await?;
        Ok(AzuriteProcess { process, port })
    }

    /// The blob service URL of the well-known account (path style):
    /// `http://127.0.0.1:PORT/devstoreaccount1`.
    pub fn blob_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{AZURITE_ACCOUNT}", self.port)
    }

    /// Creates the container `name`, signed with the well-known shared key.
    pub async fn create_container(&self, name: &str) -> Result<(), LaunchError> {
        let date = http_date(SystemTime::now());
        let string_to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{API_VERSION}\n\
             /{AZURITE_ACCOUNT}/{AZURITE_ACCOUNT}/{name}\nrestype:container"
        );
        let key = base64::engine::general_purpose::STANDARD.decode(AZURITE_KEY).map_err(|err| {
            LaunchError::Setup { what: format!("container {name}"), message: format!("bad key: {err}") }
        })?;
        let signature =
            base64::engine::general_purpose::STANDARD.encode(hmac_sha256(&key, string_to_sign.as_bytes()));
        let response = reqwest::Client::new()
            .put(format!("{}/{name}?restype=container", self.blob_endpoint()))
            .header("x-ms-date", &date)
            .header("x-ms-version", API_VERSION)
            .header("Authorization", format!("SharedKey {AZURITE_ACCOUNT}:{signature}"))
            .header("Content-Length", "0")
            .send()
            .await?;
        setup_outcome(&format!("container {name}"), response).await
    }

    /// The underlying process (pid, output, liveness).
    pub fn process(&mut self) -> &mut ManagedProcess {
        &mut self.process
    }
}

/// HMAC-SHA256 (RFC 2104), as Azure's shared-key signatures use it.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block_key = [0u8; BLOCK];
    if key.len() > BLOCK {
        block_key[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block_key[..key.len()].copy_from_slice(key);
    }
    let inner_pad: Vec<u8> = block_key.iter().map(|byte| byte ^ 0x36).collect();
    let outer_pad: Vec<u8> = block_key.iter().map(|byte| byte ^ 0x5c).collect();
    let inner = Sha256::new().chain_update(&inner_pad).chain_update(message).finalize();
    Sha256::new().chain_update(&outer_pad).chain_update(inner).finalize().into()
}

/// `time` as an RFC 1123 HTTP date (`Wed, 25 Nov 2026 17:11:26 GMT`).
fn http_date(time: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let seconds = time.duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs());
    let days = seconds / 86_400;
    let (hour, minute, second) = (seconds % 86_400 / 3600, seconds % 3600 / 60, seconds % 60);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{}, {day:02} {} {year} {hour:02}:{minute:02}:{second:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        let later = UNIX_EPOCH + Duration::from_secs(1_795_626_686);
        assert_eq!(http_date(later), "Wed, 25 Nov 2026 17:11:26 GMT");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(http_date(leap), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231 test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|byte| format!("{byte:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
