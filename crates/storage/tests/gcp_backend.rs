//! The gcp backends against real emulators on loopback: the index conformance suite and the
//! table client against Google's Bigtable emulator (`cbtemulator`), the object conformance
//! suite against fake-gcs-server, and a chunk store round trip over both.
#![cfg(feature = "gcp")]

use std::sync::Arc;

use neocortex_core::{Matcher, TenantId};
use neocortex_storage::gcp::{self, BigtableConfig, GcsConfig};
use neocortex_storage::index::conformance::run_index_client_suite;
use neocortex_storage::object::conformance::run_object_client_suite;
use neocortex_storage::table_client::TableDesc;
use neocortex_storage::{ChunkStore, SchemaConfig, StorageError};
use neocortex_testkit::bigtable_emulator::{
    cbtemulator_binary, BigtableEmulatorProcess, CBTEMULATOR_INSTALL_HINT,
};
use neocortex_testkit::external::require_binary;
use neocortex_testkit::fake_gcs::{fake_gcs_binary, FakeGcsProcess, FAKE_GCS_INSTALL_HINT};

mod cloud_data;

async fn bigtable(test: &str) -> Option<(BigtableEmulatorProcess, BigtableConfig)> {
    let binary = require_binary(cbtemulator_binary(), test, CBTEMULATOR_INSTALL_HINT)?;
    let emulator = BigtableEmulatorProcess::start(&binary).await.expect("start cbtemulator");
    let config = BigtableConfig {
        project: "neocortex".into(),
        instance: "test".into(),
        emulator_host: emulator.host(),
        ..Default::default()
    };
    Some((emulator, config))
}

async fn gcs(test: &str) -> Option<(FakeGcsProcess, GcsConfig)> {
    let binary = require_binary(fake_gcs_binary(), test, FAKE_GCS_INSTALL_HINT)?;
    let server = FakeGcsProcess::start(&binary).await.expect("start fake-gcs-server");
    server.create_bucket("chunks").await.expect("create bucket");
    let config = GcsConfig { bucket_name: "chunks".into(), endpoint: server.url(), ..Default::default() };
    Some((server, config))
}

#[tokio::test]
async fn bigtable_index_conformance() {
    let Some((_emulator, config)) = bigtable("bigtable_index_conformance").await else { return };
    let client = gcp::index_client(&config).await.expect("bigtable client");
    run_index_client_suite(client.as_ref()).await;
}

#[tokio::test]
async fn bigtable_index_conformance_without_table_cache() {
    let Some((_emulator, mut config)) = bigtable("bigtable_index_conformance_without_table_cache").await
    else {
        return;
    };
    config.table_cache_enabled = false;
    let client = gcp::index_client(&config).await.expect("bigtable client");
    run_index_client_suite(client.as_ref()).await;
}

#[tokio::test]
async fn bigtable_table_client() {
    let Some((_emulator, config)) = bigtable("bigtable_table_client").await else { return };
    let tables = gcp::table_client(&config).await.expect("table client");
    assert!(tables.list_tables().await.unwrap().is_empty());
    let desc = |name: &str| TableDesc { name: name.into(), provisioned_read: 300, ..Default::default() };
    tables.create_table(desc("index_2609")).await.unwrap();
    tables.create_table(desc("index_2608")).await.unwrap();
    tables.create_table(desc("index_2609")).await.expect("creating an existing table succeeds");
    assert_eq!(tables.list_tables().await.unwrap(), ["index_2608", "index_2609"]);

    let (described, active) = tables.describe_table("index_2609").await.unwrap();
    assert!(active);
    assert_eq!(
        described,
        TableDesc { name: "index_2609".into(), ..Default::default() },
        "no capacity in Bigtable"
    );
    let missing = tables.describe_table("index_1").await.unwrap_err();
    assert!(matches!(missing, StorageError::NotFound(_)), "{missing:?}");
    tables.update_table(described.clone(), desc("index_2609")).await.expect("capacity changes are no-ops");

    tables.delete_table("index_2608").await.unwrap();
    tables.delete_table("index_2608").await.expect("deleting a missing table succeeds");
    assert_eq!(tables.list_tables().await.unwrap(), ["index_2609"]);

    // A table the manager created is usable by the index client, and deleting it drops rows.
    let index = gcp::index_client(&config).await.unwrap();
    let own = index.clone().table_client().expect("the Bigtable index client is its own table client");
    assert_eq!(own.list_tables().await.unwrap(), ["index_2609"]);
    let entry = neocortex_storage::schema::entries::IndexEntry {
        table: "index_2609".into(),
        hash_value: "h".into(),
        range_value: b"r\0".to_vec(),
        value: b"v".to_vec(),
    };
    index.batch_write(vec![entry.clone()]).await.unwrap();
    let query = neocortex_storage::schema::entries::IndexQuery {
        table: "index_2609".into(),
        hash_value: "h".into(),
        ..Default::default()
    };
    assert_eq!(index.query(vec![query.clone()]).await.unwrap()[0].len(), 1);
    tables.delete_table("index_2609").await.unwrap();
    assert!(index.query(vec![query.clone()]).await.unwrap()[0].is_empty());
    // The index client remembered the table; its next write re-creates it.
    index.batch_write(vec![entry]).await.expect("write after the table was deleted elsewhere");
    assert_eq!(index.query(vec![query]).await.unwrap()[0].len(), 1);
}

