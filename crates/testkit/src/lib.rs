//! Dev-only helpers for tests that run real servers on 127.0.0.1: launchers for the `neocortex`
//! binary, Prometheus, vmagent and VictoriaMetrics that pick free ports, poll until the server is
//! ready (never a fixed sleep) and kill it on drop; polling helpers; a byte-level remote-write
//! encoder for crafting valid and invalid requests; and samples encoded as XOR chunks.

pub mod azurite;
pub mod bigtable_emulator;
pub mod chunks;
pub mod error;
pub mod external;
pub mod fake_gcs;
pub mod http;
mod launch;
pub mod memcached;
pub mod moto;
pub mod neocortex;
pub mod ports;
pub mod process;
pub mod prometheus;
pub mod prometheus_storage;
pub mod remote_write;
pub mod victoria;
pub mod wait;

pub use error::LaunchError;
pub use neocortex::NeocortexProcess;
pub use process::{ManagedProcess, WorkDir};
pub use prometheus::{PrometheusOptions, PrometheusProcess, RemoteWriteTarget};
pub use prometheus_storage::PrometheusStorageProcess;
pub use victoria::{VictoriaMetricsProcess, VmagentOptions, VmagentProcess};
pub use wait::eventually;
