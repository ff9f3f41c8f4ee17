//! VictoriaMetrics single-node as the peer of the store benchmark: started on a free loopback
//! port with its own data directory, fed the same samples through `/api/v1/import`, merged with
//! `/internal/force_merge`, measured on disk, and queried for the same raw samples through
//! `/api/v1/export`. The process is killed on drop.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{dir_size, BenchSeries};

/// A running VictoriaMetrics.
pub(crate) struct Victoria {
    binary: PathBuf,
    child: Child,
    base: String,
    data: PathBuf,
    client: reqwest::Client,
}

impl Drop for Victoria {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// On-disk size after the merge.
pub(crate) struct VictoriaSizes {
    /// `data/`: the samples (apparent, allocated bytes).
    pub(crate) data: (u64, u64),
    /// `indexdb/`: the inverted index (apparent, allocated bytes).
    pub(crate) index: (u64, u64),
    /// `vm_rows` as VictoriaMetrics counts them (samples in its parts).
    pub(crate) rows: f64,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn spawn(binary: &Path, data: &Path) -> (Child, String) {
    let port = free_port();
    let child = Command::new(binary)
        .arg(format!("-storageDataPath={}", data.display()))
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .arg("-retentionPeriod=100y")
        .arg("-loggerLevel=ERROR")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start victoria-metrics");
    (child, format!("http://127.0.0.1:{port}"))
}

impl Victoria {
    /// Starts `binary` on `data` and waits until it is healthy.
    pub(crate) async fn start(binary: &Path, data: PathBuf) -> Victoria {
        let (child, base) = spawn(binary, &data);
        let victoria =
            Victoria { binary: binary.to_path_buf(), child, base, data, client: reqwest::Client::new() };
        victoria.wait_healthy().await;
        victoria
    }

    async fn wait_healthy(&self) {
        for _ in 0..600 {
            let health = self.client.get(format!("{}/health", self.base)).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("victoria-metrics did not become healthy");
    }

    /// Stops the process and starts it again on the same data (empty in-memory caches).
    pub(crate) async fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, base) = spawn(&self.binary, &self.data);
        (self.child, self.base) = (child, base);
        self.wait_healthy().await;
    }

    /// The data directory.
    pub(crate) fn data(&self) -> &Path {
        &self.data
    }

    /// Imports `series` (JSON lines, 200 series a request) and flushes; returns the seconds taken.
    pub(crate) async fn import(&self, series: &[BenchSeries]) -> f64 {
        let started = Instant::now();
        for batch in series.chunks(200) {
            let mut body = String::new();
            for one in batch {
                let metric: BTreeMap<&str, &str> =
                    one.labels.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect();
                let values: Vec<f64> = one.samples.iter().map(|s| s.value).collect();
                let timestamps: Vec<i64> = one.samples.iter().map(|s| s.timestamp_ms).collect();
                let line = serde_json::json!({"metric": metric, "values": values, "timestamps": timestamps});
                body.push_str(&line.to_string());
                body.push('\n');
            }
            let response = self
                .client
                .post(format!("{}/api/v1/import", self.base))
                .body(body)
                .send()
                .await
                .expect("import");
            assert!(response.status().is_success(), "import answered {}", response.status());
        }
        self.client.get(format!("{}/internal/force_flush", self.base)).send().await.expect("force_flush");
        started.elapsed().as_secs_f64()
    }

    async fn metric_sum(&self, name: &str) -> f64 {
        let response = self.client.get(format!("{}/metrics", self.base)).send().await.expect("metrics");
        let text = response.text().await.expect("metrics body");
        text.lines()
            .filter(|line| line.starts_with(name) && line[name.len()..].starts_with(['{', ' ']))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Runs `/internal/force_merge`, waits until no merge has run for five seconds, and measures.
    pub(crate) async fn force_merge(&self) -> VictoriaSizes {
        let response =
            self.client.get(format!("{}/internal/force_merge", self.base)).send().await.expect("force_merge");
        assert!(response.status().is_success(), "force_merge answered {}", response.status());
        let mut quiet = 0;
        while quiet < 5 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let busy = self.metric_sum("vm_active_force_merges").await
                + self.metric_sum("vm_active_merges").await
                + self.metric_sum("vm_pending_rows").await;
            quiet = if busy == 0.0 { quiet + 1 } else { 0 };
        }
        VictoriaSizes {
            data: dir_size(&self.data.join("data")),
            index: dir_size(&self.data.join("indexdb")),
            rows: self.metric_sum("vm_rows").await,
        }
    }

    /// Fetches every raw sample of `selector` in `[start_ms, end_ms]` through `/api/v1/export`;
    /// returns milliseconds until the last byte, and the series and samples in the answer.
    pub(crate) async fn export(&self, selector: &str, start_ms: i64, end_ms: i64) -> (f64, usize, usize) {
        let started = Instant::now();
        let response = self
            .client
            .get(format!("{}/api/v1/export", self.base))
            .query(&[
                ("match[]", selector.to_string()),
                ("start", format!("{:.3}", start_ms as f64 / 1000.0)),
                ("end", format!("{:.3}", end_ms as f64 / 1000.0)),
            ])
            .send()
            .await
            .expect("export");
        assert!(response.status().is_success(), "export answered {}", response.status());
        let body = response.bytes().await.expect("export body");
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        let (mut series, mut samples) = (0, 0);
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let parsed: serde_json::Value = serde_json::from_slice(line).expect("export line");
            series += 1;
            samples += parsed["values"].as_array().map_or(0, Vec::len);
        }
        (elapsed, series, samples)
    }
}
