//! `neocortex-loadgen`: replays a deterministic, node-exporter-like Prometheus remote-write
//! workload against any push URL and measures throughput and request latency.
//!
//! The pipeline is: [`workload`] (which series, timestamps and values) → [`encode`] (ready-made
//! request bodies per connection, built before the clock starts) → [`send`] (the timed phase) →
//! [`report`] (text or JSON summary).

pub mod encode;
pub mod model;
pub mod report;
pub mod send;
pub mod template;
pub mod workload;
