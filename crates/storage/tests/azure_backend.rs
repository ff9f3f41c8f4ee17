//! The azure backend against Azurite on loopback: the object conformance suite and a chunk
//! store round trip over the embedded redb index and Azure Blob chunks.
#![cfg(all(feature = "azure", feature = "local"))]

use std::sync::Arc;

use neocortex_core::TenantId;
use neocortex_storage::azure::{self, AzureConfig};
use neocortex_storage::index::redb::RedbIndexClient;
use neocortex_storage::object::conformance::run_object_client_suite;
use neocortex_storage::{ChunkStore, SchemaConfig, StorageError};
use neocortex_testkit::azurite::{
    azurite_binary, AzuriteProcess, AZURITE_ACCOUNT, AZURITE_INSTALL_HINT, AZURITE_KEY,
};
use neocortex_testkit::external::require_binary;

mod cloud_data;

async fn azurite(test: &str) -> Option<(AzuriteProcess, AzureConfig)> {
    let binary = require_binary(azurite_binary(), test, AZURITE_INSTALL_HINT)?;
    let server = AzuriteProcess::start(&binary).await.expect("start azurite");
    server.create_container("chunks").await.expect("create container");
    let config = AzureConfig {
        container_name: "chunks".into(),
        account_name: AZURITE_ACCOUNT.into(),
        account_key: AZURITE_KEY.into(),
        endpoint: server.blob_endpoint(),
        max_retries: 1,
        ..Default::default()
    };
    Some((server, config))
}

#[tokio::test]
async fn azure_object_conformance() {
    let Some((_server, config)) = azurite("azure_object_conformance").await else { return };
    let client = azure::object_client(&config).await.expect("azure client");
    run_object_client_suite(client.as_ref()).await;
}

#[tokio::test]
async fn azure_wrong_key_and_missing_container_are_errors() {
    let Some((_server, config)) = azurite("azure_wrong_key_and_missing_container_are_errors").await else {
        return;
    };
    let wrong_key = AzureConfig { account_key: "d3Jvbmc=".into(), ..config.clone() };
    let client = azure::object_client(&wrong_key).await.expect("azure client");
    let err = client.put("team-a/1:0:1:0", bytes::Bytes::from_static(b"x")).await.unwrap_err();
    assert!(matches!(err, StorageError::Backend { backend: "azure", .. }), "{err:?}");
    let missing = AzureConfig { container_name: "nothing-here".into(), ..config };
    let client = azure::object_client(&missing).await.expect("azure client");
    let err = client.put("team-a/1:0:1:0", bytes::Bytes::from_static(b"x")).await.unwrap_err();
    assert!(matches!(err, StorageError::Backend { backend: "azure", .. }), "{err:?}");
    let err = azure::object_client(&AzureConfig::default()).await.err().expect("an account is required");
    assert!(err.to_string().contains("-azure.account-name"), "{err}");
}

#[tokio::test]
async fn chunk_store_round_trip_over_redb_and_azure() {
    let Some((_server, config)) = azurite("chunk_store_round_trip_over_redb_and_azure").await else { return };
    let directory = tempfile::tempdir().unwrap();
    let schema = SchemaConfig::from_yaml(
        "configs:\n  - from: 2020-01-01\n    store: redb\n    object_store: azure\n    schema: v11\n\
         \x20   index: {prefix: index_, period: 1w}\n",
    )
    .unwrap();
    let tenant = TenantId::new("team-a").unwrap();
    {
        let index = Arc::new(RedbIndexClient::open(directory.path()).unwrap());
        let objects = azure::object_client(&config).await.unwrap();
        let store = ChunkStore::new(schema.clone(), index, objects);
        cloud_data::write_series(&store, &tenant).await;
    }
    let index = Arc::new(RedbIndexClient::open(directory.path()).unwrap());
    let objects = azure::object_client(&config).await.unwrap();
    let store = ChunkStore::new(schema, index, objects.clone());
    cloud_data::check_series(&store, &tenant).await;
    assert_eq!(objects.list("team-a").await.unwrap().len(), cloud_data::OBJECTS);
}
