//! Launches Google's Bigtable emulator (`cbtemulator`) on loopback.
