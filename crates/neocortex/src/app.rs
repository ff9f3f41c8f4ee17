//! Starting and stopping Neocortex: one small init per module, run in dependency order, then
//! the HTTP and gRPC servers until a shutdown signal.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use neocortex_core::metrics::DiscardedSamples;
use neocortex_core::{Overrides, Pusher, QueryableSource};
use neocortex_distributor::Distributor;
use neocortex_ingester::{Flusher, Ingester};
use neocortex_querier::QuerierSource;
use neocortex_ring::{IngesterClient, Ring, RingPusher, RingQueryableSource};
use neocortex_storage::cache::metrics::CacheMetrics;
use neocortex_storage::cache::StoreCaches;
use neocortex_storage::ChunkStore;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::http_metrics::HttpMetrics;
use crate::ingester_module::{IngesterModule, INGESTER_ID};
use crate::modules::{parse_targets, start_order, Module};
use crate::routes::{router, RouteDeps};
use crate::runtime_config::{load_into, spawn_reloader, RuntimeConfigMetrics};
use crate::services::{ServiceState, Services};
use crate::store::StoreSink;
use crate::store_write_metrics::StoreWriteMetrics;

/// Tokens each ingester takes in the ring (Cortex's `-ingester.num-tokens`).
const INGESTER_TOKENS: usize = 128;

/// The handles the modules built, each present only when its module runs.
#[derive(Default)]
struct Handles {
    overrides: Option<Overrides>,
    ring: Option<Arc<Ring>>,
    ingester: Option<Arc<IngesterModule>>,
    /// The chunk store, when the `store` module runs (the ingester flushes into it, the
    /// querier reads from it).
    store: Option<Arc<ChunkStore>>,
    distributor: Option<Arc<Distributor>>,
    prometheus_api: Option<axum::Router>,
    background: Vec<tokio::task::JoinHandle<()>>,
    /// The table manager's loop: it ends after the sync in progress when shutdown is signalled.
    table_manager: Option<tokio::task::JoinHandle<()>>,
    /// The ingester's WAL, closed after the servers drain.
    wal: Option<crate::ingester_wal::WalService>,
}

/// A started process: its bound addresses and how to stop it.
pub struct Running {
    /// Where HTTP is served.
    pub http_addr: SocketAddr,
    /// Where gRPC is served.
    pub grpc_addr: SocketAddr,
    shutdown: CancellationToken,
    done: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Asks the process to stop gracefully.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Waits until every server and module has stopped.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.done.await.context("server task panicked")?
    }
}

