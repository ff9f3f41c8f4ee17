//! The consistent-hash ring that spreads series over ingesters.
//!
//! Each instance owns random 32-bit tokens; a series is hashed (tenant + labels, FNV-1a) and the
//! replication set is the first `replication_factor` distinct healthy instances found walking the
//! ring clockwise from that hash. Today the ring lives in memory in one process; a KV-backed ring
//! (etcd, Consul, gossip) later fills the same `Ring` from remote state.

pub mod hash;
pub mod merge;
pub mod ring;
pub mod ring_pusher;
pub mod ring_queryable;

pub use ring::{IngesterClient, InstanceDesc, InstanceState, ReplicationSet, Ring, RingError};
pub use ring_pusher::RingPusher;
pub use ring_queryable::RingQueryableSource;
