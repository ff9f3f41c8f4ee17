//! Launches the real `neocortex` binary on loopback with ports chosen by the kernel.
//!
//! The binary is started with `-server.http-listen-port=0 -server.grpc-listen-port=0` on 127.0.0.1
//! and prints `listening on http=127.0.0.1:PORT grpc=127.0.0.1:PORT` once bound; the launcher reads
//! the ports from that line, then polls `/ready`.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::error::LaunchError;
use crate::process::{ManagedProcess, WorkDir};
use crate::wait::{wait_for_http_ok, wait_for_output_line};

/// How long the binary may take to bind its ports and to report ready.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `neocortex` process (killed on drop).
#[derive(Debug)]
pub struct NeocortexProcess {
    process: ManagedProcess,
    http_addr: SocketAddr,
    grpc_addr: SocketAddr,
}

impl NeocortexProcess {
    /// Starts `binary` (in tests: `env!("CARGO_BIN_EXE_neocortex")`) with `extra_args` after the
    /// loopback listen flags, in a fresh scratch directory (so `./data` lands there), and waits
    /// until `/ready` answers 200.
    pub async fn start(
        binary: impl AsRef<Path>,
        extra_args: &[&str],
    ) -> Result<NeocortexProcess, LaunchError> {
        let mut neocortex = NeocortexProcess::start_unready(binary, extra_args).await?;
        let ready_url = format!("{}/ready", neocortex.http_url());
        wait_for_http_ok(&mut neocortex.process, &ready_url, STARTUP_TIMEOUT).await?;
        Ok(neocortex)
    }

    /// Starts `binary` like [`NeocortexProcess::start`] but with `directory` as its working
    /// directory, which outlives the process: a restart in the same directory finds `./data`.
    pub async fn start_in(
        binary: impl AsRef<Path>,
        directory: &Path,
        extra_args: &[&str],
    ) -> Result<NeocortexProcess, LaunchError> {
        let mut neocortex =
            NeocortexProcess::spawn(binary, WorkDir::Kept(directory.to_path_buf()), extra_args).await?;
        let ready_url = format!("{}/ready", neocortex.http_url());
        wait_for_http_ok(&mut neocortex.process, &ready_url, STARTUP_TIMEOUT).await?;
        Ok(neocortex)
    }

    /// Starts the binary and waits only until it has bound its ports, not until `/ready`.
    pub async fn start_unready(
        binary: impl AsRef<Path>,
        extra_args: &[&str],
    ) -> Result<NeocortexProcess, LaunchError> {
        let directory = tempfile::Builder::new()
            .prefix("neocortex-test-")
            .tempdir()
            .map_err(|source| LaunchError::Files { name: "neocortex".to_owned(), source })?;
        NeocortexProcess::spawn(binary, WorkDir::Scratch(directory), extra_args).await
    }

    async fn spawn(
        binary: impl AsRef<Path>,
        directory: WorkDir,
        extra_args: &[&str],
    ) -> Result<NeocortexProcess, LaunchError> {
        let mut command = Command::new(binary.as_ref());
        command
            .args([
                "-server.http-listen-address=127.0.0.1",
                "-server.http-listen-port=0",
                "-server.grpc-listen-address=127.0.0.1",
                "-server.grpc-listen-port=0",
            ])
            .args(extra_args)
            .env("NO_COLOR", "1");
        let mut process = ManagedProcess::spawn("neocortex", command, directory)?;
        let line = wait_for_output_line(&mut process, "listening on", STARTUP_TIMEOUT).await?;
        let Some((http_addr, grpc_addr)) = parse_listening_line(&line) else {
            return Err(LaunchError::Timeout {
                what: "a parsable \"listening on http=… grpc=…\" line".to_owned(),
                waited: STARTUP_TIMEOUT,
                details: format!("; got {line:?}"),
            });
        };
        Ok(NeocortexProcess { process, http_addr, grpc_addr })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// The remote-write push URL.
    pub fn push_url(&self) -> String {
        format!("{}/api/v1/push", self.http_url())
    }

    /// The Prometheus query API root, e.g. `http://127.0.0.1:PORT/prometheus/api/v1`.
    pub fn prometheus_api_url(&self) -> String {
        format!("{}/prometheus/api/v1", self.http_url())
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The bound gRPC address.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// The underlying process (pid, output, liveness).
    pub fn process(&mut self) -> &mut ManagedProcess {
        &mut self.process
    }
}

/// Extracts the HTTP and gRPC addresses from a `listening on http=ADDR grpc=ADDR` log line, which
/// may carry a timestamp, a level, colour codes and quotes around it.
pub fn parse_listening_line(line: &str) -> Option<(SocketAddr, SocketAddr)> {
    let plain = strip_ansi(line);
    let http = address_after(&plain, "http=")?;
    let grpc = address_after(&plain, "grpc=")?;
    Some((http, grpc))
}

fn address_after(text: &str, key: &str) -> Option<SocketAddr> {
    let start = text.find(key)? + key.len();
    let token: String = text[start..]
        .trim_start_matches(['"', '\''])
        .chars()
        .take_while(|character| {
            character.is_ascii_alphanumeric() || matches!(character, '.' | ':' | '[' | ']')
        })
        .collect();
    token.parse().ok()
}

fn strip_ansi(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut characters = text.chars();
    while let Some(character) = characters.next() {
        if character == '\u{1b}' {
            // Skip a CSI sequence: ESC '[' parameters final-byte.
            for inner in characters.by_ref() {
                if inner.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        plain.push(character);
    }
    plain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_decorated_listening_lines() {
        let expected: (SocketAddr, SocketAddr) =
            ("127.0.0.1:40123".parse().unwrap(), "127.0.0.1:40124".parse().unwrap());
        let lines = [
            "listening on http=127.0.0.1:40123 grpc=127.0.0.1:40124",
            "2026-11-25T14:00:00Z  INFO neocortex: listening on http=127.0.0.1:40123 grpc=127.0.0.1:40124",
            "\u{1b}[32m INFO\u{1b}[0m listening on http=\"127.0.0.1:40123\" grpc=\"127.0.0.1:40124\"",
        ];
        for line in lines {
            assert_eq!(parse_listening_line(line), Some(expected), "{line}");
        }
        assert_eq!(parse_listening_line("listening on http=nowhere"), None);
    }
}
