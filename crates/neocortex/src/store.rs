//! The `store` module: opens the chunk store of the `schema:` and `storage:` sections, one index
//! client and one object client per schema period chosen by the period's `store` and
//! `object_store` names (Cortex's composite store), and adapts it to the ingester's flush sink.
//!
//! Clients are opened once per backend name and shared by every period naming it (the embedded
//! redb index cannot be opened twice by one process). The caches of `chunk_store:` and
//! `storage.index_queries_cache_config` go around them (see [`with_caches`]).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use neocortex_chunk::XorChunk;
use neocortex_core::TenantId;
use neocortex_ingester::{ChunkSink, FlushError, FlushSeries};
use neocortex_storage::cache::{wrap_with_caches, StoreCaches};
use neocortex_storage::index::memory::MemoryIndexClient;
use neocortex_storage::index::redb::RedbIndexClient;
use neocortex_storage::object::filesystem::FilesystemObjectClient;
use neocortex_storage::object::memory::MemoryObjectClient;
use neocortex_storage::store::dedupe::{NoWriteDedupe, WriteDedupe};
use neocortex_storage::{
    ChunkStore, IndexClient, ObjectClient, PeriodClients, PeriodConfig, SchemaConfig, SeriesChunks,
    StorageConfig, StorageError,
};

use crate::store_write_metrics::StoreWriteMetrics;

/// The index client a period's `store` name selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum IndexBackend {
    /// The embedded redb index (`boltdb`, `redb`).
    Redb,
    /// In-process memory (tests, throwaway runs).
    InMemory,
    /// DynamoDB (`aws`, `aws-dynamo`).
    DynamoDb,
    /// Bigtable (`bigtable`, `bigtable-hashed`, `gcp`, `gcp-columnkey`).
    Bigtable,
    /// Cassandra (experimental).
    Cassandra,
}

impl IndexBackend {
    fn of(name: &str) -> Option<IndexBackend> {
        Some(match name {
            "boltdb" | "redb" => IndexBackend::Redb,
            "inmemory" => IndexBackend::InMemory,
            "aws" | "aws-dynamo" => IndexBackend::DynamoDb,
            "bigtable" | "bigtable-hashed" | "gcp" | "gcp-columnkey" => IndexBackend::Bigtable,
            "cassandra" => IndexBackend::Cassandra,
            _ => return None,
        })
    }
}

/// The object client a period's `object_store` name (or, when empty, its `store` name) selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ObjectBackend {
    /// Chunks on the local filesystem.
    Filesystem,
    /// In-process memory (tests, throwaway runs).
    InMemory,
    /// S3 (`s3`, and `aws` as in Cortex).
    S3,
    /// Google Cloud Storage.
    Gcs,
    /// Azure Blob storage.
    Azure,
    /// Cassandra's `chunks` table (experimental).
    Cassandra,
    /// The schema's DynamoDB chunk tables (`aws-dynamo`).
    DynamoDbTables,
    /// The schema's Bigtable chunk tables (`bigtable`, `bigtable-hashed`, `gcp`, `gcp-columnkey`).
    BigtableTables,
}

impl ObjectBackend {
    /// The backend of `name`, or why it cannot hold chunks. As in Cortex, `aws` means S3 while
    /// `aws-dynamo` keeps chunks in DynamoDB tables, and every Bigtable name keeps them in
    /// Bigtable tables.
    fn of(name: &str) -> Result<ObjectBackend, String> {
        Ok(match name {
            "filesystem" => ObjectBackend::Filesystem,
            "inmemory" => ObjectBackend::InMemory,
            "s3" | "aws" => ObjectBackend::S3,
            "gcs" => ObjectBackend::Gcs,
            "azure" => ObjectBackend::Azure,
            "cassandra" => ObjectBackend::Cassandra,
            "aws-dynamo" => ObjectBackend::DynamoDbTables,
            "bigtable" | "bigtable-hashed" | "gcp" | "gcp-columnkey" => ObjectBackend::BigtableTables,
            _ => return Err("it names no object store: set object_store (e.g. filesystem)".to_string()),
        })
    }
}

