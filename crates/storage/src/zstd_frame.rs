//! Decompressing zstd frames with one decompression context per thread: creating a context
//! costs more than decompressing a small object or index block, and reads do many of those.

use std::cell::RefCell;

thread_local! {
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// Decompresses one zstd frame that holds at most `capacity` bytes.
pub(crate) fn decompress(frame: &[u8], capacity: usize) -> std::io::Result<Vec<u8>> {
    DECOMPRESSOR.with(|cell| match cell.try_borrow_mut() {
        Ok(mut cell) => {
            let decompressor = match cell.as_mut() {
                Some(decompressor) => decompressor,
                None => cell.insert(zstd::bulk::Decompressor::new()?),
            };
            decompressor.decompress(frame, capacity)
        }
        // Only reachable by re-entry, which nothing does; a fresh context is still correct.
        Err(_) => zstd::bulk::decompress(frame, capacity),
    })
}
