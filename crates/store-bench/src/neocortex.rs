//! The `neocortex` binary under test: one process (`-target=all`) on the local backend (redb
//! index and filesystem chunk objects under its working directory), configured through a YAML
//! file as a user would, started in one of two phases:
//!
//! - [`Phase::Memory`]: ingest and answer from ingester memory (`-querier.query-store-after=48h`
//!   keeps the store out of every query over the data);
//! - [`Phase::Store`]: after the flush, SIGKILL and removing the WAL, empty ingesters
//!   (`-querier.query-ingesters-within=1m`, the data ends at least ten minutes before now) and
//!   `-querier.query-store-after=0`: the store answers everything.
//!
//! Both phases keep every chunk in memory until asked to flush (`-ingester.max-chunk-age` and
//! `-ingester.max-chunk-idle` of 48h), lift the ingestion limits and use the in-process caches
//! the library-level benchmark uses (1 GB chunk cache, 256 MB index-query cache).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{ensure, Context};
use neocortex_testkit::http::send;
use neocortex_testkit::NeocortexProcess;

use crate::disk::{dir_size, DirSize};
use crate::probe::Target;

/// The config file: schema and storage as in `store_bench`, caches sized like it.
const CONFIG: &str = "\
schema:
  configs:
    - from: 2020-01-01
      store: boltdb
      object_store: filesystem
      schema: v11
      index: {prefix: index_, period: 168h}
      row_shards: 16
storage:
  boltdb: {directory: ./data/index}
  filesystem: {directory: ./data/chunks}
  index_queries_cache_config:
    enable_fifocache: true
    fifocache: {max_size_bytes: 256MB}
chunk_store:
  chunk_cache_config:
    enable_fifocache: true
    fifocache: {max_size_bytes: 1GB}
";

/// Which half of the benchmark the process serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Ingesting; queries answered by the ingesters alone.
    Memory,
    /// Restarted after the flush; queries answered by the store alone.
    Store,
}

/// A `neocortex` process working in a directory that outlives it.
pub(crate) struct Neocortex {
    binary: String,
    directory: PathBuf,
    process: Option<NeocortexProcess>,
}

/// What the flush wrote, from the binary's own metrics.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FlushMetrics {
    /// `cortex_chunk_store_index_entries_per_chunk_sum`: index rows written.
    pub(crate) index_rows: f64,
    /// `cortex_chunk_store_index_entries_per_chunk_count`: chunk objects written.
    pub(crate) objects: f64,
    /// `cortex_ingester_chunks_stored_total`: ingester chunks handed to the store.
    pub(crate) chunks: f64,
    /// `cortex_ingester_chunk_stored_bytes_total`: their bytes (XOR chunk encoding).
    pub(crate) chunk_bytes: f64,
}

fn args(phase: Phase, config: &Path) -> Vec<String> {
    let mut args: Vec<String> = [
        "-auth.enabled=false",
        "-distributor.ingestion-rate-limit=1000000000",
        "-distributor.ingestion-burst-size=1000000000",
        "-ingester.max-series-per-metric=0",
        "-ingester.max-series-per-user=0",
        "-ingester.max-chunk-age=48h",
        "-ingester.max-chunk-idle=48h",
        "-querier.timeout=10m",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("-config.file={}", config.display()));
    match phase {
        Phase::Memory => args.push("-querier.query-store-after=48h".to_owned()),
        Phase::Store => {
            args.push("-querier.query-ingesters-within=1m".to_owned());
            args.push("-querier.query-store-after=0".to_owned());
        }
    }
    args
}

impl Neocortex {
    /// Writes the config into `directory` and starts `binary` there in `phase`.
    pub(crate) async fn start(binary: &str, directory: &Path, phase: Phase) -> anyhow::Result<Neocortex> {
        let config = directory.join("neocortex.yaml");
        std::fs::write(&config, CONFIG).with_context(|| format!("writing {}", config.display()))?;
        let mut neocortex =
            Neocortex { binary: binary.to_owned(), directory: directory.to_path_buf(), process: None };
        neocortex.launch(phase).await?;
        Ok(neocortex)
    }

    async fn launch(&mut self, phase: Phase) -> anyhow::Result<()> {
        let args = args(phase, &self.directory.join("neocortex.yaml"));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let process = NeocortexProcess::start_in(&self.binary, &self.directory, &args)
            .await
            .with_context(|| format!("starting neocortex ({phase:?})"))?;
        self.process = Some(process);
        Ok(())
    }

