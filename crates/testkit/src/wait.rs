//! Polling instead of sleeping: wait until a condition holds, or fail with what was last seen.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::error::LaunchError;
use crate::process::ManagedProcess;

/// How often conditions are re-checked.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Calls `probe` until it returns `Some`, at most until `timeout`, and returns that value.
/// `what` names the condition in the timeout error.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> Result<T, LaunchError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            return Err(LaunchError::Timeout {
                what: what.to_owned(),
                waited: timeout,
                details: String::new(),
            });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Polls `url` until it answers 200, failing early if `process` exits.
pub async fn wait_for_http_ok(
    process: &mut ManagedProcess,
    url: &str,
    timeout: Duration,
) -> Result<(), LaunchError> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    let deadline = Instant::now() + timeout;
    loop {
        if !process.is_running() {
            return Err(process.exited_error());
        }
        let last_seen = match client.get(url).send().await {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => format!("status {}", response.status()),
            Err(error) => error.to_string(),
        };
        if Instant::now() >= deadline {
            let details = format!(" (last: {last_seen}); output:\n{}", process.output());
            return Err(LaunchError::Timeout {
                what: format!("{url} to answer 200"),
                waited: timeout,
                details,
            });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Polls the captured output of `process` until a line contains `needle`, and returns that line.
pub async fn wait_for_output_line(
    process: &mut ManagedProcess,
    needle: &str,
    timeout: Duration,
) -> Result<String, LaunchError> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(line) = process.find_output_line(needle) {
            return Ok(line);
        }
        if !process.is_running() {
            return Err(process.exited_error());
        }
        if Instant::now() >= deadline {
            let details = format!("; output:\n{}", process.output());
            return Err(LaunchError::Timeout {
                what: format!("a line containing {needle:?}"),
                waited: timeout,
                details,
            });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
