//! The chunk store's caches in the real binary: data flushed, the process restarted with its WAL
//! removed (so every read comes from the store), the same query asked again is answered from the
//! chunk cache and the index-query cache (Cortex's `cortex_cache_hits`), with identical results.
//! With memcached (a real one on loopback) as chunk, index-query and write-dedupe cache, a killed
//! memcached fails neither queries nor pushes and flushes. An in-process (fifocache) case too:
//! there a repeated read is served by the objects the store keeps opened, so the in-process chunk
//! cache is shown serving objects written through on a flush.

use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context};
use neocortex_testkit::http::{remote_write_request, send};
use neocortex_testkit::memcached::{memcached_available, MemcachedProcess};
use neocortex_testkit::remote_write::{encode_write_request, now_ms, snappy_compress, RawSeries};
use neocortex_testkit::{eventually, NeocortexProcess};

fn neocortex_binary() -> &'static str {
    env!("CARGO_BIN_EXE_neocortex")
}

const SERIES: usize = 4;
const SAMPLES: i64 = 240;
const STEP_MS: i64 = 15_000;
/// Flags every case runs with: no tenants, and `series` answered from the store too.
const COMMON_FLAGS: [&str; 2] = ["-auth.enabled=false", "-querier.query-store-for-labels-enabled=true"];
const STORED: &str = "cortex_ingester_chunks_stored_total{user=\"fake\"}";

/// `SERIES` series of metric `name`, `SAMPLES` samples each from `start_ms`.
fn write_body(name: &str, start_ms: i64) -> Vec<u8> {
    let series: Vec<RawSeries> = (0..SERIES)
        .map(|i| {
            let instance = format!("host-{i}:9100");
            let samples: Vec<(i64, f64)> =
                (0..SAMPLES).map(|s| (start_ms + s * STEP_MS, (i as i64 * 1000 + s) as f64 / 4.0)).collect();
            RawSeries::new(&[("__name__", name), ("instance", &instance), ("job", "node")], &samples)
        })
        .collect();
    snappy_compress(&encode_write_request(&series))
}

/// The sum of every exposition line starting with `prefix` (0 when there is none).
async fn metric(client: &reqwest::Client, neocortex: &NeocortexProcess, prefix: &str) -> anyhow::Result<f64> {
    let (_, text) = send(client.get(format!("{}/metrics", neocortex.http_url()))).await?;
    Ok(text
        .lines()
        .filter(|line| line.starts_with(prefix))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .fold(0.0, |total, value| total + value))
}

async fn push(client: &reqwest::Client, neocortex: &NeocortexProcess, body: Vec<u8>) -> anyhow::Result<()> {
    let (status, text) = send(remote_write_request(client, &neocortex.push_url(), body)).await?;
    ensure!(status == 200, "push answered {status}: {text}");
    Ok(())
}

/// `/flush`, then waits until at least `at_least` chunks are stored in total.
async fn flush(client: &reqwest::Client, neocortex: &NeocortexProcess, at_least: f64) -> anyhow::Result<()> {
    let (status, body) = send(client.post(format!("{}/flush", neocortex.http_url()))).await?;
    ensure!(status == 204, "/flush answered {status}: {body}");
    eventually("chunks stored after /flush", Duration::from_secs(60), || async {
        metric(client, neocortex, STORED).await.ok().filter(|stored| *stored >= at_least)
    })
    .await?;
    Ok(())
}

/// A `query_range` over the pushed samples and `series` for the metric; both bodies.
async fn read_back(
    client: &reqwest::Client,
    neocortex: &NeocortexProcess,
    name: &str,
    start_ms: i64,
) -> anyhow::Result<String> {
    let end_ms = start_ms + (SAMPLES - 1) * STEP_MS;
    let (status, range) =
        send(client.get(format!("{}/query_range", neocortex.prometheus_api_url())).query(&[
            ("query", name.to_string()),
            ("start", format!("{}", start_ms / 1000)),
            ("end", format!("{}", end_ms / 1000)),
            ("step", "15s".to_string()),
        ]))
        .await?;
    ensure!(status == 200, "query_range answered {status}: {range}");
    ensure!(
        range.matches("host-").count() == SERIES
            && range.matches("],[").count() >= SERIES * (SAMPLES as usize - 1),
        "query_range misses samples: {range}"
    );
    let (status, series) = send(client.get(format!("{}/series", neocortex.prometheus_api_url())).query(&[
        ("match[]", name.to_string()),
        ("start", format!("{}", start_ms / 1000)),
        ("end", format!("{}", end_ms / 1000)),
    ]))
    .await?;
    ensure!(status == 200 && series.matches("host-").count() == SERIES, "series answered {status}: {series}");
    Ok(format!("{range}\n{series}"))
}

