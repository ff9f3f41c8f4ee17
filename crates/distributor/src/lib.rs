//! The distributor: the front half of the write path. It reads Prometheus remote-write
//! requests, validates every series against the tenant's limits (Cortex's rules, reasons and
//! messages), enforces the tenant's ingestion rate, and forwards the valid series to a
//! `Pusher` (in-process ingesters today, a replicating ring client later).
//!
//! HTTP routing lives in the binary; it calls [`Distributor::push_http`] with the tenant, the
//! request's headers and its body.

pub mod config;
pub mod decode;
mod distributor;
mod format;
mod metrics;
mod names;
mod rate_limit;
pub mod validation;
pub mod wire;

pub use config::{DistributorConfig, InstanceLimits};
pub use decode::{decode_write_request, DecodeError, PushHeaders};
pub use distributor::Distributor;
pub use validation::{reason, ValidationError};