/// Opens every client the schema names, sharing one client per backend.
#[derive(Default)]
struct ClientCache {
    indexes: HashMap<IndexBackend, Arc<dyn IndexClient>>,
    objects: HashMap<ObjectBackend, Arc<dyn ObjectClient>>,
}

impl ClientCache {
    async fn index(
        &mut self,
        period: &PeriodConfig,
        storage: &StorageConfig,
    ) -> Result<Arc<dyn IndexClient>, StorageError> {
        let name = period.store.as_str();
        let backend = IndexBackend::of(name).ok_or_else(|| {
            StorageError::Config(format!(
                "unknown index store {name:?} in the schema period from {}",
                period.from
            ))
        })?;
        if let Some(client) = self.indexes.get(&backend) {
            return Ok(client.clone());
        }
        let client: Arc<dyn IndexClient> = match backend {
            IndexBackend::Redb => Arc::new(RedbIndexClient::open(Path::new(&storage.redb.directory))?),
            IndexBackend::InMemory => Arc::new(MemoryIndexClient::new()),
            IndexBackend::DynamoDb => neocortex_storage::aws::index_client(&storage.aws).await?,
            IndexBackend::Bigtable => neocortex_storage::gcp::index_client(&storage.bigtable).await?,
            IndexBackend::Cassandra => neocortex_storage::cassandra::index_client(&storage.cassandra).await?,
        };
        self.indexes.insert(backend, client.clone());
        Ok(client)
    }

    async fn objects(
        &mut self,
        period: &PeriodConfig,
        storage: &StorageConfig,
        schema: &SchemaConfig,
    ) -> Result<Arc<dyn ObjectClient>, StorageError> {
        let name = period.object_store_name();
        let backend = ObjectBackend::of(name).map_err(|why| {
            StorageError::Config(format!(
                "object store {name:?} in the schema period from {} cannot hold chunks: {why}",
                period.from
            ))
        })?;
        if let Some(client) = self.objects.get(&backend) {
            return Ok(client.clone());
        }
        let client: Arc<dyn ObjectClient> = match backend {
            ObjectBackend::Filesystem => {
                Arc::new(FilesystemObjectClient::open(Path::new(&storage.filesystem.directory))?)
            }
            ObjectBackend::InMemory => Arc::new(MemoryObjectClient::new()),
            ObjectBackend::S3 => neocortex_storage::aws::object_client(&storage.aws).await?,
            ObjectBackend::Gcs => neocortex_storage::gcp::object_client(&storage.gcs).await?,
            ObjectBackend::Azure => neocortex_storage::azure::object_client(&storage.azure).await?,
            ObjectBackend::Cassandra => {
                neocortex_storage::cassandra::object_client(&storage.cassandra).await?
            }
            ObjectBackend::DynamoDbTables => {
                neocortex_storage::aws::dynamodb_chunk_client(&storage.aws, schema).await?
            }
            ObjectBackend::BigtableTables => {
                neocortex_storage::gcp::bigtable_chunk_client(&storage.bigtable, schema).await?
            }
        };
        self.objects.insert(backend, client.clone());
        Ok(client)
    }
}

/// Opens the chunk store for `schema` (validated, at least one period) over the backends
/// configured in `storage`, with `caches` around every period's clients.
pub async fn open_store(
    schema: &SchemaConfig,
    storage: &StorageConfig,
    caches: &StoreCaches,
) -> Result<Arc<ChunkStore>, StorageError> {
    if schema.configs.is_empty() {
        return Err(StorageError::Config(
            "the schema config has no periods: set schema.configs or -schema-config-file".to_string(),
        ));
    }
    let mut cache = ClientCache::default();
    let mut periods = Vec::with_capacity(schema.configs.len());
    for period in &schema.configs {
        let index = cache.index(period, storage).await?;
        let objects = cache.objects(period, storage, schema).await?;
        periods.push(PeriodClients { index, objects });
    }
    let (periods, dedupe) = with_caches(periods, caches);
    Ok(Arc::new(ChunkStore::with_period_clients(schema.clone(), periods)?.with_write_dedupe(dedupe)))
}