/// Stops the process with SIGTERM and waits for a clean exit.
async fn stop(neocortex: &mut NeocortexProcess) -> anyhow::Result<()> {
    let exited = neocortex.process().terminate(Duration::from_secs(60)).await?;
    ensure!(exited.success(), "exit status {exited}: {}", neocortex.process().output());
    Ok(())
}

/// Pushes two-day-old samples, flushes, reads them (memory and store), restarts without the
/// WAL and checks that the store alone answers identically, twice, the second time with cache hits on
/// `chunk_cache` and `index_cache` (metric names). Returns the restarted process.
async fn flush_restart_and_read_twice(
    directory: &Path,
    flags: &[&str],
    chunk_cache: &str,
    index_cache: &str,
    chunk_hits_on_repeat: bool,
) -> anyhow::Result<(NeocortexProcess, String, i64)> {
    let client = reqwest::Client::new();
    let start_ms = (now_ms() - 2 * 86_400_000) / 1000 * 1000;
    let flags: Vec<&str> = COMMON_FLAGS.iter().chain(flags).copied().collect();
    let mut neocortex = NeocortexProcess::start_in(neocortex_binary(), directory, &flags).await?;
    push(&client, &neocortex, write_body("node_load1", start_ms)).await?;
    flush(&client, &neocortex, SERIES as f64).await?;
    // Read after the flush: an index answer cached before it would hide the flushed rows for
    // `index_cache_validity` (and for ever past `cache_lookups_older_than`), as in Cortex.
    let from_memory =
        read_back(&client, &neocortex, "node_load1", start_ms).await.context("reading ingester memory")?;
    stop(&mut neocortex).await?;
    std::fs::remove_dir_all(directory.join("data").join("wal")).context("removing the WAL")?;

    let neocortex = NeocortexProcess::start_in(neocortex_binary(), directory, &flags).await?;
    let chunk_hits = format!("cortex_cache_hits{{name=\"{chunk_cache}\"}}");
    let index_hits = format!("cortex_cache_hits{{name=\"{index_cache}\"}}");
    let started = std::time::Instant::now();
    let first = read_back(&client, &neocortex, "node_load1", start_ms).await.context("reading the store")?;
    eprintln!("{chunk_cache}: first read after the restart took {:?}", started.elapsed());
    ensure!(first == from_memory, "the store answered differently:\n{first}\nmemory:\n{from_memory}");
    let chunk_fetched = format!("cortex_cache_fetched_keys{{name=\"{chunk_cache}\"}}");
    ensure!(metric(&client, &neocortex, &chunk_fetched).await? > 0.0, "the chunk cache was not asked");
    // Cache stores may be written back in the background: ask until the hits show.
    eventually("chunk and index cache hits", Duration::from_secs(30), || async {
        let again = read_back(&client, &neocortex, "node_load1", start_ms).await.ok()?;
        assert_eq!(again, from_memory, "a cached answer differs");
        let chunks = metric(&client, &neocortex, &chunk_hits).await.ok()?;
        let index = metric(&client, &neocortex, &index_hits).await.ok()?;
        ((!chunk_hits_on_repeat || chunks >= SERIES as f64) && index > 0.0).then_some(())
    })
    .await?;
    Ok((neocortex, from_memory, start_ms))
}