/// Builds every module of `config.target`, binds the servers and starts serving.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let config = Arc::new(config);
    let order = start_order(&parse_targets(&config.target).map_err(anyhow::Error::msg)?);
    let services = Services::new(&order);
    let mut registry = Registry::default();
    let discarded = DiscardedSamples::default();
    registry.register(
        "cortex_discarded_samples",
        "The total number of samples that were discarded",
        discarded.clone(),
    );
    crate::process_metrics::register(&mut registry);
    let http_metrics = HttpMetrics::register(&mut registry);
    let shutdown = CancellationToken::new();
    let mut handles = Handles::default();

    for module in &order {
        services.set(*module, ServiceState::Starting);
        match module {
            Module::Server | Module::Api => {}
            Module::RuntimeConfig => {}
            Module::Overrides => {
                handles.overrides =
                    Some(init_overrides(&config, &mut registry, &shutdown, &mut handles.background)?);
            }
            Module::Ring => handles.ring = Some(Arc::new(Ring::new(1))),
            Module::Store => {
                let cache_metrics = CacheMetrics::register(&mut registry);
                let caches = StoreCaches::from_config(&config.storage, &config.chunk_store, &cache_metrics)
                    .context("building the chunk store's caches")?;
                let store = crate::store::open_store(&config.schema, &config.storage, &caches)
                    .await
                    .context("opening the chunk store")?;
                handles.store = Some(store);
            }
            Module::TableManager => {
                let store = handles.store.as_ref().context("the table manager needs the store")?;
                handles.table_manager = Some(crate::table_manager_module::start(
                    &config,
                    store,
                    &mut registry,
                    shutdown.child_token(),
                )?);
            }
            Module::Ingester => {
                let overrides = handles.overrides.clone().context("ingester needs overrides")?;
                let ingester =
                    Ingester::new(config.ingester.clone(), overrides, discarded.clone(), &mut registry);
                handles.wal =
                    crate::ingester_wal::start(ingester.clone(), &config.ingester.walconfig, &mut registry)
                        .await?;
                let ring = handles.ring.clone().context("ingester needs the ring")?;
                ring.join(
                    INGESTER_ID,
                    "in-process",
                    INGESTER_TOKENS,
                    ingester.clone() as Arc<dyn IngesterClient>,
                );
                let flusher = handles.store.clone().map(|store| {
                    let metrics = StoreWriteMetrics::register(&mut registry);
                    let sink = Arc::new(StoreSink::new(store).with_metrics(metrics));
                    let flusher = Flusher::new(ingester.clone(), sink, &mut registry);
                    flusher.start();
                    flusher
                });
                handles.ingester =
                    Some(Arc::new(IngesterModule::new(ingester, flusher, ring, services.clone())));
            }
            Module::Distributor => {
                let overrides = handles.overrides.clone().context("distributor needs overrides")?;
                let ring = handles.ring.clone().context("distributor needs the ring")?;
                let pusher: Arc<dyn Pusher> = Arc::new(RingPusher::new(ring));
                handles.distributor = Some(Arc::new(Distributor::new(
                    config.distributor.clone(),
                    overrides,
                    pusher,
                    discarded.clone(),
                    &mut registry,
                )));
            }
            Module::Querier => {
                let ring = handles.ring.clone().context("querier needs the ring")?;
                let overrides = handles.overrides.clone().context("querier needs overrides")?;
                // Recent data from the ingesters, older data from the chunk store, by the
                // querier's time rules (`query_ingesters_within`, `query_store_after`).
                let ingesters: Arc<dyn QueryableSource> = Arc::new(RingQueryableSource::new(ring));
                let source: Arc<dyn QueryableSource> =
                    Arc::new(QuerierSource::new(ingesters, handles.store.clone(), &config.querier));
                handles.prometheus_api = Some(crate::query_api::prometheus_api(&config, source, overrides));
            }
            Module::All => {}
        }
        if *module != Module::Server {
            services.set(*module, ServiceState::Running);
        }
    }

    let http_listener = bind(&config.server.http_listen_address, config.server.http_listen_port).await?;
    let grpc_listener = bind(&config.server.grpc_listen_address, config.server.grpc_listen_port).await?;
    let http_addr = http_listener.local_addr()?;
    let grpc_addr = grpc_listener.local_addr()?;

    let routes = router(RouteDeps {
        config: config.clone(),
        services: services.clone(),
        registry: Arc::new(registry),
        http_metrics,
        distributor: handles.distributor.clone(),
        prometheus_api: handles.prometheus_api.take(),
        ingester: handles.ingester.clone(),
    });

    let http_shutdown = shutdown.clone();
    let http_server = tokio::spawn(async move {
        axum::serve(http_listener, routes)
            .with_graceful_shutdown(async move { http_shutdown.cancelled().await })
            .await
    });
    let grpc_shutdown = shutdown.clone();
    let grpc_server = tokio::spawn(crate::grpc::serve(grpc_listener, grpc_shutdown));
    services.set(Module::Server, ServiceState::Running);
    tracing::info!(%http_addr, %grpc_addr, modules = ?order, "neocortex started");

    let grace = config.server.graceful_shutdown_timeout.0;
    let ingester_config = config.ingester.clone();
    let stop_services = services.clone();
    let stop_signal = shutdown.clone();
    let done = tokio::spawn(async move {
        stop_signal.cancelled().await;
        stop_services.set_all(ServiceState::Stopping);
        let drained = tokio::time::timeout(grace, async {
            let http = http_server.await;
            let grpc = grpc_server.await;
            (http, grpc)
        })
        .await;
        if let Some(ingester) = &handles.ingester {
            // Cortex: flush on shutdown when the WAL is off, or when asked to despite the WAL.
            let wal = &ingester_config.walconfig;
            let flush = !wal.wal_enabled || wal.flush_on_shutdown_with_wal_enabled;
            ingester.shutdown(flush, ingester_config.flush_op_timeout.0).await;
        }
        if let Some(wal) = handles.wal {
            wal.stop().await;
        }
        if let Some(table_manager) = handles.table_manager {
            // Let a sync in progress finish its table operations, within the grace period.
            if tokio::time::timeout(grace, table_manager).await.is_err() {
                tracing::warn!(
                    ?grace,
                    "the table manager's sync did not finish within the graceful shutdown timeout"
                );
            }
        }
        for task in handles.background {
            task.abort();
        }
        stop_services.set_all(ServiceState::Terminated);
        match drained {
            Ok((http, grpc)) => {
                http.context("http server task")?.context("http server")?;
                grpc.context("grpc server task")??;
                Ok(())
            }
            Err(_) => {
                tracing::warn!(
                    ?grace,
                    "in-flight requests did not finish within the graceful shutdown timeout"
                );
                Ok(())
            }
        }
    });

    Ok(Running { http_addr, grpc_addr, shutdown, done })
}

