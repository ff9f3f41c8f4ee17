//! The aws backend against a real S3 + DynamoDB endpoint on loopback (`moto_server`): the
//! shared index and object conformance suites, the table client, and a chunk store round trip.
//! Without `moto_server` these tests skip with a notice, or fail under `CI=true`.
#![cfg(feature = "aws")]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use neocortex_core::{Labels, Matcher, Sample, Series, TenantId};
use neocortex_storage::aws::config::DynamoDbConfig;
use neocortex_storage::aws::{self, AwsConfig};
use neocortex_storage::index::conformance::run_index_client_suite;
use neocortex_storage::object::conformance::run_object_client_suite;
use neocortex_storage::table_client::TableDesc;
use neocortex_storage::{ChunkStore, SchemaConfig, SeriesChunks, StorageError};
use neocortex_testkit::chunks::{noise, xor_chunks};
use neocortex_testkit::moto::MotoProcess;

/// Starts moto, or returns from the test (skips) when it is not installed outside CI.
macro_rules! moto_or_skip {
    ($test:literal) => {
        match MotoProcess::start_or_skip($test).await.expect("moto_server must start") {
            Some(moto) => moto,
            None => return,
        }
    };
}

/// `storage.aws` pointing DynamoDB and S3 (path style, bucket `bucket`) at moto.
fn config(moto: &MotoProcess, buckets: &str) -> AwsConfig {
    let port = moto.port();
    AwsConfig {
        dynamodb: DynamoDbConfig {
            dynamodb_url: format!("http://test:test@127.0.0.1:{port}"),
            ..Default::default()
        },
        s3: format!("http://test:test@127.0.0.1:{port}/{buckets}"),
        s3forcepathstyle: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn dynamodb_index_conformance() {
    let moto = moto_or_skip!("dynamodb_index_conformance");
    let client = aws::index_client(&config(&moto, "unused")).await.unwrap();
    run_index_client_suite(client.as_ref()).await;
}

#[tokio::test]
async fn s3_object_conformance() {
    let moto = moto_or_skip!("s3_object_conformance");
    moto.create_bucket("chunks").await.unwrap();
    let client = aws::object_client(&config(&moto, "chunks")).await.unwrap();
    run_object_client_suite(client.as_ref()).await;
}

#[tokio::test]
async fn s3_spreads_objects_over_buckets() {
    let moto = moto_or_skip!("s3_spreads_objects_over_buckets");
    for bucket in ["chunks-a", "chunks-b"] {
        moto.create_bucket(bucket).await.unwrap();
    }
    // The explicit options (endpoint, keys, bucketnames) instead of the URL.
    let spread = AwsConfig {
        endpoint: moto.url(),
        access_key_id: "test".into(),
        secret_access_key: "test".into(),
        bucketnames: "chunks-a,chunks-b".into(),
        s3forcepathstyle: true,
        ..Default::default()
    };
    let client = aws::object_client(&spread).await.unwrap();
    run_object_client_suite(client.as_ref()).await;
    let keys: Vec<String> = (0..20).map(|i| format!("team-x/{i:x}:0:1:2")).collect();
    for key in &keys {
        client.put(key, bytes::Bytes::from(key.clone())).await.unwrap();
    }
    assert_eq!(client.list("team-x").await.unwrap().len(), 20, "a listing merges every bucket");
    let mut per_bucket = Vec::new();
    for bucket in ["chunks-a", "chunks-b"] {
        let single = aws::object_client(&config(&moto, bucket)).await.unwrap();
        let held = single.list("team-x").await.unwrap();
        for key in &held {
            assert_eq!(client.get(key).await.unwrap(), bytes::Bytes::from(key.clone()));
        }
        per_bucket.push(held.len());
    }
    assert_eq!(per_bucket.iter().sum::<usize>(), 20);
    assert!(per_bucket.iter().all(|&n| n > 0), "both buckets hold objects: {per_bucket:?}");
}

#[tokio::test]
async fn dynamodb_table_client() {
    let moto = moto_or_skip!("dynamodb_table_client");
    // Well above the default 2 requests/s, so 110 table calls take seconds, not a minute.
    let mut fast = config(&moto, "unused");
    fast.dynamodb.api_limit = 200.0;
    let tables = aws::table_client(&fast).await.unwrap();
    let provisioned = TableDesc {
        name: "index_2700".into(),
        use_on_demand_mode: false,
        provisioned_read: 5,
        provisioned_write: 7,
        tags: BTreeMap::from([
            ("team".to_string(), "metrics".to_string()),
            ("env".to_string(), "test".to_string()),
        ]),
    };
    tables.create_table(provisioned.clone()).await.unwrap();
    tables.create_table(provisioned.clone()).await.expect("creating an existing table is a no-op");
    let (described, active) = tables.describe_table("index_2700").await.unwrap();
    assert!(active, "moto creates tables ACTIVE");
    assert_eq!(described, provisioned, "capacity and tags as created");

    // More capacity.
    let bigger = TableDesc { provisioned_read: 10, provisioned_write: 20, ..provisioned.clone() };
    tables.update_table(described.clone(), bigger.clone()).await.unwrap();
    let (described, _) = tables.describe_table("index_2700").await.unwrap();
    assert_eq!((described.provisioned_read, described.provisioned_write), (10, 20));
    assert!(!described.use_on_demand_mode);

    // On-demand, and tags changed (one value changed, one removed, one added).
    let on_demand = TableDesc {
        use_on_demand_mode: true,
        tags: BTreeMap::from([
            ("team".to_string(), "storage".to_string()),
            ("owner".to_string(), "me".to_string()),
        ]),
        ..bigger.clone()
    };
    tables.update_table(described, on_demand.clone()).await.unwrap();
    let (described, _) = tables.describe_table("index_2700").await.unwrap();
    assert!(described.use_on_demand_mode);
    assert_eq!(described.tags, on_demand.tags);

    // And back to provisioned.
    tables.update_table(described, bigger.clone()).await.unwrap();
    let (described, _) = tables.describe_table("index_2700").await.unwrap();
    assert!(!described.use_on_demand_mode);
    assert_eq!((described.provisioned_read, described.provisioned_write), (10, 20));

    // An on-demand table created as such; bad capacity is refused before any request.
    let created_on_demand =
        TableDesc { name: "index_2701".into(), use_on_demand_mode: true, ..Default::default() };
    tables.create_table(created_on_demand).await.unwrap();
    assert!(tables.describe_table("index_2701").await.unwrap().0.use_on_demand_mode);
    let zero = TableDesc { name: "index_2702".into(), ..Default::default() };
    assert!(matches!(tables.create_table(zero).await, Err(StorageError::Config(_))));

    // Listing follows pages (DynamoDB returns at most 100 names a page).
    for i in 0..105 {
        let desc =
            TableDesc { name: format!("extra_{i:03}"), use_on_demand_mode: true, ..Default::default() };
        tables.create_table(desc).await.unwrap();
    }
    let names = tables.list_tables().await.unwrap();
    assert_eq!(names.len(), 107);
    assert_eq!(&names[105..], ["index_2700", "index_2701"]);

    tables.delete_table("index_2700").await.unwrap();
    tables.delete_table("index_2700").await.expect("deleting a missing table succeeds");
    assert!(!tables.list_tables().await.unwrap().contains(&"index_2700".to_string()));
    assert!(tables.describe_table("index_2700").await.is_err(), "a deleted table cannot be described");
}

const SCHEMA: &str = r#"
configs:
  - from: 2020-01-01
    store: aws-dynamo
    object_store: s3
    schema: v11
    index: {prefix: index_, period: 1w}
    row_shards: 4
"#;

/// 2020-01-02T00:00:00Z.
const START_MS: i64 = 1_577_923_200_000;
const STEP_MS: i64 = 15_000;
const SAMPLES: usize = 2 * 5760;
const CHUNK_SAMPLES: usize = 120;

fn labels(i: usize) -> Labels {
    let instance = format!("host-{i}:9100");
    Labels::from_pairs([("__name__", "node_load1"), ("instance", instance.as_str()), ("job", "node")])
}

/// Series `i`'s samples: 15 s scrapes with 0–3 ms of random jitter that series `2k` and
/// `2k + 1` share (as the series of one scrape target do), so each pair stores one timestamps
/// object beside its two series objects.
fn samples(i: usize) -> Vec<Sample> {
    (0..SAMPLES)
        .map(|n| Sample {
            timestamp_ms: START_MS + n as i64 * STEP_MS + (noise(i as u64 / 2, n as u64) % 4) as i64,
            value: (i * 100_000 + n) as f64 / 8.0,
        })
        .collect()
}

#[tokio::test]
async fn chunk_store_round_trip_over_dynamodb_and_s3() {
    let moto = moto_or_skip!("chunk_store_round_trip_over_dynamodb_and_s3");
    moto.create_bucket("chunks").await.unwrap();
    let config = config(&moto, "chunks");
    let index = aws::index_client(&config).await.unwrap();
    let objects = aws::object_client(&config).await.unwrap();
    let schema = SchemaConfig::from_yaml(SCHEMA).unwrap();
    let tenant = TenantId::new("team-a").unwrap();
    let batch: Vec<SeriesChunks> = (0..4)
        .map(|i| SeriesChunks { labels: labels(i), chunks: xor_chunks(&samples(i), CHUNK_SAMPLES) })
        .collect();
    {
        let store = ChunkStore::new(schema.clone(), index.clone(), objects.clone());
        let stats = store.put_many(&tenant, &batch).await.unwrap();
        // All chunks of a series handed over at once go in one object; each pair of series
        // shares one timestamps object.
        assert_eq!((stats.objects, stats.timestamp_objects), (batch.len() * 3 / 2, batch.len() / 2));
    }
    // A fresh store over new clients reads everything back from DynamoDB and S3 alone.
    let store = ChunkStore::new(
        schema,
        aws::index_client(&config).await.unwrap(),
        aws::object_client(&config).await.unwrap(),
    );
    let end = START_MS + SAMPLES as i64 * STEP_MS;
    let read =
        store.select(&tenant, START_MS, end, &[Matcher::equal("__name__", "node_load1")]).await.unwrap();
    let mut expected: Vec<Series> =
        (0..4).map(|i| Series { labels: labels(i), samples: samples(i) }).collect();
    expected.sort_by(|a, b| a.labels.cmp(&b.labels));
    assert_eq!(read, expected, "every sample of every series, identical");
    let one = store
        .select(
            &tenant,
            START_MS,
            end,
            &[Matcher::equal("__name__", "node_load1"), Matcher::equal("instance", "host-2:9100")],
        )
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].samples, samples(2));
    let other = TenantId::new("team-b").unwrap();
    assert!(store
        .select(&other, START_MS, end, &[Matcher::equal("__name__", "node_load1")])
        .await
        .unwrap()
        .is_empty());
    assert_eq!(objects.list("team-a").await.unwrap().len(), 4 + 2);
    assert_eq!(index.list_tables().await.unwrap(), ["index_2609"]);
    let tables = index.table_client().expect("the DynamoDB index client manages its own tables");
    assert!(tables.describe_table("index_2609").await.unwrap().1, "the table created on write is ACTIVE");
}

