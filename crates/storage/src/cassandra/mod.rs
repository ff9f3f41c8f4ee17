//! Cassandra index and chunks (experimental): the `storage.cassandra` section and clients.
//!
//! The config is always compiled (so every config file parses); the clients only with the
//! `cassandra` cargo feature.

pub mod config;

pub use config::CassandraConfig;
