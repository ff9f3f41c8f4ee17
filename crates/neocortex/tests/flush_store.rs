//! The real binary flushes ingester memory into the chunk store under `./data`: on `/flush`, on
//! `/shutdown` (which stops only the ingester module) and on SIGTERM with the WAL disabled.

use std::path::Path;
use std::time::Duration;

use anyhow::ensure;
use neocortex_testkit::http::{remote_write_request, send};
use neocortex_testkit::remote_write::{encode_write_request, now_ms, snappy_compress, RawSeries};
use neocortex_testkit::{eventually, NeocortexProcess};

fn neocortex_binary() -> &'static str {
    env!("CARGO_BIN_EXE_neocortex")
}

const SERIES: usize = 4;
const SAMPLES: i64 = 300;
const STEP_MS: i64 = 15_000;

/// `SERIES` series of `SAMPLES` samples each, starting two days ago.
fn write_body() -> Vec<u8> {
    let start = now_ms() - 2 * 86_400_000;
    let series: Vec<RawSeries> = (0..SERIES)
        .map(|i| {
            let instance = format!("host-{i}:9100");
            let samples: Vec<(i64, f64)> =
                (0..SAMPLES).map(|s| (start + s * STEP_MS, (i as i64 * 1000 + s) as f64)).collect();
            RawSeries::new(&[("__name__", "node_load1"), ("instance", &instance), ("job", "node")], &samples)
        })
        .collect();
    snappy_compress(&encode_write_request(&series))
}

async fn push(client: &reqwest::Client, neocortex: &NeocortexProcess) -> anyhow::Result<u16> {
    let (status, body) = send(remote_write_request(client, &neocortex.push_url(), write_body())).await?;
    ensure!(status == 200 || status >= 500, "push answered {status}: {body}");
    Ok(status)
}

/// The value of the first exposition line starting with `prefix`.
async fn metric(client: &reqwest::Client, neocortex: &NeocortexProcess, prefix: &str) -> anyhow::Result<f64> {
    let (_, text) = send(client.get(format!("{}/metrics", neocortex.http_url()))).await?;
    Ok(text
        .lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0))
}

fn files_under(directory: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(directory) else { return out };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn flush_and_shutdown_write_chunks_and_index_under_data() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let neocortex =
        NeocortexProcess::start_in(neocortex_binary(), directory.path(), &["-auth.enabled=false"]).await?;
    let client = reqwest::Client::new();
    ensure!(push(&client, &neocortex).await? == 200, "push refused");
    let stored = "cortex_ingester_chunks_stored_total{user=\"fake\"}";
    ensure!(metric(&client, &neocortex, stored).await? == 0.0, "nothing flushed before /flush");

    let (status, body) = send(client.post(format!("{}/flush", neocortex.http_url()))).await?;
    ensure!(status == 204, "/flush answered {status}: {body}");
    let chunks = eventually("chunks stored after /flush", Duration::from_secs(30), || async {
        metric(&client, &neocortex, stored).await.ok().filter(|value| *value >= (SERIES * 3) as f64)
    })
    .await?;
    // 300 samples a series: two full chunks and the closed head each.
    ensure!(chunks == (SERIES * 3) as f64, "{chunks} chunks stored");
    let flushed =
        metric(&client, &neocortex, "cortex_ingester_series_flushed_total{reason=\"Immediate\"}").await?;
    ensure!(flushed == SERIES as f64, "{flushed} series flushed");

    let data = directory.path().join("data");
    let objects = files_under(&data.join("chunks").join("fake"));
    ensure!(objects.len() == SERIES, "one object per series under ./data/chunks/fake: {objects:?}");
    let index = files_under(&data.join("index"));
    ensure!(
        index.iter().any(|file| std::fs::metadata(file).map(|m| m.len() > 0).unwrap_or(false)),
        "index files: {index:?}"
    );

    // Flushed chunks stay queryable from memory.
    let (status, body) = send(
        client
            .get(format!("{}/series", neocortex.prometheus_api_url()))
            .query(&[("match[]", "node_load1"), ("start", "0")]),
    )
    .await?;
    ensure!(status == 200 && body.matches("host-").count() == SERIES, "series after flush: {status} {body}");

    // A second push of new samples, then /ingester/shutdown flushes them and stops the ingester.
    let later = {
        let start = now_ms() - 86_400_000;
        let samples: Vec<(i64, f64)> = (0..10).map(|s| (start + s * STEP_MS, s as f64)).collect();
        snappy_compress(&encode_write_request(&[RawSeries::new(
            &[("__name__", "late"), ("job", "x")],
            &samples,
        )]))
    };
    let (status, _) = send(remote_write_request(&client, &neocortex.push_url(), later)).await?;
    ensure!(status == 200, "second push answered {status}");
    let (status, body) = send(client.post(format!("{}/ingester/shutdown", neocortex.http_url()))).await?;
    ensure!(status == 204, "/ingester/shutdown answered {status}: {body}");
    let after = metric(&client, &neocortex, stored).await?;
    ensure!(after == chunks + 1.0, "shutdown flushed {} more chunks", after - chunks);
    let (status, _) = send(client.get(format!("{}/ready", neocortex.http_url()))).await?;
    ensure!(status == 503, "/ready after the ingester stopped answered {status}");
    let (_, services) = send(client.get(format!("{}/services", neocortex.http_url()))).await?;
    ensure!(
        services.contains("ingester => Terminated") && services.contains("querier => Running"),
        "{services}"
    );
    // The rest of the process keeps serving; pushes now have no ingester to go to.
    let (status, _) = send(client.get(format!("{}/prometheus/api/v1/labels", neocortex.http_url()))).await?;
    ensure!(status == 200, "labels after shutdown answered {status}");
    let (status, _) = send(remote_write_request(&client, &neocortex.push_url(), write_body())).await?;
    ensure!(status >= 500, "push after shutdown answered {status}");
    Ok(())
}

#[tokio::test]
async fn sigterm_without_wal_flushes_everything() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let mut neocortex = NeocortexProcess::start_in(
        neocortex_binary(),
        directory.path(),
        &["-auth.enabled=false", "-ingester.wal-enabled=false"],
    )
    .await?;
    let client = reqwest::Client::new();
    ensure!(push(&client, &neocortex).await? == 200, "push refused");
    let exited = neocortex.process().terminate(Duration::from_secs(60)).await?;
    ensure!(exited.success(), "exit status {exited}: {}", neocortex.process().output());
    let objects = files_under(&directory.path().join("data").join("chunks").join("fake"));
    ensure!(objects.len() == SERIES, "objects after SIGTERM: {objects:?}");
    Ok(())
}
