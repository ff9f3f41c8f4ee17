//! The chunk store: writes flushed chunks as objects plus index rows, and answers reads by
//! resolving matchers through the index, fetching and decoding the chunks, and merging them.

pub mod dedupe;
pub mod queryable;
mod read;
mod write;

use std::sync::Arc;

use neocortex_core::TenantId;

use crate::index::IndexClient;
use crate::object::ObjectClient;
use crate::object_format::BodyEncoding;
use crate::schema::config::SchemaConfig;
use crate::store::dedupe::{NoWriteDedupe, WriteDedupe};

pub use queryable::TenantChunkStore;
pub use write::{PutStats, SeriesChunks};

/// How many objects one read or write moves at once.
const DEFAULT_OBJECT_CONCURRENCY: usize = 32;

/// Cortex's series store over one index client and one object client.
pub struct ChunkStore {
    schema: SchemaConfig,
    index: Arc<dyn IndexClient>,
    objects: Arc<dyn ObjectClient>,
    dedupe: Arc<dyn WriteDedupe>,
    body_encoding: BodyEncoding,
    object_concurrency: usize,
}

impl std::fmt::Debug for ChunkStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkStore").field("periods", &self.schema.configs.len()).finish_non_exhaustive()
    }
}

impl ChunkStore {
    /// A store over `index` and `objects` laid out by `schema` (validated by the caller).
    pub fn new(schema: SchemaConfig, index: Arc<dyn IndexClient>, objects: Arc<dyn ObjectClient>) -> Self {
        Self {
            schema,
            index,
            objects,
            dedupe: Arc::new(NoWriteDedupe),
            body_encoding: BodyEncoding::default(),
            object_concurrency: DEFAULT_OBJECT_CONCURRENCY,
        }
    }

    /// Uses `dedupe` to skip label rows already written.
    pub fn with_write_dedupe(mut self, dedupe: Arc<dyn WriteDedupe>) -> Self {
        self.dedupe = dedupe;
        self
    }

    /// Writes object bodies with `encoding` (reads accept both).
    pub fn with_body_encoding(mut self, encoding: BodyEncoding) -> Self {
        self.body_encoding = encoding;
        self
    }

    /// Moves at most `concurrency` objects at once.
    pub fn with_object_concurrency(mut self, concurrency: usize) -> Self {
        self.object_concurrency = concurrency.max(1);
        self
    }

    /// The schema in use.
    pub fn schema(&self) -> &SchemaConfig {
        &self.schema
    }

    /// A `Queryable` view of one tenant's data.
    pub fn for_tenant(self: &Arc<Self>, tenant: TenantId) -> TenantChunkStore {
        TenantChunkStore::new(Arc::clone(self), tenant)
    }
}
