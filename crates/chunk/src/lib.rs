//! Prometheus XOR chunk encoding (Gorilla-style delta-of-delta timestamps and XOR-compressed
//! values), byte-compatible with the TSDB `chunkenc` XOR format so that chunks written here can
//! later be put into real TSDB blocks and chunks from Prometheus can be read here.
//!
//! Layout of a chunk: a 2-byte big-endian sample count, then a bit stream holding the first
//! timestamp (signed varint), the first value (64 raw bits), the second timestamp as an unsigned
//! varint delta, and from then on delta-of-delta timestamps in `0` / `10` / `110` / `1110` /
//! `1111` buckets, each value XORed with its predecessor. Pure code: no I/O, no async.

mod bstream;
mod xor;

pub use xor::{ChunkError, XorChunk, XorIter, MAX_SAMPLES_PER_CHUNK};
