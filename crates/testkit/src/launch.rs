//! The start-up every launcher of a server that takes its port on the command line shares:
//! probe a free loopback port, spawn the command in a fresh scratch directory, wait until the
//! server is ready, and start over on a new port when another process took the probed one; and
//! the check of the requests that prepare a started server (a bucket, a container).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::error::LaunchError;
use crate::ports::{free_port, retry_on_port_clash};
use crate::process::ManagedProcess;
use crate::wait::{wait_for_http_ok, wait_for_output_line};

/// How a started server shows that it accepts requests.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Readiness<'a> {
    /// A line of its output contains this text.
    OutputLine(&'a str),
    /// `http://127.0.0.1:PORT` followed by this path answers 200.
    HttpOk(&'a str),
}

/// Starts the server `name` on a free 127.0.0.1 port and returns it with that port once `ready`
/// holds, waiting at most `timeout`. `build(port, directory)` makes the command line (and may
/// write config files into `directory`, the process's scratch working directory, removed on
/// drop).
pub(crate) async fn start_on_free_port<B>(
    name: &str,
    build: B,
    ready: Readiness<'_>,
    timeout: Duration,
) -> Result<(ManagedProcess, u16), LaunchError>
where
    B: Fn(u16, &Path) -> std::io::Result<Command>,
{
    retry_on_port_clash(|| start_once(name, &build, ready, timeout)).await
}

async fn start_once<B>(
    name: &str,
    build: &B,
    ready: Readiness<'_>,
    timeout: Duration,
) -> Result<(ManagedProcess, u16), LaunchError>
where
    B: Fn(u16, &Path) -> std::io::Result<Command>,
{
    let files_error = |source| LaunchError::Files { name: name.to_owned(), source };
    let directory =
        tempfile::Builder::new().prefix(&format!("{name}-test-")).tempdir().map_err(files_error)?;
    let port = free_port()?;
    let command = build(port, directory.path()).map_err(files_error)?;
    let mut process = ManagedProcess::spawn(name, command, directory)?;
    match ready {
        Readiness::OutputLine(needle) => {
            wait_for_output_line(&mut process, needle, timeout).await?;
        }
        Readiness::HttpOk(path) => {
            wait_for_http_ok(&mut process, &format!("http://127.0.0.1:{port}{path}"), timeout).await?;
        }
    }
    Ok((process, port))
}

/// The outcome of a request preparing a started server for a test: `Ok` on a 2xx status, else
/// a [`LaunchError::Setup`] naming `what` with the status and the response body.
pub(crate) async fn setup_outcome(what: &str, response: reqwest::Response) -> Result<(), LaunchError> {
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    Err(LaunchError::Setup { what: what.to_owned(), message: format!("status {status}: {body}") })
}
