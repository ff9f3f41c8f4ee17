//! The querier's read path: recent data from the ingesters, older data from the chunk store,
//! merged into one answer.
//!
//! - `routing`: which source a read asks, by time (`query_ingesters_within`,
//!   `query_store_after`, `query_store_for_labels_enabled`);
//! - `merged`: the `QueryableSource` over both sources that merges series by labels and keeps
//!   one sample per timestamp.

mod merged;
mod routing;

pub use merged::{ChunkStoreSource, QuerierSource};
pub use routing::Routing;
