//! The real binary's table manager (`-target=table-manager`): on the local redb index it creates
//! the daily tables of the retention window and tomorrow's table ahead of its period (grace
//! period), deletes tables past the retention period, keeps tables it does not own, reports its
//! syncs in `/metrics` and stops on SIGTERM. On DynamoDB (`moto_server` on loopback, configured
//! through the config file) it also sets provisioned capacity and tags, active and inactive.

use std::path::Path;
use std::time::Duration;

use anyhow::ensure;
use neocortex_storage::aws::config::DynamoDbConfig;
use neocortex_storage::aws::{self, AwsConfig};
use neocortex_storage::index::redb::RedbIndexClient;
use neocortex_storage::schema::day::DayTime;
use neocortex_storage::IndexClient;
use neocortex_testkit::http::send;
use neocortex_testkit::moto::MotoProcess;
use neocortex_testkit::remote_write::now_ms;
use neocortex_testkit::{eventually, NeocortexProcess};

const DAY_MS: i64 = 86_400_000;

fn neocortex_binary() -> &'static str {
    env!("CARGO_BIN_EXE_neocortex")
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

/// Sends SIGTERM and waits for a clean exit.
async fn stop(neocortex: &mut NeocortexProcess) -> anyhow::Result<()> {
    let exited = neocortex.process().terminate(Duration::from_secs(60)).await?;
    ensure!(exited.success(), "exit status {exited}: {}", neocortex.process().output());
    Ok(())
}

async fn redb_tables(index_directory: &Path) -> anyhow::Result<Vec<String>> {
    let index = RedbIndexClient::open(index_directory)?;
    Ok(index.list_tables().await?)
}

#[tokio::test]
async fn table_manager_creates_ahead_and_deletes_past_retention_on_redb() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let index_directory = directory.path().join("data").join("index");
    std::fs::create_dir_all(&index_directory)?;
    let today = now_ms().div_euclid(DAY_MS);
    // Daily tables from 30 days ago; tables of our prefix that are past the 3-day retention,
    // and one we do not own, exist before the table manager starts.
    let from = DayTime::from_days(today - 30).to_string();
    {
        let index = RedbIndexClient::open(&index_directory)?;
        for old in [today - 8, today - 5, today - 4] {
            index.create_table(&format!("daily_{old}")).await?;
        }
        index.create_table("someone_elses_table").await?;
    }
    let schema_file = directory.path().join("schema.yaml");
    std::fs::write(
        &schema_file,
        format!(
            "configs:\n  - from: {from}\n    store: boltdb\n    object_store: filesystem\n    schema: v11\n    \
             index: {{prefix: daily_, period: 24h}}\n"
        ),
    )?;
    let schema_flag = format!("-schema-config-file={}", schema_file.display());
    let mut neocortex = NeocortexProcess::start_in(
        neocortex_binary(),
        directory.path(),
        &[
            "-target=table-manager",
            &schema_flag,
            "-table-manager.retention-period=72h",
            "-table-manager.retention-deletes-enabled=true",
            "-table-manager.periodic-table.grace-period=24h",
            "-table-manager.poll-interval=1s",
        ],
    )
    .await?;
    let client = reqwest::Client::new();
    let success = "cortex_table_manager_sync_duration_seconds_count{operation=\"TableManager.SyncTables\",status_code=\"success\"}";
    eventually("two successful table syncs", Duration::from_secs(60), || async {
        metric(&client, &neocortex, success).await.ok().filter(|count| *count >= 2.0)
    })
    .await?;
    let last_success =
        metric(&client, &neocortex, "cortex_table_manager_sync_success_timestamp_seconds").await?;
    ensure!(
        (last_success * 1000.0 - now_ms() as f64).abs() < 60_000.0,
        "last successful sync at {last_success}"
    );
    ensure!(metric(&client, &neocortex, "cortex_table_manager_create_failures").await? == 0.0);
    ensure!(metric(&client, &neocortex, "cortex_table_manager_delete_failures").await? == 0.0);
    let (_, services) = send(client.get(format!("{}/services", neocortex.http_url()))).await?;
    ensure!(services.contains("table-manager => Running") && !services.contains("ingester"), "{services}");
    stop(&mut neocortex).await?;
    ensure!(now_ms().div_euclid(DAY_MS) == today, "the day changed during the test; run it again");

    let tables = redb_tables(&index_directory).await?;
    // The retention window (today - 3 ..= today) and tomorrow's table, created within its grace
    // period; the expired tables are gone and the foreign one is kept.
    let mut expected: Vec<String> = (today - 3..=today + 1).map(|day| format!("daily_{day}")).collect();
    expected.push("someone_elses_table".to_string());
    expected.sort();
    ensure!(tables == expected, "tables {tables:?}, expected {expected:?}");
    Ok(())
}

