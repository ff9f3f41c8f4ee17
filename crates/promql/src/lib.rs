//! `neocortex-promql`: a PromQL engine with Prometheus 2.42 semantics.
//!
//! Queries are parsed by our own parser ([`parse`]), the selectors' time ranges are worked out
//! from the syntax tree, the series are fetched through [`neocortex_core::Queryable`], and the
//! tree is evaluated synchronously over all steps ([`Engine`]). Results encode to Prometheus's
//! HTTP API JSON with [`QueryValue::to_json`]. [`promqltest`] runs Prometheus's test scripts.

pub mod ast;
mod boundaries;
pub mod engine;
pub mod error;
mod eval;
pub mod functions;
mod gomath;
pub mod json;
mod lexer;
pub mod number_format;
pub mod parser;
pub mod promqltest;
pub mod test_storage;
pub mod value;

pub use ast::Expr;
pub use engine::{default_parallelism, CancelHandle, Engine, EngineOptions, QueryStats};
pub use error::PromqlError;
pub use parser::{parse, ParseError};
pub use value::{InstantSample, QueryValue, RangeSeries};