/// Puts `caches` around every period's clients. Periods sharing a backend client share its
/// caching wrapper too; the caches themselves are shared by every period (their keys name the
/// table or the tenant's chunk, so periods cannot collide).
pub fn with_caches(
    periods: Vec<PeriodClients>,
    caches: &StoreCaches,
) -> (Vec<PeriodClients>, Arc<dyn WriteDedupe>) {
    let mut wrapped: Vec<(PeriodClients, PeriodClients)> = Vec::new();
    let mut dedupe = None;
    let mut out = Vec::with_capacity(periods.len());
    for raw in periods {
        let known = wrapped.iter().find(|(seen, _)| {
            Arc::ptr_eq(&seen.index, &raw.index) && Arc::ptr_eq(&seen.objects, &raw.objects)
        });
        let clients = match known {
            Some((_, clients)) => clients.clone(),
            None => {
                let cached = wrap_with_caches(raw.index.clone(), raw.objects.clone(), caches);
                dedupe.get_or_insert(cached.write_dedupe);
                let clients = PeriodClients { index: cached.index, objects: cached.objects };
                wrapped.push((raw, clients.clone()));
                clients
            }
        };
        out.push(clients);
    }
    let dedupe = dedupe.unwrap_or_else(|| Arc::new(NoWriteDedupe));
    (out, dedupe)
}

/// The chunk store as the ingester's flush target: every closed chunk of a series goes to the
/// store in one `put_many` per call (one index batch).
#[derive(Debug, Clone)]
pub struct StoreSink {
    store: Arc<ChunkStore>,
    metrics: StoreWriteMetrics,
}

impl StoreSink {
    /// A sink writing into `store` (its metrics not exposed).
    pub fn new(store: Arc<ChunkStore>) -> Self {
        Self { store, metrics: StoreWriteMetrics::unregistered() }
    }

    /// The same sink recording what it writes in `metrics`.
    pub fn with_metrics(self, metrics: StoreWriteMetrics) -> Self {
        Self { metrics, ..self }
    }
}

#[async_trait]
impl ChunkSink for StoreSink {
    async fn store(&self, tenant: &TenantId, series: Vec<FlushSeries>) -> Result<(), FlushError> {
        let mut batch = Vec::with_capacity(series.len());
        for one in series {
            let mut chunks = Vec::with_capacity(one.chunks.len());
            for chunk in &one.chunks {
                let decoded = XorChunk::from_bytes(&chunk.data).map_err(|err| {
                    FlushError(format!("closed chunk of {:?} is unreadable: {err}", one.labels))
                })?;
                chunks.push(decoded);
            }
            batch.push(SeriesChunks { labels: one.labels, chunks });
        }
        let stats = self.store.put_many(tenant, &batch).await.map_err(|err| FlushError(err.to_string()))?;
        self.metrics.observe_put(stats.objects - stats.timestamp_objects, stats.index_rows);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use neocortex_core::{Labels, Matcher};
    use neocortex_ingester::ClosedChunk;

    fn schema(yaml: &str) -> SchemaConfig {
        SchemaConfig::from_yaml(yaml).unwrap()
    }

    fn local_storage(directory: &Path) -> StorageConfig {
        let mut storage = StorageConfig::default();
        storage.redb.directory = directory.join("index").display().to_string();
        storage.filesystem.directory = directory.join("chunks").display().to_string();
        storage
    }

    #[tokio::test]
    async fn unusable_store_names_get_clear_errors() {
        let directory = tempfile::tempdir().unwrap();
        let storage = local_storage(directory.path());
        // A name no backend has is refused when the schema is read.
        let err = SchemaConfig::from_yaml(
            "configs: [{from: 2020-01-01, store: boltdb, object_store: dynamo, schema: v11}]",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown object store \"dynamo\""), "{err}");
        // A period whose index store cannot hold chunks and that names no object store.
        let yaml = "configs: [{from: 2020-01-01, store: boltdb, schema: v11}]";
        let err = open_store(&schema(yaml), &storage, &StoreCaches::default()).await.unwrap_err().to_string();
        assert!(err.contains("cannot hold chunks"), "{err}");
        assert!(err.contains("2020-01-01"), "{err}");
        let err = open_store(&SchemaConfig::default(), &storage, &StoreCaches::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("no periods"), "{err}");
    }

