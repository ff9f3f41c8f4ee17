//! A child process owned by a test: its output is captured line by line, it is killed on drop, and
//! its working directory is a fresh temporary directory removed afterwards.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};

use tempfile::TempDir;

use crate::error::LaunchError;

/// How many trailing output lines are printed when a test panics while the process is alive.
const LOG_LINES_SHOWN_ON_PANIC: usize = 80;

/// The working directory of a managed process: a scratch directory it owns (removed on drop)
/// or one the caller keeps (so a restarted process finds its data again).
#[derive(Debug)]
pub enum WorkDir {
    /// Removed when the process is dropped.
    Scratch(TempDir),
    /// Owned by the caller; left in place.
    Kept(std::path::PathBuf),
}

impl WorkDir {
    fn path(&self) -> &Path {
        match self {
            WorkDir::Scratch(directory) => directory.path(),
            WorkDir::Kept(path) => path,
        }
    }
}

impl From<TempDir> for WorkDir {
    fn from(directory: TempDir) -> Self {
        WorkDir::Scratch(directory)
    }
}

/// A running server process and its working directory.
#[derive(Debug)]
pub struct ManagedProcess {
    name: String,
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
    directory: WorkDir,
}

impl ManagedProcess {
    /// Starts `command` (its stdout and stderr captured) with `directory` as working directory.
    pub fn spawn(
        name: &str,
        mut command: Command,
        directory: impl Into<WorkDir>,
    ) -> Result<ManagedProcess, LaunchError> {
        let directory = directory.into();
        command
            .current_dir(directory.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child =
            command.spawn().map_err(|source| LaunchError::Spawn { name: name.to_owned(), source })?;
        let output = Arc::new(Mutex::new(Vec::new()));
        if let Some(stdout) = child.stdout.take() {
            capture_lines(stdout, output.clone());
        }
        if let Some(stderr) = child.stderr.take() {
            capture_lines(stderr, output.clone());
        }
        Ok(ManagedProcess { name: name.to_owned(), child, output, directory })
    }

    /// The operating-system process id (to read `/proc/PID/...` in benchmarks and tests).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The scratch directory (working directory and data directory of the process).
    pub fn directory(&self) -> &Path {
        self.directory.path()
    }

    /// The exit status if the process has ended, `None` while it runs.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.exit_status().is_none()
    }

    /// Everything the process printed so far, stdout and stderr interleaved by arrival.
    pub fn output(&self) -> String {
        self.output_lines().join("\n")
    }

    /// The captured output lines so far.
    pub fn output_lines(&self) -> Vec<String> {
        match self.output.lock() {
            Ok(lines) => lines.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The first captured line containing `needle`, if any.
    pub fn find_output_line(&self, needle: &str) -> Option<String> {
        self.output_lines().into_iter().find(|line| line.contains(needle))
    }

    /// An error saying the process ended early, with its output.
    pub(crate) fn exited_error(&mut self) -> LaunchError {
        // Give the capture threads a moment to read what the process wrote just before it ended.
        std::thread::sleep(std::time::Duration::from_millis(100));
        let status =
            self.exit_status().map_or_else(|| "still running".to_owned(), |status| status.to_string());
        LaunchError::Exited { name: self.name.clone(), status, output: self.output() }
    }

    /// Sends SIGTERM (a graceful shutdown, as an orchestrator would) and waits up to `timeout`
    /// for the process to end; returns its exit status.
    pub async fn terminate(&mut self, timeout: std::time::Duration) -> Result<ExitStatus, LaunchError> {
        let signal = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .map_err(|source| LaunchError::Spawn { name: "kill".to_owned(), source })?;
        if !signal.success() {
            return Err(self.exited_error());
        }
        let what = format!("{} to exit after SIGTERM", self.name);
        crate::wait::eventually(&what, timeout, || std::future::ready(self.exit_status())).await
    }

    /// Kills the process and waits for it to end.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let lines = self.output_lines();
            let first = lines.len().saturating_sub(LOG_LINES_SHOWN_ON_PANIC);
            eprintln!("---- last output of {} (pid {}) ----", self.name, self.child.id());
            for line in &lines[first..] {
                eprintln!("{line}");
            }
        }
        self.kill();
    }
}

fn capture_lines(stream: impl Read + Send + 'static, output: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            match output.lock() {
                Ok(mut lines) => lines.push(line),
                Err(poisoned) => poisoned.into_inner().push(line),
            }
        }
    });
}
