//! Free loopback ports for servers that cannot report the port they bound themselves.

use std::net::TcpListener;

use crate::error::LaunchError;

/// Attempts with a fresh port when the probed one was taken meanwhile.
const BIND_ATTEMPTS: usize = 3;

/// A port on 127.0.0.1 that was free a moment ago. Another process may still take it before the
/// server binds it, so launchers retry with a new port when the server fails to bind.
pub fn free_port() -> Result<u16, LaunchError> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(LaunchError::NoFreePort)?;
    let port = listener.local_addr().map_err(LaunchError::NoFreePort)?.port();
    Ok(port)
}

/// Runs `start` again (it probes a new port each time) while it fails because its port was taken
/// (matched case-insensitively: Python servers such as moto print "Address already in use").
pub(crate) async fn retry_on_port_clash<T, F, Fut>(mut start: F) -> Result<T, LaunchError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, LaunchError>>,
{
    let mut attempt = 1;
    loop {
        match start().await {
            Err(error)
                if attempt < BIND_ATTEMPTS
                    && error.to_string().to_lowercase().contains("address already in use") =>
            {
                attempt += 1;
            }
            other => return other,
        }
    }
}