#[tokio::test]
async fn unreachable_endpoint_fails_quickly_with_a_clear_error() {
    // A port that was just free: nothing listens there.
    let port = neocortex_testkit::ports::free_port().unwrap();
    let config = AwsConfig {
        dynamodb: DynamoDbConfig {
            dynamodb_url: format!("http://k:s@127.0.0.1:{port}"),
            ..Default::default()
        },
        s3: format!("http://k:s@127.0.0.1:{port}/chunks"),
        s3forcepathstyle: true,
        ..Default::default()
    };
    let started = Instant::now();
    let index = aws::index_client(&config).await.unwrap();
    let error = index.list_tables().await.unwrap_err();
    assert!(matches!(error, StorageError::Backend { backend: "dynamodb", .. }), "{error}");
    let objects = aws::object_client(&config).await.unwrap();
    let error = objects.get("team-a/1:2:3:4").await.unwrap_err();
    assert!(matches!(error, StorageError::Backend { backend: "s3", .. }), "{error}");
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn bad_config_is_refused_before_connecting() {
    let error = match aws::index_client(&AwsConfig::default()).await {
        Err(error) => error,
        Ok(_) => panic!("a config without -dynamodb.url must be refused"),
    };
    assert!(matches!(&error, StorageError::Config(message) if message.contains("-dynamodb.url")), "{error}");
    let bad = AwsConfig { s3: "s3://us-east-1/Not_A_Bucket".into(), ..Default::default() };
    let error = match aws::object_client(&bad).await {
        Err(error) => error,
        Ok(_) => panic!("an invalid bucket name must be refused"),
    };
    assert!(error.to_string().contains("invalid S3 bucket name"), "{error}");
}

/// Chunks in DynamoDB tables (`object_store: aws-dynamo`): weekly chunk tables from 1970 on, so
/// the suite's keys (from 0 and from 2020) land in several tables.
const DYNAMO_CHUNKS_SCHEMA: &str = r#"
configs:
  - from: 1970-01-01
    store: aws-dynamo
    schema: v11
    index: {prefix: index_, period: 1w}
    chunks: {prefix: chunks_, period: 1w}
    row_shards: 4
"#;

#[tokio::test]
async fn dynamodb_chunk_conformance() {
    let moto = moto_or_skip!("dynamodb_chunk_conformance");
    let config = config(&moto, "unused");
    let schema = SchemaConfig::from_yaml(DYNAMO_CHUNKS_SCHEMA).unwrap();
    let client = aws::dynamodb_chunk_client(&config, &schema).await.unwrap();
    run_object_client_suite(client.as_ref()).await;

    // One item per chunk, in the chunk table of its first sample, with Cortex's attributes.
    let index = aws::index_client(&config).await.unwrap();
    let tables = index.list_tables().await.unwrap();
    assert!(tables.contains(&"chunks_0".to_string()), "{tables:?}");
    assert!(
        tables.contains(&"chunks_2608".to_string()),
        "2020-01-01 is in week 2608 (2020-01-02, a Thursday, starts 2609): {tables:?}"
    );

    // Items hold at most 400 KB: a bigger object is refused with a clear error, nothing written.
    let key = "team-a/big:16f5e66e800:16f60f4d400:1";
    let error = client.put(key, bytes::Bytes::from(vec![7u8; 400 * 1024])).await.unwrap_err();
    assert!(matches!(&error, StorageError::BadQuery(message) if message.contains("400 KB")), "{error}");
    assert!(matches!(client.get(key).await, Err(StorageError::NotFound(_))));
    // A large object that fits is stored and read back whole. (The exact limit is unit-tested:
    // moto counts a binary attribute by its base64 text, a third more than DynamoDB does.)
    let fits = bytes::Bytes::from(vec![9u8; 290 * 1024]);
    client.put(key, fits.clone()).await.unwrap();
    assert_eq!(client.get(key).await.unwrap(), fits);

    // The chunk client manages the chunk tables for the table manager.
    let table_client = client.clone().table_client().expect("chunk tables have a table client");
    assert!(table_client.describe_table("chunks_2608").await.unwrap().1);
}

#[tokio::test]
async fn chunk_store_round_trip_with_chunks_in_dynamodb() {
    let moto = moto_or_skip!("chunk_store_round_trip_with_chunks_in_dynamodb");
    let config = config(&moto, "unused");
    let schema = SchemaConfig::from_yaml(DYNAMO_CHUNKS_SCHEMA).unwrap();
    let tenant = TenantId::new("team-a").unwrap();
    // 30 series: more than one BatchWriteItem (25 items) and one BatchGetItem of 30 keys.
    let batch: Vec<SeriesChunks> = (0..30)
        .map(|i| SeriesChunks { labels: labels(i), chunks: xor_chunks(&samples(i), CHUNK_SAMPLES) })
        .collect();
    {
        let index = aws::index_client(&config).await.unwrap();
        let objects = aws::dynamodb_chunk_client(&config, &schema).await.unwrap();
        let store = ChunkStore::new(schema.clone(), index, objects);
        let stats = store.put_many(&tenant, &batch).await.unwrap();
        assert_eq!((stats.objects, stats.timestamp_objects), (batch.len() * 3 / 2, batch.len() / 2));
    }
    let index = aws::index_client(&config).await.unwrap();
    let objects = aws::dynamodb_chunk_client(&config, &schema).await.unwrap();
    let store = ChunkStore::new(schema, index.clone(), objects.clone());
    let end = START_MS + SAMPLES as i64 * STEP_MS;
    let read =
        store.select(&tenant, START_MS, end, &[Matcher::equal("__name__", "node_load1")]).await.unwrap();
    let mut expected: Vec<Series> =
        (0..30).map(|i| Series { labels: labels(i), samples: samples(i) }).collect();
    expected.sort_by(|a, b| a.labels.cmp(&b.labels));
    assert_eq!(read, expected, "every sample of every series, identical");
    assert_eq!(objects.list("team-a").await.unwrap().len(), 30 + 15);
    // 2020-01-02 is in week 2609: the index and the chunks each have their table.
    assert_eq!(index.list_tables().await.unwrap(), ["chunks_2609", "index_2609"]);
}
