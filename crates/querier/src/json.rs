//! The byte-level JSON writers the API handlers share with the engine's result encoding.

pub use neocortex_promql::json::{write_labels_object, write_string, write_string_array};
