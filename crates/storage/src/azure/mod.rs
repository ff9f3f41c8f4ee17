//! Azure Blob storage chunks: the `storage.azure` section and client.
//!
//! The config is always compiled (so every config file parses); the clients only with the
//! `azure` cargo feature.

pub mod config;

pub use config::AzureConfig;