    fn running(&self) -> anyhow::Result<&NeocortexProcess> {
        self.process.as_ref().context("neocortex is not running")
    }

    /// The remote-write push URL.
    pub(crate) fn push_url(&self) -> anyhow::Result<String> {
        Ok(self.running()?.push_url())
    }

    /// Where queries go.
    pub(crate) fn target(&self) -> anyhow::Result<Target> {
        Ok(Target { api_url: self.running()?.prometheus_api_url(), extra: Vec::new() })
    }

    /// `POST /flush?wait=true`: every in-memory series to the store, answered when done.
    pub(crate) async fn flush(&self, client: &reqwest::Client) -> anyhow::Result<()> {
        let url = format!("{}/flush?wait=true", self.running()?.http_url());
        let (status, text) = send(client.post(url).timeout(Duration::from_secs(3600))).await?;
        ensure!(status == 204 || status == 200, "/flush answered {status}: {text}");
        Ok(())
    }

    /// The sum of every exposition line of `name` (its labelled children added up).
    pub(crate) async fn metric(&self, client: &reqwest::Client, name: &str) -> anyhow::Result<f64> {
        let (status, text) = send(client.get(format!("{}/metrics", self.running()?.http_url()))).await?;
        ensure!(status == 200, "/metrics answered {status}");
        Ok(text
            .lines()
            .filter(|line| line.split([' ', '{']).next() == Some(name))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }

    /// What the flush wrote, from `/metrics`.
    pub(crate) async fn flush_metrics(&self, client: &reqwest::Client) -> anyhow::Result<FlushMetrics> {
        Ok(FlushMetrics {
            index_rows: self.metric(client, "cortex_chunk_store_index_entries_per_chunk_sum").await?,
            objects: self.metric(client, "cortex_chunk_store_index_entries_per_chunk_count").await?,
            chunks: self.metric(client, "cortex_ingester_chunks_stored_total").await?,
            chunk_bytes: self.metric(client, "cortex_ingester_chunk_stored_bytes_total").await?,
        })
    }

    /// The chunk objects' directory and the index directory.
    pub(crate) fn store_sizes(&self) -> (DirSize, DirSize) {
        let data = self.directory.join("data");
        (dir_size(&data.join("chunks")), dir_size(&data.join("index")))
    }

    /// The store's files (chunk objects and index), whose page cache a cold query drops.
    pub(crate) fn store_directories(&self) -> Vec<PathBuf> {
        let data = self.directory.join("data");
        vec![data.join("chunks"), data.join("index")]
    }

    /// SIGKILL (nothing is flushed or closed), then removes the WAL so nothing is replayed.
    pub(crate) fn kill_and_drop_wal(&mut self) -> anyhow::Result<()> {
        if let Some(mut process) = self.process.take() {
            process.process().kill();
        }
        let wal = self.directory.join("data").join("wal");
        if wal.exists() {
            std::fs::remove_dir_all(&wal).with_context(|| format!("removing {}", wal.display()))?;
        }
        Ok(())
    }

    /// Stops the process gracefully (SIGTERM; its ingesters are empty) and starts it in `phase`.
    pub(crate) async fn restart(&mut self, phase: Phase) -> anyhow::Result<()> {
        if let Some(mut process) = self.process.take() {
            process.process().terminate(Duration::from_secs(120)).await?;
        }
        self.launch(phase).await
    }

    /// Starts the process in `phase` after [`Neocortex::kill_and_drop_wal`].
    pub(crate) async fn start_again(&mut self, phase: Phase) -> anyhow::Result<()> {
        ensure!(self.process.is_none(), "neocortex is still running");
        self.launch(phase).await
    }

    /// Resident set size now, in bytes.
    pub(crate) fn rss(&mut self) -> Option<u64> {
        let pid = self.process.as_mut()?.process().pid();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
        let kilobytes: u64 =
            line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kilobytes * 1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_route_queries_to_one_source() {
        let memory = args(Phase::Memory, Path::new("/c.yaml"));
        assert!(memory.contains(&"-querier.query-store-after=48h".to_owned()));
        assert!(!memory.iter().any(|a| a.starts_with("-querier.query-ingesters-within")));
        let store = args(Phase::Store, Path::new("/c.yaml"));
        assert!(store.contains(&"-querier.query-ingesters-within=1m".to_owned()));
        assert!(store.contains(&"-querier.query-store-after=0".to_owned()));
        assert!(store.contains(&"-config.file=/c.yaml".to_owned()));
    }
}
