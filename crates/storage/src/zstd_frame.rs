//! Decompressing zstd frames with one decompression context per thread: creating a context
//! costs more than decompressing a small object or index block, and reads do many of those.
//!
//! The output is allocated at the size the frame states. `zstd::bulk::Decompressor::decompress`
//! reserves its whole `capacity` argument unless the crate's `experimental` feature is on, which
//! for chunk objects meant 64 MiB of address space mapped, faulted and unmapped per object read.

use std::cell::RefCell;
use std::io::{self, Read};

thread_local! {
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
    static STREAM: RefCell<Option<zstd::zstd_safe::DCtx<'static>>> = const { RefCell::new(None) };
}

/// Why [`decompress_prefix`] failed.
#[derive(Debug)]
pub(crate) enum PrefixError<E> {
    /// The frame is not one zstd frame of at most the capacity.
    Zstd(String),
    /// The caller's `through` refused the bytes.
    Refused(E),
}

/// Decompresses the first bytes of one zstd frame that holds at most `capacity` bytes and
/// states its size: `through(prefix, total)` is asked after each step and answers how many
/// bytes are wanted (`None`: it cannot tell yet, decompress more). Returns the bytes
/// decompressed (at least those wanted; zstd stops at the end of a block) and the frame's total.
pub(crate) fn decompress_prefix<E>(
    frame: &[u8],
    capacity: usize,
    mut through: impl FnMut(&[u8], usize) -> Result<Option<usize>, E>,
) -> Result<(Vec<u8>, usize), PrefixError<E>> {
    let total = match zstd::zstd_safe::get_frame_content_size(frame) {
        Ok(Some(size)) if size <= capacity as u64 => size as usize,
        Ok(_) | Err(_) => {
            let body = decompress(frame, capacity).map_err(|err| PrefixError::Zstd(err.to_string()))?;
            let total = body.len();
            return Ok((body, total));
        }
    };
    STREAM.with(|cell| {
        let mut cell = cell.try_borrow_mut().map_err(|_| PrefixError::Zstd("re-entered".to_string()))?;
        let context = match cell.as_mut() {
            Some(context) => context,
            None => cell.insert(zstd::zstd_safe::DCtx::create()),
        };
        context
            .reset(zstd::zstd_safe::ResetDirective::SessionOnly)
            .map_err(|code| PrefixError::Zstd(zstd::zstd_safe::get_error_name(code).to_string()))?;
        let mut body = vec![0u8; total];
        let mut input = zstd::zstd_safe::InBuffer::around(frame);
        let mut produced = 0;
        let mut want = total.min(256);
        loop {
            produced = fill(context, &mut input, &mut body[..want], produced).map_err(PrefixError::Zstd)?;
            match through(&body[..produced], total).map_err(PrefixError::Refused)? {
                Some(wanted) => {
                    let wanted = wanted.min(total);
                    if wanted > produced {
                        produced = fill(context, &mut input, &mut body[..wanted], produced)
                            .map_err(PrefixError::Zstd)?;
                    }
                    if produced < body.len() {
                        // Readers may keep the prefix for long (the opened-objects cache).
                        body.truncate(produced);
                        body.shrink_to_fit();
                    }
                    return Ok((body, total));
                }
                None if produced < total => want = (want * 4).min(total),
                None => return Err(PrefixError::Zstd("whole frame read and still not enough".to_string())),
            }
        }
    })
}

/// Decompresses from `input` into `output` until it is full (from `produced` on); returns the
/// bytes in `output`.
fn fill(
    context: &mut zstd::zstd_safe::DCtx<'static>,
    input: &mut zstd::zstd_safe::InBuffer<'_>,
    output: &mut [u8],
    produced: usize,
) -> Result<usize, String> {
    let want = output.len();
    let mut output = zstd::zstd_safe::OutBuffer::around_pos(output, produced);
    while output.pos() < want {
        let before = (output.pos(), input.pos());
        let hint = context
            .decompress_stream(&mut output, input)
            .map_err(|code| zstd::zstd_safe::get_error_name(code).to_string())?;
        if hint == 0 && output.pos() < want {
            return Err("frame ends before its stated size".to_string());
        }
        if (output.pos(), input.pos()) == before {
            return Err("truncated frame".to_string());
        }
    }
    Ok(output.pos())
}

/// Decompresses one zstd frame that holds at most `capacity` bytes.
pub(crate) fn decompress(frame: &[u8], capacity: usize) -> io::Result<Vec<u8>> {
    let size = match zstd::zstd_safe::get_frame_content_size(frame) {
        Ok(Some(size)) if size <= capacity as u64 => size as usize,
        Ok(Some(size)) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("zstd frame of {size} bytes, more than the {capacity} allowed"),
            ))
        }
        // Frames written without their size (none of ours): decode as a stream, bounded.
        Ok(None) => return decompress_unsized(frame, capacity),
        Err(_) => return Err(io::Error::new(io::ErrorKind::InvalidData, "not a zstd frame")),
    };
    DECOMPRESSOR.with(|cell| match cell.try_borrow_mut() {
        Ok(mut cell) => {
            let decompressor = match cell.as_mut() {
                Some(decompressor) => decompressor,
                None => cell.insert(zstd::bulk::Decompressor::new()?),
            };
            decompressor.decompress(frame, size)
        }
        // Only reachable by re-entry, which nothing does; a fresh context is still correct.
        Err(_) => zstd::bulk::decompress(frame, size),
    })
}

/// Decompresses a frame that does not state its size, refusing more than `capacity` bytes.
fn decompress_unsized(frame: &[u8], capacity: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    zstd::stream::read::Decoder::with_buffer(frame)?.take(capacity as u64 + 1).read_to_end(&mut out)?;
    if out.len() > capacity {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("zstd frame of more than the {capacity} bytes allowed"),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use neocortex_testkit::chunks::noise;

    fn data(len: usize) -> Vec<u8> {
        (0..len as u64).map(|i| (noise(1, i / 3) % 16) as u8).collect()
    }

    #[test]
    fn allocates_what_the_frame_holds() {
        let original = data(6_000);
        let frame = zstd::bulk::compress(&original, 3).unwrap();
        let out = decompress(&frame, 64 << 20).unwrap();
        assert_eq!(out, original);
        assert!(out.capacity() < 2 * original.len(), "capacity {}", out.capacity());
        let error = decompress(&frame, 5_999).unwrap_err();
        assert!(error.to_string().contains("more than the 5999 allowed"), "{error}");
        assert!(decompress(&original, 64 << 20).is_err(), "not a frame");
        assert!(decompress(&frame[..frame.len() - 1], 64 << 20).is_err(), "truncated");
    }

    #[test]
    fn frames_without_a_size_decode_within_the_limit() {
        let original = data(10_000);
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        encoder.include_contentsize(false).unwrap();
        std::io::Write::write_all(&mut encoder, &original).unwrap();
        let frame = encoder.finish().unwrap();
        assert_eq!(zstd::zstd_safe::get_frame_content_size(&frame).unwrap(), None);
        assert_eq!(decompress(&frame, 10_000).unwrap(), original);
        assert!(decompress(&frame, 9_999).is_err());
    }
}
