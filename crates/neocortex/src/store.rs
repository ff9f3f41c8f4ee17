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

/// The backend families a period's store names map to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Backend {
    /// The embedded redb index (`boltdb`, `redb`).
    Redb,
    /// Chunks on the local filesystem.
    Filesystem,
    /// In-process memory (tests, throwaway runs).
    InMemory,
    /// DynamoDB / S3.
    Aws,
    /// Bigtable / GCS.
    Gcp,
    /// Azure Blob storage.
    Azure,
    /// Cassandra.
    Cassandra,
}

impl Backend {
    fn of_index_store(name: &str) -> Option<Backend> {
        Some(match name {
            "boltdb" | "redb" => Backend::Redb,
            "inmemory" => Backend::InMemory,
            "aws" | "aws-dynamo" => Backend::Aws,
            "bigtable" | "bigtable-hashed" | "gcp" | "gcp-columnkey" => Backend::Gcp,
            "cassandra" => Backend::Cassandra,
            _ => return None,
        })
    }

    fn of_object_store(name: &str) -> Option<Backend> {
        Some(match name {
            "filesystem" => Backend::Filesystem,
            "inmemory" => Backend::InMemory,
            "s3" | "aws" | "aws-dynamo" => Backend::Aws,
            "gcs" | "bigtable" | "bigtable-hashed" | "gcp" | "gcp-columnkey" => Backend::Gcp,
            "azure" => Backend::Azure,
            "cassandra" => Backend::Cassandra,
            _ => return None,
        })
    }

    /// The cargo feature / storage section of a cloud backend.
    fn name(self) -> &'static str {
        match self {
            Backend::Redb => "redb",
            Backend::Filesystem => "filesystem",
            Backend::InMemory => "inmemory",
            Backend::Aws => "aws",
            Backend::Gcp => "gcp",
            Backend::Azure => "azure",
            Backend::Cassandra => "cassandra",
        }
    }
}

/// The error for a backend whose client is not built into this binary yet.
fn not_available(what: &str, name: &str, period: &PeriodConfig, backend: Backend) -> StorageError {
    StorageError::Config(format!(
        "{what} {name:?} in the schema period from {}: the {} backend is not available yet",
        period.from,
        backend.name()
    ))
}

/// Opens every client the schema names, sharing one client per backend.
#[derive(Default)]
struct ClientCache {
    indexes: HashMap<Backend, Arc<dyn IndexClient>>,
    objects: HashMap<Backend, Arc<dyn ObjectClient>>,
}

impl ClientCache {
    async fn index(
        &mut self,
        period: &PeriodConfig,
        storage: &StorageConfig,
    ) -> Result<Arc<dyn IndexClient>, StorageError> {
        let name = period.store.as_str();
        let backend = Backend::of_index_store(name).ok_or_else(|| {
            StorageError::Config(format!(
                "unknown index store {name:?} in the schema period from {}",
                period.from
            ))
        })?;
        if let Some(client) = self.indexes.get(&backend) {
            return Ok(client.clone());
        }
        let client: Arc<dyn IndexClient> = match backend {
            Backend::Redb => Arc::new(RedbIndexClient::open(Path::new(&storage.redb.directory))?),
            Backend::InMemory => Arc::new(MemoryIndexClient::new()),
            // The cloud index clients plug in here as their backends land
            // (`neocortex_storage::<backend>::index_client(&storage.<section>)`).
            Backend::Aws | Backend::Gcp | Backend::Cassandra | Backend::Azure | Backend::Filesystem => {
                return Err(not_available("index store", name, period, backend))
            }
        };
        self.indexes.insert(backend, client.clone());
        Ok(client)
    }

    async fn objects(
        &mut self,
        period: &PeriodConfig,
        storage: &StorageConfig,
    ) -> Result<Arc<dyn ObjectClient>, StorageError> {
        let name = period.object_store_name();
        let backend = Backend::of_object_store(name).ok_or_else(|| {
            StorageError::Config(format!(
                "object store {name:?} in the schema period from {} cannot hold chunks: set object_store (e.g. filesystem)",
                period.from
            ))
        })?;
        if let Some(client) = self.objects.get(&backend) {
            return Ok(client.clone());
        }
        let client: Arc<dyn ObjectClient> = match backend {
            Backend::Filesystem => {
                Arc::new(FilesystemObjectClient::open(Path::new(&storage.filesystem.directory))?)
            }
            Backend::InMemory => Arc::new(MemoryObjectClient::new()),
            // The cloud object clients plug in here as their backends land
            // (`neocortex_storage::<backend>::object_client(&storage.<section>)`).
            Backend::Aws | Backend::Gcp | Backend::Azure | Backend::Cassandra | Backend::Redb => {
                return Err(not_available("object store", name, period, backend))
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
        let objects = cache.objects(period, storage).await?;
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
}

impl StoreSink {
    /// A sink writing into `store`.
    pub fn new(store: Arc<ChunkStore>) -> Self {
        Self { store }
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
        self.store.put_many(tenant, &batch).await.map(|_| ()).map_err(|err| FlushError(err.to_string()))
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
    async fn cloud_backends_are_named_in_the_error() {
        let directory = tempfile::tempdir().unwrap();
        let storage = local_storage(directory.path());
        for (yaml, wanted) in [
            ("configs: [{from: 2020-01-01, store: aws-dynamo, object_store: s3, schema: v11, chunks: {prefix: c_}}]", "aws"),
            ("configs: [{from: 2020-01-01, store: bigtable, object_store: gcs, schema: v11, chunks: {prefix: c_}}]", "gcp"),
            ("configs: [{from: 2020-01-01, store: boltdb, object_store: azure, schema: v11}]", "azure"),
            ("configs: [{from: 2020-01-01, store: cassandra, schema: v11, chunks: {prefix: c_}}]", "cassandra"),
        ] {
            let err = open_store(&schema(yaml), &storage, &StoreCaches::default()).await.unwrap_err().to_string();
            assert!(err.contains(&format!("the {wanted} backend is not available yet")), "{err}");
            assert!(err.contains("2020-01-01"), "{err}");
        }
        let err = open_store(
            &schema("configs: [{from: 2020-01-01, store: boltdb, schema: v11}]"),
            &storage,
            &StoreCaches::default(),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains("cannot hold chunks"), "{err}");
        let err = open_store(&SchemaConfig::default(), &storage, &StoreCaches::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("no periods"), "{err}");
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
}
