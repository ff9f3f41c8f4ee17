//! Single-node VictoriaMetrics as the peer: started on a free loopback port with a data directory
//! that outlives restarts, fed the same remote-write bodies through `/api/v1/write`, flushed and
//! merged (`/internal/force_flush`, `/internal/force_merge`, then waiting until no merge has run
//! for five seconds), measured on disk and restarted for cold queries.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{ensure, Context};
use neocortex_testkit::ports::free_port;
use neocortex_testkit::wait::wait_for_http_ok;
use neocortex_testkit::{ManagedProcess, WorkDir};

use crate::disk::{dir_size, DirSize};
use crate::probe::Target;

/// A running VictoriaMetrics (killed on drop).
pub(crate) struct Victoria {
    binary: String,
    directory: PathBuf,
    process: ManagedProcess,
    port: u16,
}

/// Its data directory after the merge.
pub(crate) struct VictoriaSizes {
    /// `data/`: the samples.
    pub(crate) data: DirSize,
    /// `indexdb/`: the inverted index.
    pub(crate) index: DirSize,
    /// `vm_rows` summed: samples in its parts.
    pub(crate) rows: f64,
}

async fn spawn(binary: &str, directory: &Path) -> anyhow::Result<(ManagedProcess, u16)> {
    let port = free_port()?;
    let mut command = Command::new(binary);
    command
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .arg(format!("-storageDataPath={}", directory.join("vm").display()))
        .arg("-retentionPeriod=100y")
        .arg("-search.latencyOffset=0s")
        .arg("-search.maxQueryDuration=10m")
        .arg("-loggerLevel=WARN");
    let mut process =
        ManagedProcess::spawn("victoria-metrics", command, WorkDir::Kept(directory.to_path_buf()))?;
    wait_for_http_ok(&mut process, &format!("http://127.0.0.1:{port}/health"), Duration::from_secs(120))
        .await?;
    Ok((process, port))
}

impl Victoria {
    /// Starts `binary` with its data under `directory`.
    pub(crate) async fn start(binary: &str, directory: &Path) -> anyhow::Result<Victoria> {
        let (process, port) = spawn(binary, directory).await.context("starting victoria-metrics")?;
        Ok(Victoria { binary: binary.to_owned(), directory: directory.to_path_buf(), process, port })
    }

    /// The remote-write URL.
    pub(crate) fn write_url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1/write", self.port)
    }

    /// Where queries go (its query-result cache bypassed).
    pub(crate) fn target(&self) -> Target {
        Target { api_url: format!("http://127.0.0.1:{}/api/v1", self.port), extra: vec![("nocache", "1")] }
    }

    /// The data directory.
    pub(crate) fn data(&self) -> PathBuf {
        self.directory.join("vm")
    }

    /// Stops the process (SIGTERM) and starts it again on the same data: empty in-memory caches.
    pub(crate) async fn restart(&mut self) -> anyhow::Result<()> {
        self.process.terminate(Duration::from_secs(60)).await?;
        let (process, port) =
            spawn(&self.binary, &self.directory).await.context("restarting victoria-metrics")?;
        (self.process, self.port) = (process, port);
        Ok(())
    }

    async fn get(&self, client: &reqwest::Client, path: &str) -> anyhow::Result<String> {
        let response = client.get(format!("http://127.0.0.1:{}{path}", self.port)).send().await?;
        let status = response.status();
        let text = response.text().await?;
        ensure!(status.is_success(), "GET {path} answered {status}: {text}");
        Ok(text)
    }

    async fn metric_sum(&self, client: &reqwest::Client, name: &str) -> anyhow::Result<f64> {
        let text = self.get(client, "/metrics").await?;
        Ok(text
            .lines()
            .filter(|line| line.starts_with(name) && line[name.len()..].starts_with(['{', ' ']))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }

    /// `vm_rows` of the sample parts (`type="storage/…"`), not of the index.
    async fn storage_rows(&self, client: &reqwest::Client) -> anyhow::Result<f64> {
        let text = self.get(client, "/metrics").await?;
        Ok(text
            .lines()
            .filter(|line| line.starts_with("vm_rows{type=\"storage/"))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }

    /// Flushes, force-merges, waits until merging is over and measures the data directory.
    pub(crate) async fn flush_merge_measure(
        &self,
        client: &reqwest::Client,
    ) -> anyhow::Result<VictoriaSizes> {
        self.get(client, "/internal/force_flush").await?;
        self.get(client, "/internal/force_merge").await?;
        let mut quiet = 0;
        while quiet < 5 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let mut busy = 0.0;
            for name in ["vm_active_force_merges", "vm_active_merges", "vm_pending_rows"] {
                busy += self.metric_sum(client, name).await?;
            }
            quiet = if busy == 0.0 { quiet + 1 } else { 0 };
        }
        Ok(VictoriaSizes {
            data: dir_size(&self.data().join("data")),
            index: dir_size(&self.data().join("indexdb")),
            rows: self.storage_rows(client).await?,
        })
    }
}
