//! The chunk store: writes flushed chunks as objects plus index rows, and answers reads by
//! resolving matchers through the index, fetching and decoding the chunks, and merging them.

mod byte_cache;
pub mod dedupe;
mod kept_lookups;
mod opened_objects;
pub mod queryable;
mod read;
mod shared_timestamps;
mod write;

use std::sync::Arc;

use neocortex_core::TenantId;

use crate::error::StorageError;
use crate::index::IndexClient;
use crate::object::ObjectClient;
use crate::object_format::BodyEncoding;
use crate::schema::config::{PeriodConfig, SchemaConfig};
use crate::store::dedupe::{NoWriteDedupe, WriteDedupe};

pub use queryable::TenantChunkStore;
pub use write::{PutStats, SeriesChunks};

/// How many objects one read or write moves at once.
const DEFAULT_OBJECT_CONCURRENCY: usize = 32;

/// The index and object clients of one schema period.
#[derive(Clone)]
pub struct PeriodClients {
    /// Where the period's index rows go.
    pub index: Arc<dyn IndexClient>,
    /// Where the period's chunk objects go.
    pub objects: Arc<dyn ObjectClient>,
}

/// Cortex's series store: per schema period, one index client and one object client (the
/// same pair for every period with [`ChunkStore::new`]).
pub struct ChunkStore {
    schema: SchemaConfig,
    /// One entry per period of `schema.configs`, in the same order.
    periods: Vec<PeriodClients>,
    dedupe: Arc<dyn WriteDedupe>,
    body_encoding: BodyEncoding,
    object_concurrency: usize,
    /// Timestamps objects written recently, so later flush batches name them.
    timestamps_memo: shared_timestamps::TimestampsMemo,
    /// Timestamps objects read recently, decoded: the series of one target name the same one,
    /// query after query.
    decoded_timestamps: shared_timestamps::DecodedTimestamps,
    /// Objects read recently, decompressed and parsed, so repeated queries skip that work.
    opened_objects: opened_objects::OpenedObjects,
    /// Index lookups of recent queries, kept while the index has not changed.
    kept_lookups: kept_lookups::KeptLookups,
}

impl std::fmt::Debug for ChunkStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkStore").field("periods", &self.schema.configs.len()).finish_non_exhaustive()
    }
}

impl ChunkStore {
    /// A store over `index` and `objects` laid out by `schema` (validated by the caller).
    pub fn new(schema: SchemaConfig, index: Arc<dyn IndexClient>, objects: Arc<dyn ObjectClient>) -> Self {
        let periods = vec![PeriodClients { index, objects }; schema.configs.len().max(1)];
        Self::build(schema, periods)
    }

    /// A store whose period `i` (of `schema.configs`) uses `periods[i]`: Cortex's composite
    /// store, where each period may name its own index and object store.
    pub fn with_period_clients(
        schema: SchemaConfig,
        periods: Vec<PeriodClients>,
    ) -> Result<Self, StorageError> {
        if periods.len() != schema.configs.len() || periods.is_empty() {
            return Err(StorageError::Config(format!(
                "{} schema periods but {} client pairs",
                schema.configs.len(),
                periods.len()
            )));
        }
        Ok(Self::build(schema, periods))
    }

    fn build(schema: SchemaConfig, periods: Vec<PeriodClients>) -> Self {
        Self {
            schema,
            periods,
            dedupe: Arc::new(NoWriteDedupe),
            body_encoding: BodyEncoding::default(),
            object_concurrency: DEFAULT_OBJECT_CONCURRENCY,
            timestamps_memo: shared_timestamps::TimestampsMemo::default(),
            decoded_timestamps: shared_timestamps::DecodedTimestamps::new(),
            opened_objects: opened_objects::OpenedObjects::new(),
            kept_lookups: kept_lookups::KeptLookups::new(),
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

    /// Keeps at most `bytes` of recently opened objects for later reads (0 keeps none).
    pub fn with_opened_objects_capacity(mut self, bytes: u64) -> Self {
        self.opened_objects = opened_objects::OpenedObjects::with_capacity(bytes);
        self
    }

    /// Keeps at most `bytes` of index lookups for later reads while the index is unchanged (0
    /// keeps none).
    pub fn with_kept_lookups_capacity(mut self, bytes: u64) -> Self {
        self.kept_lookups = kept_lookups::KeptLookups::with_capacity(bytes);
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

    /// The index client of each period of `self.schema().configs`, in order (the table
    /// manager takes its table clients from them).
    pub fn period_index_clients(&self) -> Vec<Arc<dyn IndexClient>> {
        self.periods.iter().map(|clients| clients.index.clone()).collect()
    }

    /// The object client of each period of `self.schema().configs`, in order (table-based
    /// chunk stores give the table manager their table clients).
    pub fn period_object_clients(&self) -> Vec<Arc<dyn ObjectClient>> {
        self.periods.iter().map(|clients| clients.objects.clone()).collect()
    }

    /// The clients of `period`, which must be one of `self.schema().configs`.
    pub(crate) fn clients_of(&self, period: &PeriodConfig) -> &PeriodClients {
        &self.periods[self.period_position(period).min(self.periods.len() - 1)]
    }

    /// The position of `period` in `self.schema().configs` (0 for another period).
    pub(crate) fn period_position(&self, period: &PeriodConfig) -> usize {
        self.schema.configs.iter().position(|p| std::ptr::eq(p, period)).unwrap_or(0)
    }

    /// The clients of the period holding time `t_ms` (the first period for earlier times).
    pub(crate) fn clients_at(&self, t_ms: i64) -> &PeriodClients {
        match self.schema.period_for(t_ms) {
            Some(period) => self.clients_of(period),
            None => &self.periods[0],
        }
    }

    /// A `Queryable` view of one tenant's data.
    pub fn for_tenant(self: &Arc<Self>, tenant: TenantId) -> TenantChunkStore {
        TenantChunkStore::new(Arc::clone(self), tenant)
    }
}
