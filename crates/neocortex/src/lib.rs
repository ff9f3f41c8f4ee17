//! The `neocortex` binary's parts, as a library so end-to-end tests can start a process in-process.

pub mod app;
pub mod auth;
pub mod config;
pub mod grpc;
pub mod http_metrics;
pub mod ingester_module;
mod ingester_wal;
pub mod load;
pub mod modules;
pub mod process_metrics;
pub mod query_api;
pub mod reference;
pub mod routes;
pub mod runtime_config;
pub mod services;
pub mod store;
pub mod store_write_metrics;
pub mod table_manager_module;
