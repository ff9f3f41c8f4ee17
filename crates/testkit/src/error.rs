//! Why a server could not be launched or did not become ready.

use std::time::Duration;

/// A launch or readiness failure, carrying the process output when there is one.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The executable could not be started (missing binary, permissions).
    #[error("cannot start {name}: {source}")]
    Spawn {
        /// Which server.
        name: String,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// The process ended before it became ready.
    #[error("{name} exited early ({status}); output:\n{output}")]
    Exited {
        /// Which server.
        name: String,
        /// Its exit status.
        status: String,
        /// What it printed.
        output: String,
    },
    /// The condition was still false when the deadline passed.
    #[error("timed out after {waited:?} waiting for {what}{details}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        waited: Duration,
        /// The process output or the last observation, when known.
        details: String,
    },
    /// Setting up the scratch directory or a config file failed.
    #[error("cannot prepare files for {name}: {source}")]
    Files {
        /// Which server.
        name: String,
        /// The i/o error.
        source: std::io::Error,
    },
    /// A server started but preparing it for the test (a bucket, a container) failed.
    #[error("cannot set up {what}: {message}")]
    Setup {
        /// What was being prepared.
        what: String,
        /// What went wrong.
        message: String,
    },
    /// No free loopback port could be reserved.
    #[error("cannot find a free port on 127.0.0.1: {0}")]
    NoFreePort(std::io::Error),
    /// The HTTP client could not be built.
    #[error("cannot build an http client: {0}")]
    Client(#[from] reqwest::Error),
}
