//! The querier's Prometheus HTTP read API: series, label names, label values, metric metadata
//! and remote read, answering byte for byte as Prometheus does, for one tenant per request.
//!
//! Also the pieces the query and query_range handlers reuse: the JSON envelope
//! ([`ApiResponse`], [`ApiError`]), Go-compatible JSON string escaping ([`json`]), request
//! parameters ([`FormParams`]), Prometheus's timestamp and duration parsing ([`parse_time`],
//! [`parse_duration`]) and the checked query / query_range parameters ([`range_query_params`]).
//!
//! [`read_path`] is where the data comes from: [`QuerierSource`] merges the ingesters with the
//! chunk store under `query_ingesters_within` / `query_store_after`.

mod body;
pub mod config;
pub mod form;
pub mod go_quote;
mod handlers;
pub mod json;
mod merge;
pub mod query_params;
pub mod read_path;
pub mod response;
mod router;
pub mod selector;
mod state;
pub mod tenant;
pub mod time_param;

pub use config::QuerierConfig;
pub use form::FormParams;
pub use handlers::remote_read::MAX_REMOTE_READ_BYTES;
pub use query_params::{instant_query_params, range_query_params, InstantQueryParams, RangeQueryParams};
pub use read_path::{ChunkStoreSource, QuerierSource, Routing};
pub use response::{ApiError, ApiResponse};
pub use router::{query_api_router, read_api_router};
pub use selector::{parse_match_params, parse_selector, SelectorError};
pub use state::{QueryApiState, ReadApiState};
pub use tenant::Tenant;
pub use time_param::{parse_duration, parse_time, time_param, MAX_TIME_MS, MIN_TIME_MS};
