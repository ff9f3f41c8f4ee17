//! Launches memcached on loopback.