#[tokio::test]
async fn bigtable_config_errors_are_errors() {
    let no_project =
        BigtableConfig { instance: "i".into(), emulator_host: "127.0.0.1:1".into(), ..Default::default() };
    let err = gcp::index_client(&no_project).await.err().expect("a project is required");
    assert!(err.to_string().contains("-bigtable.project"), "{err}");
    let bad_host = BigtableConfig {
        project: "p".into(),
        instance: "i".into(),
        emulator_host: "not a host".into(),
        ..Default::default()
    };
    let err = gcp::index_client(&bad_host).await.err().expect("a bad emulator host is refused");
    assert!(err.to_string().contains("emulator host"), "{err}");
    let err = gcp::object_client(&GcsConfig::default()).await.err().expect("a bucket is required");
    assert!(err.to_string().contains("-gcs.bucketname"), "{err}");
}

#[tokio::test]
async fn gcs_object_conformance() {
    let Some((_server, config)) = gcs("gcs_object_conformance").await else { return };
    let client = gcp::object_client(&config).await.expect("gcs client");
    run_object_client_suite(client.as_ref()).await;
}

#[tokio::test]
async fn gcs_missing_bucket_is_a_backend_error() {
    let Some((_server, mut config)) = gcs("gcs_missing_bucket_is_a_backend_error").await else { return };
    config.bucket_name = "no-such-bucket".into();
    let client = gcp::object_client(&config).await.expect("gcs client");
    let err = client.put("team-a/1:0:1:0", bytes::Bytes::from_static(b"x")).await.unwrap_err();
    assert!(matches!(err, StorageError::Backend { backend: "gcs", .. }), "{err:?}");
}

#[tokio::test]
async fn chunk_store_round_trip_over_bigtable_and_gcs() {
    let test = "chunk_store_round_trip_over_bigtable_and_gcs";
    let Some((_emulator, bigtable_config)) = bigtable(test).await else { return };
    let Some((_server, gcs_config)) = gcs(test).await else { return };
    let schema = SchemaConfig::from_yaml(
        "configs:\n  - from: 2020-01-01\n    store: bigtable\n    object_store: gcs\n    schema: v11\n\
         \x20   index: {prefix: index_, period: 1w}\n    row_shards: 4\n",
    )
    .unwrap();
    let tenant = TenantId::new("team-a").unwrap();
    {
        let index = gcp::index_client(&bigtable_config).await.unwrap();
        let objects = gcp::object_client(&gcs_config).await.unwrap();
        let store = ChunkStore::new(schema.clone(), index, objects);
        cloud_data::write_series(&store, &tenant).await;
    }
    // Fresh clients: everything comes back from the servers.
    let index = gcp::index_client(&bigtable_config).await.unwrap();
    let objects = gcp::object_client(&gcs_config).await.unwrap();
    let store = Arc::new(ChunkStore::new(schema, index.clone(), objects.clone()));
    cloud_data::check_series(&store, &tenant).await;
    assert_eq!(index.list_tables().await.unwrap(), ["index_2609"]);
    let keys = objects.list("team-a").await.unwrap();
    assert_eq!(keys.len(), cloud_data::OBJECTS);
    assert!(keys.iter().all(|key| key.starts_with("team-a/") && key.matches(':').count() == 3), "{keys:?}");
    let other = TenantId::new("team-b").unwrap();
    let name = Matcher::equal("__name__", "node_cpu_seconds_total");
    assert!(store
        .select(&other, cloud_data::START_MS, cloud_data::END_MS, &[name])
        .await
        .unwrap()
        .is_empty());
}

/// Chunks in Bigtable tables: weekly chunk tables from 1970 on, so the suite's keys (from 0 and
/// from 2020) land in several tables.
const BIGTABLE_CHUNKS_SCHEMA: &str = "configs:\n  - from: 1970-01-01\n    store: bigtable\n    schema: v11\n\
     \x20   index: {prefix: index_, period: 1w}\n    chunks: {prefix: chunks_, period: 1w}\n    row_shards: 4\n";

#[tokio::test]
async fn bigtable_chunk_conformance() {
    let Some((_emulator, config)) = bigtable("bigtable_chunk_conformance").await else { return };
    let schema = SchemaConfig::from_yaml(BIGTABLE_CHUNKS_SCHEMA).unwrap();
    let client = gcp::bigtable_chunk_client(&config, &schema).await.unwrap();
    run_object_client_suite(client.as_ref()).await;
    let index = gcp::index_client(&config).await.unwrap();
    let tables = index.list_tables().await.unwrap();
    assert!(tables.contains(&"chunks_0".to_string()), "{tables:?}");
    assert!(tables.contains(&"chunks_2608".to_string()), "2020-01-01 is in week 2608: {tables:?}");
    let table_client = client.clone().table_client().expect("chunk tables have a table client");
    assert!(table_client.describe_table("chunks_2608").await.unwrap().1);
}

#[tokio::test]
async fn chunk_store_round_trip_with_chunks_in_bigtable() {
    let Some((_emulator, config)) = bigtable("chunk_store_round_trip_with_chunks_in_bigtable").await else {
        return;
    };
    let schema = SchemaConfig::from_yaml(BIGTABLE_CHUNKS_SCHEMA).unwrap();
    let tenant = TenantId::new("team-a").unwrap();
    {
        let index = gcp::index_client(&config).await.unwrap();
        let objects = gcp::bigtable_chunk_client(&config, &schema).await.unwrap();
        cloud_data::write_series(&ChunkStore::new(schema.clone(), index, objects), &tenant).await;
    }
    let index = gcp::index_client(&config).await.unwrap();
    let objects = gcp::bigtable_chunk_client(&config, &schema).await.unwrap();
    let store = Arc::new(ChunkStore::new(schema, index.clone(), objects.clone()));
    cloud_data::check_series(&store, &tenant).await;
    assert_eq!(index.list_tables().await.unwrap(), ["chunks_2609", "index_2609"]);
    assert_eq!(objects.list("team-a").await.unwrap().len(), cloud_data::OBJECTS);
    assert!(objects.list("team-b").await.unwrap().is_empty());
}
