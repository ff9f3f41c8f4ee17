//! WAL files on disk: segment and checkpoint names, their 16-byte header (magic + run id), and
//! reading a file's records up to the first torn or corrupt one.

use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::wal::encoding::{FRAME_HEADER, MAX_RECORD};

/// Header bytes of every segment and checkpoint: 8 bytes of magic, then the run id (u64 LE).
pub(crate) const HEADER_BYTES: usize = 16;
/// Magic of a segment file.
pub(crate) const SEGMENT_MAGIC: &[u8; 8] = b"NCWAL\0\x01\0";
/// Magic of a checkpoint file.
pub(crate) const CHECKPOINT_MAGIC: &[u8; 8] = b"NCCKPT\x01\0";
const CHECKPOINT_PREFIX: &str = "checkpoint.";
const TEMP_SUFFIX: &str = ".tmp";

/// The header of a file written by run `run_id`.
pub(crate) fn header(magic: &[u8; 8], run_id: u64) -> [u8; HEADER_BYTES] {
    let mut bytes = [0u8; HEADER_BYTES];
    bytes[..8].copy_from_slice(magic);
    bytes[8..].copy_from_slice(&run_id.to_le_bytes());
    bytes
}

/// Path of segment `index`.
pub(crate) fn segment_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:08}"))
}

/// Path of the checkpoint taken when segment `index` was started.
pub(crate) fn checkpoint_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{CHECKPOINT_PREFIX}{index:08}"))
}

/// Path a checkpoint is written to before it is renamed into place.
pub(crate) fn checkpoint_temp_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{CHECKPOINT_PREFIX}{index:08}{TEMP_SUFFIX}"))
}

/// The WAL files found in a directory, sorted by index.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub(crate) segments: Vec<u64>,
    pub(crate) checkpoints: Vec<u64>,
    /// Leftovers of interrupted checkpoints.
    pub(crate) temporary: Vec<PathBuf>,
}

/// Lists `dir` (which must exist); names that are not WAL files are ignored.
pub(crate) fn list(dir: &Path) -> io::Result<Listing> {
    let mut listing = Listing::default();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(TEMP_SUFFIX) && name.starts_with(CHECKPOINT_PREFIX) {
            listing.temporary.push(entry.path());
        } else if let Some(index) = name.strip_prefix(CHECKPOINT_PREFIX) {
            if let Some(index) = parse_index(index) {
                listing.checkpoints.push(index);
            }
        } else if let Some(index) = parse_index(name) {
            listing.segments.push(index);
        }
    }
    listing.segments.sort_unstable();
    listing.checkpoints.sort_unstable();
    Ok(listing)
}

fn parse_index(name: &str) -> Option<u64> {
    (name.len() == 8 && name.bytes().all(|b| b.is_ascii_digit())).then(|| name.parse().ok()).flatten()
}

/// The records of one file, read as a stream (a checkpoint can be as large as memory).
#[derive(Debug)]
pub(crate) struct FileRecords {
    /// Run id from the header; `None` when the header is missing or wrong.
    pub(crate) run_id: Option<u64>,
    reader: BufReader<File>,
    len: u64,
}

/// Where reading a file's records stopped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// At the end of the file.
    End,
    /// At a bad record starting at this offset.
    Corrupt { offset: u64, reason: &'static str },
}

/// Reads until `buffer` is full or the file ends; returns the bytes read.
fn read_full(reader: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

impl FileRecords {
    /// Opens `path` and reads its header, checking it against `magic`.
    pub(crate) fn open(path: &Path, magic: &[u8; 8]) -> io::Result<Self> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut head = [0u8; HEADER_BYTES];
        let read = read_full(&mut reader, &mut head)?;
        let run_id = (read == HEADER_BYTES && &head[..8] == magic).then(|| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&head[8..]);
            u64::from_le_bytes(word)
        });
        Ok(Self { run_id, reader, len })
    }

    /// Size of the file.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Calls `visit` with each checksum-valid record payload in order until the end or the
    /// first bad record; `visit` returning `Err(reason)` (a record that does not decode) also
    /// stops there.
    pub(crate) fn for_each(
        &mut self,
        mut visit: impl FnMut(&[u8]) -> Result<(), &'static str>,
    ) -> io::Result<Stop> {
        if self.run_id.is_none() {
            return Ok(Stop::Corrupt { offset: 0, reason: "missing or unknown file header" });
        }
        let mut offset = HEADER_BYTES as u64;
        let mut payload = Vec::new();
        loop {
            let mut head = [0u8; FRAME_HEADER];
            let read = read_full(&mut self.reader, &mut head)?;
            if read == 0 {
                return Ok(Stop::End);
            }
            let corrupt = |reason| Ok(Stop::Corrupt { offset, reason });
            if read < FRAME_HEADER {
                return corrupt("torn record header");
            }
            let length = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
            let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
            if length == 0 || length > MAX_RECORD {
                return corrupt("invalid record length");
            }
            if length as u64 > self.len.saturating_sub(offset + FRAME_HEADER as u64) {
                return corrupt("torn record");
            }
            payload.resize(length, 0);
            if read_full(&mut self.reader, &mut payload)? < length {
                return corrupt("torn record");
            }
            if crc32c::crc32c(&payload) != crc {
                return corrupt("checksum mismatch");
            }
            if let Err(reason) = visit(&payload) {
                return corrupt(reason);
            }
            offset += (FRAME_HEADER + length) as u64;
        }
    }
}

/// Makes a directory entry change (create, rename, delete) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}
