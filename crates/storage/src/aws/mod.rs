//! DynamoDB index (and optionally chunks) and S3 chunks: the `storage.aws` section and clients.
//!
//! The config is always compiled (so every config file parses); the clients only with the
//! `aws` cargo feature.

pub mod config;

pub use config::AwsConfig;
