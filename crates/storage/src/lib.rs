//! Chunks storage, as Cortex's chunks storage does it: a schema config splits time into periods,
//! each with an index store, an object store, a schema version (v9, v10, v11) and periodic
//! tables. Flushed chunks become objects keyed `<user>/<fingerprint>:<from>:<through>:<checksum>`
//! and index rows (metric → series, label → series, series → chunk, series → label names) that
//! reads resolve matchers through.
//!
//! - `schema`: the schema config, table names, daily buckets and the v9–v11 row layout;
//! - `index`: the `IndexClient` trait, its backends and its conformance suite;
//! - `object`: the `ObjectClient` trait, its backends and its conformance suite;
//! - `object_format`: what a chunk object holds; `chunk_key`: fingerprints and chunk keys;
//! - `store`: the `ChunkStore` (put, select, metadata) and its tenant-scoped `Queryable`;
//! - `config`: the `storage:` section; `aws`, `gcp`, `azure`, `cassandra`: the cloud backends;
//! - `cache`: chunk, index-query and write-dedupe caches; `table_client`, `table_manager`:
//!   periodic table management.

pub mod aws;
pub mod azure;
pub mod cache;
pub mod cassandra;
pub mod chunk_key;
pub mod config;
pub mod error;
pub mod gcp;
pub mod index;
pub mod object;
pub mod object_format;
pub mod schema;
pub mod store;
pub mod table_client;
pub mod table_manager;
mod zstd_frame;

pub use chunk_key::{fingerprint, ChunkRef};
pub use config::StorageConfig;
pub use error::StorageError;
pub use index::IndexClient;
pub use object::ObjectClient;
pub use schema::config::{PeriodConfig, PeriodicTableConfig, SchemaConfig, SchemaVersion};
pub use store::{ChunkStore, PeriodClients, PutStats, SeriesChunks, TenantChunkStore};

#[cfg(feature = "local")]
pub use local::{open_local_store, open_local_store_with_caches};

#[cfg(feature = "local")]
mod local {
    use std::path::Path;
    use std::sync::Arc;

    use crate::error::StorageError;
    use crate::index::redb::RedbIndexClient;
    use crate::object::filesystem::FilesystemObjectClient;
    use crate::schema::config::SchemaConfig;
    use crate::store::ChunkStore;
    use crate::StorageConfig;

    /// The local default: the index in redb under `storage.redb.directory` and chunks under
    /// `storage.filesystem.directory`, for every period of `schema`.
    pub fn open_local_store(
        storage: &StorageConfig,
        schema: SchemaConfig,
    ) -> Result<ChunkStore, StorageError> {
        let index = RedbIndexClient::open(Path::new(&storage.redb.directory))?;
        let objects = FilesystemObjectClient::open(Path::new(&storage.filesystem.directory))?;
        Ok(ChunkStore::new(schema, Arc::new(index), Arc::new(objects)))
    }

    /// [`open_local_store`] with `caches` around the index and object clients (see
    /// [`crate::cache::wrap_with_caches`]).
    pub fn open_local_store_with_caches(
        storage: &StorageConfig,
        schema: SchemaConfig,
        caches: &crate::cache::StoreCaches,
    ) -> Result<ChunkStore, StorageError> {
        let index = RedbIndexClient::open(Path::new(&storage.redb.directory))?;
        let objects = FilesystemObjectClient::open(Path::new(&storage.filesystem.directory))?;
        let clients = crate::cache::wrap_with_caches(Arc::new(index), Arc::new(objects), caches);
        Ok(ChunkStore::new(schema, clients.index, clients.objects).with_write_dedupe(clients.write_dedupe))
    }
}