    #[tokio::test]
    async fn cassandra_is_connected_and_its_failure_named() {
        let directory = tempfile::tempdir().unwrap();
        let mut storage = local_storage(directory.path());
        let yaml = "configs: [{from: 2020-01-01, store: cassandra, schema: v11, chunks: {prefix: c_}}]";
        let err = open_store(&schema(yaml), &storage, &StoreCaches::default()).await.unwrap_err().to_string();
        assert!(err.contains("at least one host"), "{err}");
        // A port nothing listens on: the driver is really asked to connect, and fails.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        storage.cassandra.addresses = "127.0.0.1".to_string();
        storage.cassandra.port = port;
        storage.cassandra.keyspace = "cortex".to_string();
        storage.cassandra.connect_timeout.0 = std::time::Duration::from_millis(500);
        let err = open_store(&schema(yaml), &storage, &StoreCaches::default()).await.unwrap_err().to_string();
        assert!(err.contains(&format!("cannot connect to 127.0.0.1:{port}")), "{err}");
    }

    #[tokio::test]
    async fn cloud_object_stores_are_built_from_their_sections() {
        let directory = tempfile::tempdir().unwrap();
        let storage = local_storage(directory.path());
        // With the sections left at their defaults, each backend's own check names what is missing:
        // proof the period's name reached that backend's client.
        // Chunks in tables (aws-dynamo, bigtable) open their table clients the same way.
        for (object_store, wanted) in [
            ("azure", "storage.azure.account_name"),
            ("gcs", "storage.gcs.bucket_name"),
            ("aws-dynamo", "dynamodb_url"),
            ("bigtable", "storage.bigtable.project"),
            ("gcp-columnkey", "storage.bigtable.project"),
        ] {
            let yaml = format!(
                "configs: [{{from: 2020-01-01, store: boltdb, object_store: {object_store}, schema: v11, chunks: {{prefix: c_, period: 168h}}}}]"
            );
            let err = open_store(&schema(&yaml), &storage, &StoreCaches::default())
                .await
                .err()
                .map(|err| err.to_string());
            assert!(err.as_deref().is_some_and(|err| err.contains(wanted)), "{object_store}: {err:?}");
        }
        let yaml = "configs: [{from: 2020-01-01, store: aws-dynamo, object_store: s3, schema: v11}]";
        let err = open_store(&schema(yaml), &storage, &StoreCaches::default())
            .await
            .err()
            .map(|err| err.to_string());
        assert!(err.as_deref().is_some_and(|err| err.contains("dynamodb_url")), "{err:?}");
    }

