//! The table manager against a real DynamoDB endpoint on loopback (`moto_server`): tables made
//! with the configured capacity and tags, capacity / on-demand mode / tags updated when the
//! config changes (and not when updates are disabled), expired tables deleted, foreign ones kept.
//! Without `moto_server` the test skips with a notice, or fails under `CI=true`.
#![cfg(feature = "aws")]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use neocortex_storage::aws::config::DynamoDbConfig;
use neocortex_storage::aws::{self, AwsConfig};
use neocortex_storage::table_client::{TableClient, TableDesc};
use neocortex_storage::table_manager::{TableBackend, TableManager, TableManagerConfig, TableManagerMetrics};
use neocortex_storage::SchemaConfig;
use neocortex_testkit::moto::MotoProcess;
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

const WEEK_MS: i64 = 7 * 86_400_000;

fn schema(team: &str) -> SchemaConfig {
    SchemaConfig::from_yaml(&format!(
        "configs: [{{from: 2020-01-02, store: aws-dynamo, object_store: s3, schema: v11, \
         index: {{prefix: tm_idx_, period: 1w, tags: {{team: {team}}}}}}}]"
    ))
    .unwrap()
}

fn config(read: i64, write: i64, on_demand: bool) -> TableManagerConfig {
    let mut config = TableManagerConfig::default();
    config.retention_period.0 = Duration::from_secs(14 * 86_400);
    config.retention_deletes_enabled = true;
    let index = &mut config.index_tables_provisioning;
    index.provisioned_read_throughput = read;
    index.provisioned_write_throughput = write;
    index.enable_ondemand_throughput_mode = on_demand;
    index.inactive_read_throughput = 2;
    index.inactive_write_throughput = 3;
    config
}

fn manager(
    config: TableManagerConfig,
    schema: SchemaConfig,
    client: Arc<dyn TableClient>,
    registry: &mut Registry,
) -> TableManager {
    let clients = BTreeMap::from([(TableBackend::Aws, client)]);
    TableManager::new(
        config,
        schema,
        Duration::from_secs(12 * 3600),
        clients,
        TableManagerMetrics::register(registry),
    )
    .unwrap()
}

async fn describe(client: &dyn TableClient, name: &str) -> TableDesc {
    client.describe_table(name).await.unwrap().0
}

#[tokio::test]
async fn dynamodb_capacity_tags_and_retention() {
    let Some(moto) = MotoProcess::start_or_skip("dynamodb_capacity_tags_and_retention")
        .await
        .expect("moto_server must start")
    else {
        return;
    };
    let aws_config = AwsConfig {
        dynamodb: DynamoDbConfig {
            dynamodb_url: format!("http://test:test@127.0.0.1:{}", moto.port()),
            ..Default::default()
        },
        ..Default::default()
    };
    let client = aws::table_client(&aws_config).await.unwrap();
    let foreign = TableDesc {
        name: "foreign_table".into(),
        provisioned_read: 1,
        provisioned_write: 1,
        ..Default::default()
    };
    client.create_table(foreign).await.unwrap();
    let expired = TableDesc {
        name: "tm_idx_2600".into(),
        provisioned_read: 1,
        provisioned_write: 1,
        ..Default::default()
    };
    client.create_table(expired).await.unwrap();

    // Week 2613 plus an hour: tables 2611..=2613 within 2 weeks of retention; 2612 (ended an
    // hour ago) and 2613 are active.
    let now = 2613 * WEEK_MS + 3_600_000;
    let mut registry = Registry::default();
    let first = manager(config(7, 9, false), schema("a"), client.clone(), &mut registry);
    let report = first.sync_tables_at(now).await;
    assert!(report.failures.is_empty(), "{report:?}");
    assert_eq!(report.created, ["tm_idx_2611", "tm_idx_2612", "tm_idx_2613"]);
    assert_eq!(report.deleted, ["tm_idx_2600"]);
    let mut tables = client.list_tables().await.unwrap();
    tables.sort();
    assert_eq!(tables, ["foreign_table", "tm_idx_2611", "tm_idx_2612", "tm_idx_2613"]);
    let active = describe(client.as_ref(), "tm_idx_2613").await;
    assert_eq!((active.use_on_demand_mode, active.provisioned_read, active.provisioned_write), (false, 7, 9));
    assert_eq!(active.tags.get("team").map(String::as_str), Some("a"));
    let inactive = describe(client.as_ref(), "tm_idx_2611").await;
    assert_eq!((inactive.provisioned_read, inactive.provisioned_write), (2, 3));

    // In step with the config: the next sync changes nothing but reports capacities.
    let report = first.sync_tables_at(now).await;
    assert!(
        report.created.is_empty() && report.updated.is_empty() && report.failures.is_empty(),
        "{report:?}"
    );
    let mut text = String::new();
    encode(&mut text, &registry).unwrap();
    assert!(text.contains("cortex_table_capacity_units{op=\"read\",table=\"tm_idx_2613\"} 7.0"), "{text}");
    assert!(text.contains("cortex_table_capacity_units{op=\"write\",table=\"tm_idx_2611\"} 3.0"), "{text}");

    // New capacity and tags: the active table gets both, the inactive ones the new tags.
    let second = manager(config(20, 30, false), schema("b"), client.clone(), &mut Registry::default());
    let report = second.sync_tables_at(now).await;
    assert!(report.failures.is_empty(), "{report:?}");
    assert_eq!(report.updated, ["tm_idx_2611", "tm_idx_2612", "tm_idx_2613"]);
    let active = describe(client.as_ref(), "tm_idx_2613").await;
    assert_eq!((active.provisioned_read, active.provisioned_write), (20, 30));
    assert_eq!(active.tags.get("team").map(String::as_str), Some("b"));
    assert_eq!(
        describe(client.as_ref(), "tm_idx_2611").await.tags.get("team").map(String::as_str),
        Some("b")
    );

    // Updates disabled: a different config is left unapplied.
    let mut frozen_config = config(40, 50, false);
    frozen_config.throughput_updates_disabled = true;
    let frozen = manager(frozen_config, schema("b"), client.clone(), &mut Registry::default());
    let report = frozen.sync_tables_at(now).await;
    assert!(report.updated.is_empty(), "{report:?}");
    assert_eq!(describe(client.as_ref(), "tm_idx_2613").await.provisioned_read, 20);

    // On-demand for active tables.
    let on_demand = manager(config(20, 30, true), schema("b"), client.clone(), &mut Registry::default());
    let report = on_demand.sync_tables_at(now).await;
    // Table 2612 ended an hour ago: still active for max_chunk_age (12h) after its end.
    assert_eq!(report.updated, ["tm_idx_2612", "tm_idx_2613"], "{report:?}");
    assert!(describe(client.as_ref(), "tm_idx_2613").await.use_on_demand_mode);
    assert!(describe(client.as_ref(), "tm_idx_2612").await.use_on_demand_mode);
    assert!(!describe(client.as_ref(), "tm_idx_2611").await.use_on_demand_mode);

    assert_eq!(
        describe(client.as_ref(), "foreign_table").await.provisioned_read,
        1,
        "foreign table untouched"
    );
}
