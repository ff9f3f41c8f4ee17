//! One module per endpoint of the read API.

pub(crate) mod labels;
pub(crate) mod metadata;
pub(crate) mod query;
pub(crate) mod remote_read;
pub(crate) mod series;