#[tokio::test]
async fn memcached_caches_serve_reads_and_an_outage_fails_nothing() -> anyhow::Result<()> {
    if !memcached_available("memcached_caches_serve_reads_and_an_outage_fails_nothing") {
        return Ok(());
    }
    let mut memcached = MemcachedProcess::start().await?;
    let directory = tempfile::tempdir()?;
    let chunks = format!("-store.chunks-cache.memcached.addresses={}", memcached.address());
    let index_read = format!("-store.index-cache-read.memcached.addresses={}", memcached.address());
    let index_write = format!("-store.index-cache-write.memcached.addresses={}", memcached.address());
    let flags = [
        // Only memcached, so the hits below are memcached's.
        "-store.chunks-cache.cache.enable-fifocache=false",
        &chunks,
        &index_read,
        &index_write,
        "-store.cache-lookups-older-than=24h",
        "-store.chunks-cache.memcached.timeout=200ms",
        "-store.index-cache-read.memcached.timeout=200ms",
        "-store.index-cache-write.memcached.timeout=200ms",
    ];
    let (neocortex, from_memory, start_ms) = flush_restart_and_read_twice(
        directory.path(),
        &flags,
        "chunksmemcache",
        "store.index-cache-read.memcache",
        true,
    )
    .await?;
    let client = reqwest::Client::new();
    let servers =
        metric(&client, &neocortex, "cortex_memcache_client_servers{name=\"chunksmemcache\"}").await?;
    ensure!(servers == 1.0, "{servers} memcached servers discovered");

    // The outage: reads still answer from the store, identically; pushes and flushes still
    // succeed (write dedupe and chunk cache stores are misses and dropped writes).
    let started = std::time::Instant::now();
    read_back(&client, &neocortex, "node_load1", start_ms).await?;
    eprintln!("memcached up: a cached read took {:?}", started.elapsed());
    // First a hung memcached (SIGSTOP: connections open, requests time out), then a dead one.
    let pid = memcached.process().pid().to_string();
    let status = std::process::Command::new("kill").args(["-STOP", &pid]).status()?;
    ensure!(status.success(), "kill -STOP failed");
    let started = std::time::Instant::now();
    let while_hung = read_back(&client, &neocortex, "node_load1", start_ms).await?;
    eprintln!("memcached hung: a read took {:?}", started.elapsed());
    ensure!(while_hung == from_memory, "answer while memcached hangs differs");
    memcached.kill();
    let started = std::time::Instant::now();
    let during_outage = read_back(&client, &neocortex, "node_load1", start_ms).await?;
    eprintln!("memcached down: a read took {:?}", started.elapsed());
    ensure!(during_outage == from_memory, "answer during the outage differs");
    let stored_before = metric(&client, &neocortex, STORED).await?;
    let later = (now_ms() - 86_400_000) / 1000 * 1000;
    push(&client, &neocortex, write_body("node_load5", later)).await?;
    flush(&client, &neocortex, stored_before + SERIES as f64).await?;
    read_back(&client, &neocortex, "node_load5", later).await?;
    let errors = metric(
        &client,
        &neocortex,
        "cortex_memcache_request_duration_seconds_count{method=\"Memcache.GetMulti\",status_code=\"500\"",
    )
    .await?;
    let timeouts = metric(
        &client,
        &neocortex,
        "cortex_memcache_request_duration_seconds_count{method=\"Memcache.GetMulti\",status_code=\"timeout\"",
    )
    .await?;
    ensure!(timeouts > 0.0 && errors > 0.0, "the caches were not asked during the outage");
    let failures = metric(&client, &neocortex, "cortex_ingester_flush_failures_total").await?;
    ensure!(failures == 0.0, "{failures} flush failures during the memcached outage");
    eprintln!("memcached outage: {errors} failed and {timeouts} timed-out multi-gets, queries and flushes succeeded");
    Ok(())
}

#[tokio::test]
async fn in_process_caches_serve_reads_after_a_restart() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let flags = [
        // The chunk cache is in process by default (256MB); the index-query cache is turned on.
        "-store.index-cache-read.cache.enable-fifocache=true",
        "-store.index-cache-read.fifocache.max-size-items=10000",
        "-store.index-cache-read.fifocache.duration=1h",
    ];
    // The in-process chunk cache is empty after the restart and the store keeps the objects the
    // first read opened, so the repeated reads need no chunk cache.
    let (neocortex, _, start_ms) = flush_restart_and_read_twice(
        directory.path(),
        &flags,
        "chunksfifocache",
        "store.index-cache-read.fifocache",
        false,
    )
    .await?;
    let client = reqwest::Client::new();
    // Objects flushed now are written through to the chunk cache and read from it.
    push(&client, &neocortex, write_body("node_load5", start_ms)).await?;
    flush(&client, &neocortex, SERIES as f64).await?;
    let hits = "cortex_cache_hits{name=\"chunksfifocache\"}";
    let before = metric(&client, &neocortex, hits).await?;
    read_back(&client, &neocortex, "node_load5", start_ms).await.context("reading the flushed objects")?;
    let after = metric(&client, &neocortex, hits).await?;
    ensure!(after - before >= SERIES as f64, "chunk cache hits went from {before} to {after}");
    let items = metric(&client, &neocortex, "cortex_cache_memory_items_count").await?;
    ensure!(items > 0.0, "no entries in the in-process caches");
    Ok(())
}