fn init_overrides(
    config: &Config,
    registry: &mut Registry,
    shutdown: &CancellationToken,
    background: &mut Vec<tokio::task::JoinHandle<()>>,
) -> anyhow::Result<Overrides> {
    let overrides = Overrides::new(config.limits.clone());
    if let Some(path) = config.runtime_config_file() {
        load_into(&path, &overrides)?;
        let metrics = RuntimeConfigMetrics::register(registry);
        background.push(spawn_reloader(
            path,
            config.runtime_config.period.0,
            overrides.clone(),
            metrics,
            shutdown.child_token(),
        ));
    }
    Ok(overrides)
}

async fn bind(address: &str, port: u16) -> anyhow::Result<TcpListener> {
    let host = if address.is_empty() { "0.0.0.0" } else { address };
    let listener =
        TcpListener::bind((host, port)).await.with_context(|| format!("listening on {host}:{port}"))?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;
    use neocortex_proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};
    use prost::Message;

    /// A config on loopback with free ports and its data under a fresh directory (removed when
    /// the returned guard drops).
    fn test_config(auth_enabled: bool) -> (Config, tempfile::TempDir) {
        let mut config = Config { auth_enabled, ..Config::default() };
        let scratch = tempfile::Builder::new().prefix("neocortex-app-test-").tempdir().unwrap();
        let data = scratch.path();
        config.storage.redb.directory = data.join("index").display().to_string();
        config.storage.filesystem.directory = data.join("chunks").display().to_string();
        config.ingester.walconfig.wal_dir = data.join("wal").display().to_string();
        config.server.http_listen_address = "127.0.0.1".to_string();
        config.server.http_listen_port = 0;
        config.server.grpc_listen_address = "127.0.0.1".to_string();
        config.server.grpc_listen_port = 0;
        // In-process tests run side by side: no shared ./data/wal.
        config.ingester.walconfig.wal_enabled = false;
        config.ingester.walconfig.recover_from_wal = false;
        (config, scratch)
    }

    fn write_body(metric: &str, timestamp_ms: i64) -> Vec<u8> {
        let request = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![
                    Label { name: "__name__".into(), value: metric.into() },
                    Label { name: "job".into(), value: "test".into() },
                ],
                samples: vec![Sample { value: 1.5, timestamp: timestamp_ms }],
                ..Default::default()
            }],
            ..Default::default()
        };
        snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()).unwrap()
    }

    fn now_ms() -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
    }

    #[tokio::test]
    async fn push_then_read_back_per_tenant() {
        let (config, _data) = test_config(true);
        let running = start(config).await.unwrap();
        let base = format!("http://{}", running.http_addr);
        let client = reqwest::Client::new();

        let ready = client.get(format!("{base}/ready")).send().await.unwrap();
        assert_eq!(ready.status(), 200);

        let push = |tenant: Option<&'static str>, metric: &'static str| {
            let mut request = client
                .post(format!("{base}/api/v1/push"))
                .header("Content-Type", "application/x-protobuf")
                .header("Content-Encoding", "snappy")
                .body(write_body(metric, now_ms()));
            if let Some(tenant) = tenant {
                request = request.header("X-Scope-OrgID", tenant);
            }
            request.send()
        };
        assert_eq!(push(None, "a_metric").await.unwrap().status(), 401);
        assert_eq!(push(Some("team-a"), "a_metric").await.unwrap().status(), 200);
        assert_eq!(push(Some("team-b"), "b_metric").await.unwrap().status(), 200);

        let labels_of = |tenant: &'static str| {
            client
                .get(format!("{base}/prometheus/api/v1/label/__name__/values"))
                .header("X-Scope-OrgID", tenant)
                .send()
        };
        let body = labels_of("team-a").await.unwrap().text().await.unwrap();
        assert_eq!(body, r#"{"status":"success","data":["a_metric"]}"#);
        let body = labels_of("team-b").await.unwrap().text().await.unwrap();
        assert_eq!(body, r#"{"status":"success","data":["b_metric"]}"#);
        let legacy = client
            .get(format!("{base}/api/prom/api/v1/label/__name__/values"))
            .header("X-Scope-OrgID", "team-a")
            .send()
            .await
            .unwrap();
        assert_eq!(legacy.text().await.unwrap(), r#"{"status":"success","data":["a_metric"]}"#);

        let metrics = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(
            metrics.contains("cortex_distributor_received_samples_total{user=\"team-a\"} 1"),
            "{metrics}"
        );
        assert!(metrics.contains("method=\"POST\",route=\"api_v1_push\",status_code=\"200\""), "{metrics}");
        assert!(metrics.contains("process_resident_memory_bytes"), "{metrics}");

        let services = client.get(format!("{base}/services")).send().await.unwrap().text().await.unwrap();
        assert!(services.contains("ingester => Running"), "{services}");

        running.shutdown();
        running.wait().await.unwrap();
    }

    #[tokio::test]
    async fn auth_disabled_uses_fake_tenant() {
        let (config, _data) = test_config(false);
        let running = start(config).await.unwrap();
        let base = format!("http://{}", running.http_addr);
        let client = reqwest::Client::new();
        let response = client
            .post(format!("{base}/api/v1/push"))
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "snappy")
            .body(write_body("up", now_ms()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body = client
            .get(format!("{base}/prometheus/api/v1/labels"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, r#"{"status":"success","data":["__name__","job"]}"#);
        let metrics = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("user=\"fake\""), "{metrics}");
        running.shutdown();
        running.wait().await.unwrap();
    }

    #[tokio::test]
    async fn only_the_targeted_modules_run() {
        let (config, _data) = test_config(false);
        let config = Config { target: "querier".to_string(), ..config };
        let running = start(config).await.unwrap();
        let base = format!("http://{}", running.http_addr);
        let client = reqwest::Client::new();
        let push = client.post(format!("{base}/api/v1/push")).body(Vec::new()).send().await.unwrap();
        assert_eq!(push.status(), 404, "no distributor runs in a querier-only process");
        let services = client.get(format!("{base}/services")).send().await.unwrap().text().await.unwrap();
        assert!(services.contains("querier => Running") && !services.contains("ingester"), "{services}");
        running.shutdown();
        running.wait().await.unwrap();
    }

    #[tokio::test]
    async fn graceful_restart_keeps_samples_through_the_wal() {
        let dir = tempfile::tempdir().unwrap();
        let config = || {
            let (mut config, _scratch) = test_config(false);
            config.storage.redb.directory = dir.path().join("index").display().to_string();
            config.storage.filesystem.directory = dir.path().join("chunks").display().to_string();
            config.ingester.walconfig.wal_enabled = true;
            config.ingester.walconfig.recover_from_wal = true;
            config.ingester.walconfig.wal_dir = dir.path().join("wal").display().to_string();
            config
        };
        let client = reqwest::Client::new();
        let running = start(config()).await.unwrap();
        let base = format!("http://{}", running.http_addr);
        let pushed = client
            .post(format!("{base}/api/v1/push"))
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "snappy")
            .body(write_body("kept_metric", now_ms()))
            .send()
            .await
            .unwrap();
        assert_eq!(pushed.status(), 200);
        let metrics = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("cortex_ingester_wal_records_logged_total 1"), "{metrics}");
        running.shutdown();
        running.wait().await.unwrap();
        let names: Vec<String> = std::fs::read_dir(dir.path().join("wal"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().any(|name| name.starts_with("checkpoint.")), "final checkpoint: {names:?}");

        let running = start(config()).await.unwrap();
        let base = format!("http://{}", running.http_addr);
        let body = client
            .get(format!("{base}/prometheus/api/v1/label/__name__/values"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, r#"{"status":"success","data":["kept_metric"]}"#);
        running.shutdown();
        running.wait().await.unwrap();
    }

    #[tokio::test]
    async fn runtime_config_overrides_reload_without_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runtime.yaml");
        std::fs::write(&path, "overrides:\n  team-a:\n    ingestion_rate: 0\n    ingestion_burst_size: 0\n")
            .unwrap();
        let (mut config, _data) = test_config(true);
        config.runtime_config.file = path.display().to_string();
        config.runtime_config.period =
            neocortex_core::duration::GoDuration(std::time::Duration::from_millis(100));
        let running = start(config).await.unwrap();
        let base = format!("http://{}", running.http_addr);
        let client = reqwest::Client::new();
        let push = |tenant: &'static str, timestamp_ms: i64| {
            client
                .post(format!("{base}/api/v1/push"))
                .header("X-Scope-OrgID", tenant)
                .body(write_body("limited", timestamp_ms))
                .send()
        };
        let started = now_ms();
        assert_eq!(push("team-a", started).await.unwrap().status(), 429);
        assert_eq!(push("team-b", started).await.unwrap().status(), 200);

        std::fs::write(&path, "overrides: {}\n").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut status = 429;
        while std::time::Instant::now() < deadline {
            status = push("team-a", now_ms()).await.unwrap().status().as_u16();
            if status == 200 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(status, 200, "the override was not reloaded");
        running.shutdown();
        running.wait().await.unwrap();
    }

    #[tokio::test]
    async fn promql_query_and_query_range_over_pushed_data() {
        let (config, _data) = test_config(false);
        let running = start(config).await.unwrap();
        let base = format!("http://{}", running.http_addr);
        let client = reqwest::Client::new();
        // Samples at t = 1000 s and 1015 s (old data is accepted: reject_old_samples is off).
        for timestamp_ms in [1_000_000, 1_015_000] {
            let response = client
                .post(format!("{base}/api/v1/push"))
                .body(write_body("m", timestamp_ms))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
        let instant = client
            .get(format!("{base}/prometheus/api/v1/query"))
            .query(&[("query", "m * 2"), ("time", "1020")])
            .send()
            .await
            .unwrap();
        assert_eq!(instant.status(), 200);
        assert_eq!(
            instant.text().await.unwrap(),
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"test"},"value":[1020,"3"]}]}}"#
        );
        let range = client
            .post(format!("{base}/prometheus/api/v1/query_range"))
            .form(&[("query", "m"), ("start", "1000"), ("end", "1015"), ("step", "15s")])
            .send()
            .await
            .unwrap();
        assert_eq!(
            range.text().await.unwrap(),
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"m","job":"test"},"values":[[1000,"1.5"],[1015,"1.5"]]}]}}"#
        );
        let bad = client
            .get(format!("{base}/prometheus/api/v1/query"))
            .query(&[("query", "sum(")])
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);
        let body = bad.text().await.unwrap();
        assert!(
            body.starts_with(r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error"#),
            "{body}"
        );
        let too_many_points = client
            .get(format!("{base}/prometheus/api/v1/query_range"))
            .query(&[("query", "m"), ("start", "0"), ("end", "11000"), ("step", "1")])
            .send()
            .await
            .unwrap();
        assert_eq!(too_many_points.status(), 400);
        let with_stats = client
            .get(format!("{base}/prometheus/api/v1/query"))
            .query(&[("query", "m"), ("time", "1020"), ("stats", "all")])
            .send()
            .await
            .unwrap();
        let body = with_stats.text().await.unwrap();
        assert!(
            body.contains(r#""stats":{"timings":{"evalTotalTime":"#)
                && body.contains(r#""totalQueryableSamples":2"#),
            "{body}"
        );
        running.shutdown();
        running.wait().await.unwrap();
    }
}
