//! The ingester: per-tenant in-memory series, the write target of the distributor and the
//! recent-data source of the querier.
//!
//! Each tenant has its own database: series sharded by label-set hash (labels stored as
//! interned ids), samples in Prometheus XOR chunks cut every 120 samples, an inverted postings
//! index resolving label matchers, and the latest metric metadata. The [`Flusher`] writes
//! chunks to a [`ChunkSink`] (the chunk store) by Cortex's flush rules, keeps them queryable for
//! the retain period, then drops them and removes series left without chunks.
//! With a [`Wal`] attached, every push is written to the write-ahead log before it is
//! acknowledged, and memory is restored from checkpoints and the log on start ([`wal`]).

mod clock;
mod config;
mod errors;
mod flush;
mod flush_sink;
mod hash;
mod ingester;
mod interner;
mod metadata;
mod metrics;
mod postings;
mod regex_hint;
mod series;
mod slot_table;
mod tenant;
pub mod wal;

#[cfg(test)]
mod ingester_tests;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{IngesterConfig, InstanceLimits, WalConfig};
pub use errors::{
    IngestError, REASON_NEW_VALUE_FOR_TIMESTAMP, REASON_PER_METRIC_SERIES_LIMIT,
    REASON_PER_USER_SERIES_LIMIT, REASON_SAMPLE_OUT_OF_ORDER,
};
pub use flush::{FlushReason, Flusher};
pub use flush_sink::{ChunkSink, FlushError, FlushSeries};
pub use ingester::Ingester;
pub use metrics::UserLabels;
pub use series::{ClosedChunk, SAMPLES_PER_CHUNK};
pub use wal::{Wal, WalError, WalMetrics};
