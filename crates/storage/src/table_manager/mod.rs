//! The table manager: creates each periodic table before its period begins, deletes tables past
//! the retention period, and keeps provisioned capacity and tags as configured.