#[tokio::test]
async fn table_manager_sets_dynamodb_capacity_and_tags_from_the_config_file() -> anyhow::Result<()> {
    let Some(moto) =
        MotoProcess::start_or_skip("table_manager_sets_dynamodb_capacity_and_tags_from_the_config_file")
            .await?
    else {
        return Ok(());
    };
    let port = moto.port();
    let aws_config = AwsConfig {
        dynamodb: DynamoDbConfig {
            dynamodb_url: format!("http://test:test@127.0.0.1:{port}"),
            ..Default::default()
        },
        ..Default::default()
    };
    let tables = aws::table_client(&aws_config).await?;
    let today = now_ms().div_euclid(DAY_MS);
    for name in [format!("nc_index_{}", today - 6), "someone_elses_table".to_string()] {
        let desc = neocortex_storage::table_client::TableDesc {
            name,
            provisioned_read: 1,
            provisioned_write: 1,
            ..Default::default()
        };
        tables.create_table(desc).await?;
    }
    moto.create_bucket("chunks").await.map_err(anyhow::Error::msg)?;
    let directory = tempfile::tempdir()?;
    let config_file = directory.path().join("neocortex.yaml");
    let from = DayTime::from_days(today - 30).to_string();
    let yaml = [
        "target: table-manager".to_string(),
        "schema:".to_string(),
        "  configs:".to_string(),
        format!("    - {{from: {from}, store: aws-dynamo, object_store: s3, schema: v11,"),
        "       index: {prefix: nc_index_, period: 24h, tags: {team: metrics}}}".to_string(),
        "storage:".to_string(),
        "  aws:".to_string(),
        format!("    dynamodb: {{dynamodb_url: 'http://test:test@127.0.0.1:{port}'}}"),
        format!("    s3: http://test:test@127.0.0.1:{port}/chunks"),
        "    s3forcepathstyle: true".to_string(),
        "table_manager:".to_string(),
        "  retention_deletes_enabled: true".to_string(),
        "  retention_period: 72h".to_string(),
        "  poll_interval: 1s".to_string(),
        "  creation_grace_period: 24h".to_string(),
        "  index_tables_provisioning:".to_string(),
        "    provisioned_read_throughput: 7".to_string(),
        "    provisioned_write_throughput: 9".to_string(),
        "    inactive_read_throughput: 2".to_string(),
        "    inactive_write_throughput: 3".to_string(),
    ];
    std::fs::write(&config_file, yaml.join("\n") + "\n")?;
    let config_flag = format!("-config.file={}", config_file.display());
    let mut neocortex =
        NeocortexProcess::start_in(neocortex_binary(), directory.path(), &[config_flag.as_str()]).await?;
    let client = reqwest::Client::new();
    let success = "cortex_table_manager_sync_duration_seconds_count{operation=\"TableManager.SyncTables\",status_code=\"success\"}";
    eventually("two successful table syncs", Duration::from_secs(60), || async {
        metric(&client, &neocortex, success).await.ok().filter(|count| *count >= 2.0)
    })
    .await?;
    let today_table = format!("nc_index_{today}");
    let capacity = format!("cortex_table_capacity_units{{op=\"write\",table=\"{today_table}\"}}");
    ensure!(metric(&client, &neocortex, &capacity).await? == 9.0, "write capacity of {today_table}");
    stop(&mut neocortex).await?;
    ensure!(now_ms().div_euclid(DAY_MS) == today, "the day changed during the test; run it again");

    let mut names = tables.list_tables().await?;
    names.sort();
    let mut expected: Vec<String> = (today - 3..=today + 1).map(|day| format!("nc_index_{day}")).collect();
    expected.push("someone_elses_table".to_string());
    expected.sort();
    ensure!(names == expected, "tables {names:?}, expected {expected:?}");
    // Today's and tomorrow's tables are active (within max_chunk_age / the grace period); the
    // table of three days ago ended more than 12h ago and is inactive.
    for (day, read, write) in [(today, 7, 9), (today + 1, 7, 9), (today - 3, 2, 3)] {
        let (desc, _) = tables.describe_table(&format!("nc_index_{day}")).await?;
        ensure!(
            (desc.provisioned_read, desc.provisioned_write) == (read, write),
            "nc_index_{day}: {desc:?}, expected {read}/{write}"
        );
        ensure!(desc.tags.get("team").map(String::as_str) == Some("metrics"), "nc_index_{day}: {desc:?}");
    }
    Ok(())
}