    #[tokio::test]
    async fn two_local_periods_share_one_redb_and_the_sink_writes_readable_chunks() {
        let directory = tempfile::tempdir().unwrap();
        let storage = local_storage(directory.path());
        let yaml = "configs:\n  - {from: 2020-01-01, store: boltdb, object_store: filesystem, schema: v9, index: {prefix: a_, period: 168h}}\n  - {from: 2020-02-01, store: redb, object_store: filesystem, schema: v11, index: {prefix: b_, period: 168h}}\n";
        let store = open_store(&schema(yaml), &storage, &StoreCaches::default()).await.unwrap();
        let sink = StoreSink::new(store.clone());
        let mut chunk = XorChunk::new();
        // 2020-03-01T00:00:00Z onwards, one sample a minute.
        let start = 1_583_020_800_000;
        for i in 0..10 {
            chunk.append(start + i * 60_000, i as f64).unwrap();
        }
        let labels = Labels::from_pairs([("__name__", "up"), ("job", "x")]);
        let closed = ClosedChunk {
            min_time_ms: start,
            max_time_ms: start + 9 * 60_000,
            data: chunk.bytes().to_vec().into_boxed_slice(),
        };
        let tenant = TenantId::new("t").unwrap();
        sink.store(&tenant, vec![FlushSeries { labels: labels.clone(), chunks: vec![closed] }])
            .await
            .unwrap();
        let read = store
            .select(&tenant, start, start + 3_600_000, &[Matcher::equal("__name__", "up")])
            .await
            .unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].labels, labels);
        assert_eq!(read[0].samples.len(), 10);
        assert!(directory.path().join("chunks").join("t").is_dir());
        let bad = FlushSeries {
            labels: Labels::from_pairs([("job", "no-name")]),
            chunks: vec![ClosedChunk {
                min_time_ms: 0,
                max_time_ms: 0,
                data: chunk.bytes().to_vec().into_boxed_slice(),
            }],
        };
        assert!(sink.store(&tenant, vec![bad]).await.is_err());
    }

    #[tokio::test]
    async fn periods_sharing_clients_share_their_caches_and_reads_hit_them() {
        use neocortex_storage::cache::metrics::CacheMetrics;
        use neocortex_storage::cache::ChunkStoreConfig;

        let directory = tempfile::tempdir().unwrap();
        let mut storage = local_storage(directory.path());
        storage.index_queries_cache_config.enable_fifocache = true;
        storage.index_queries_cache_config.fifocache.max_size_items = 1000;
        let mut chunk_store = ChunkStoreConfig::default();
        chunk_store.write_dedupe_cache_config.enable_fifocache = true;
        chunk_store.write_dedupe_cache_config.fifocache.max_size_items = 1000;
        let metrics = CacheMetrics::unregistered();
        let caches = StoreCaches::from_config(&storage, &chunk_store, &metrics).unwrap();
        let yaml = "configs:\n  - {from: 2020-01-01, store: boltdb, object_store: filesystem, schema: v11, index: {prefix: a_, period: 168h}}\n  - {from: 2020-02-01, store: boltdb, object_store: filesystem, schema: v11, index: {prefix: b_, period: 168h}}\n";
        let store = open_store(&schema(yaml), &storage, &caches).await.unwrap();
        let index = store.period_index_clients();
        assert!(Arc::ptr_eq(&index[0], &index[1]), "one caching index client for both periods");

        let sink = StoreSink::new(store.clone());
        // 2020-03-01T00:00:00Z onwards, one sample a minute.
        let start = 1_583_020_800_000;
        let labels = Labels::from_pairs([("__name__", "up"), ("job", "x")]);
        let tenant = TenantId::new("t").unwrap();
        for batch in 0..2 {
            let mut chunk = XorChunk::new();
            let first = start + batch * 600_000;
            for i in 0..10 {
                chunk.append(first + i * 60_000, i as f64).unwrap();
            }
            let closed = ClosedChunk {
                min_time_ms: first,
                max_time_ms: first + 9 * 60_000,
                data: chunk.bytes().to_vec().into_boxed_slice(),
            };
            sink.store(&tenant, vec![FlushSeries { labels: labels.clone(), chunks: vec![closed] }])
                .await
                .unwrap();
        }
        assert!(metrics.hits("store.index-cache-write.fifocache") > 0, "the second flush skipped known rows");

        let matchers = [Matcher::equal("__name__", "up")];
        let read = || store.select(&tenant, start, start + 3_600_000, &matchers);
        let cold = read().await.unwrap();
        assert_eq!(cold.len(), 1);
        assert_eq!(cold[0].samples.len(), 20);
        let warm = read().await.unwrap();
        assert_eq!(warm[0].samples, cold[0].samples);
        assert!(metrics.hits("chunksfifocache") > 0, "chunks from the chunk cache");
        assert!(metrics.hits("store.index-cache-read.fifocache") > 0, "index answers from the cache");
    }
}
