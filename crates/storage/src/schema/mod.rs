//! The schema: periods and periodic tables (`config`), `from` days (`day`) and the index
//! layout of each schema version (`entries`).

pub mod config;
pub mod day;
pub mod entries;
