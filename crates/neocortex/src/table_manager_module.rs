//! The `table-manager` module: runs the table manager of `neocortex_storage` over the schema's
//! backends every `-table-manager.poll-interval`, until shutdown.
//!
//! Table clients come from the store module's index clients (one per backend, so the embedded
//! redb database is shared, not opened twice); a backend whose index client does not manage its
//! own tables needs a dedicated table client, and the module refuses to start without one.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use neocortex_storage::table_client::TableClient;
use neocortex_storage::table_manager::{TableBackend, TableManager, TableManagerMetrics};
use neocortex_storage::ChunkStore;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// Builds the table manager for `store`'s schema and starts its loop.
pub fn start(
    config: &Config,
    store: &ChunkStore,
    registry: &mut Registry,
    shutdown: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let schema = store.schema().clone();
    let clients = table_clients(store);
    let manager = TableManager::new(
        config.table_manager.clone(),
        schema,
        config.ingester.max_chunk_age.0,
        clients,
        TableManagerMetrics::register(registry),
    )
    .context("starting the table manager")?
    .with_chunk_stores(store.period_object_clients());
    let manager = Arc::new(manager);
    Ok(tokio::spawn(manager.run(async move { shutdown.cancelled().await })))
}

/// One table client per backend of the schema's index stores and table-based chunk stores,
/// taken from the store's clients (the index client's first, then the chunk client's, so chunk
/// tables are managed even when the index lives in another backend).
fn table_clients(store: &ChunkStore) -> BTreeMap<TableBackend, Arc<dyn TableClient>> {
    let mut clients = BTreeMap::new();
    let periods = store.schema().configs.iter();
    for (period, index) in periods.clone().zip(store.period_index_clients()) {
        let Some(backend) = TableBackend::for_store(&period.store) else { continue };
        if clients.contains_key(&backend) {
            continue;
        }
        if let Some(client) = index.table_client() {
            clients.insert(backend, client);
        }
    }
    for (period, objects) in periods.zip(store.period_object_clients()) {
        if !period.chunks_in_tables() {
            continue;
        }
        let Some(backend) = TableBackend::for_store(period.object_store_name()) else { continue };
        if clients.contains_key(&backend) {
            continue;
        }
        if let Some(client) = objects.table_client() {
            clients.insert(backend, client);
        }
    }
    clients
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::Config;
    use crate::load::{parse_command_line, Invocation};
    use crate::modules::{parse_targets, start_order, Module};

    #[test]
    fn table_manager_runs_alone_or_in_all() {
        let alone = start_order(&parse_targets("table-manager").unwrap());
        assert!(alone.contains(&Module::Store) && alone.contains(&Module::TableManager));
        assert!(!alone.contains(&Module::Ingester));
        assert!(start_order(&[Module::All]).contains(&Module::TableManager));
    }

    #[test]
    fn flags_and_schema_validation() {
        let config = match parse_command_line([
            "-table-manager.retention-deletes-enabled=true",
            "-table-manager.retention-period=4w",
            "-table-manager.index-table.write-throughput=25",
            "-table-manager.chunk-table.inactive-enable-ondemand-throughput-mode=true",
            "-table-manager.periodic-table.grace-period=1h",
        ])
        .unwrap()
        {
            Invocation::Run(config) => config,
            other => panic!("unexpected {other:?}"),
        };
        let table_manager = &config.table_manager;
        assert!(table_manager.retention_deletes_enabled);
        assert_eq!(table_manager.retention_period.0, Duration::from_secs(28 * 86_400));
        assert_eq!(table_manager.index_tables_provisioning.provisioned_write_throughput, 25);
        assert!(table_manager.chunk_tables_provisioning.enable_inactive_throughput_on_demand_mode);
        assert_eq!(table_manager.creation_grace_period.0, Duration::from_secs(3600));

        // The default schema has weekly tables: 10 days is not a multiple of a week.
        let err = parse_command_line(["-table-manager.retention-period=10d"]).unwrap_err();
        let message = format!("{err:#}");
        assert!(
            message.contains("retention period should now be a multiple of periodic table duration"),
            "{message}"
        );
        let err = crate::load::parse_yaml(
            "table_manager:\n  index_tables_provisioning:\n    write_scale: {enabled: true}\n",
        )
        .unwrap()
        .validate()
        .unwrap_err();
        assert!(err.contains("write_scale.enabled") && err.contains("not supported"), "{err}");
    }

    #[tokio::test]
    async fn table_manager_target_syncs_tables_and_exports_metrics() {
        let scratch = tempfile::tempdir().unwrap();
        let mut config = Config { target: "table-manager".to_string(), ..Config::default() };
        config.storage.redb.directory = scratch.path().join("index").display().to_string();
        config.storage.filesystem.directory = scratch.path().join("chunks").display().to_string();
        config.server.http_listen_address = "127.0.0.1".to_string();
        config.server.http_listen_port = 0;
        config.server.grpc_listen_address = "127.0.0.1".to_string();
        config.server.grpc_listen_port = 0;
        let running = crate::app::start(config).await.unwrap();
        let base = format!("http://{}", running.http_addr);
        let client = reqwest::Client::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let metrics = loop {
            let text = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
            if text.contains("status_code=\"success\"} 1") || std::time::Instant::now() > deadline {
                break text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(
            metrics.contains(
                "cortex_table_manager_sync_duration_seconds_count{operation=\"TableManager.SyncTables\",status_code=\"success\"} 1"
            ),
            "{metrics}"
        );
        assert!(metrics.contains("cortex_table_manager_create_failures 0"), "{metrics}");
        let services = client.get(format!("{base}/services")).send().await.unwrap().text().await.unwrap();
        assert!(
            services.contains("table-manager => Running") && !services.contains("ingester"),
            "{services}"
        );
        running.shutdown();
        running.wait().await.unwrap();
    }
}
