//! Bigtable index (and optionally chunks) and GCS chunks: the `storage.bigtable` and
//! `storage.gcs` sections and clients.
//!
//! The config is always compiled (so every config file parses); the clients only with the
//! `gcp` cargo feature.

pub mod config;

pub use config::{BigtableConfig, GcsConfig};
