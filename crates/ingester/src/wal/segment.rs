//! WAL files on disk: segment and checkpoint names, their 16-byte header (magic + run id), and
//! reading a file's records up to the first torn or corrupt one.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::wal::encoding::{read_frame, Frame};

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

/// The records of one file, read whole.
#[derive(Debug)]
pub(crate) struct FileRecords {
    /// Run id from the header; `None` when the header is missing or wrong.
    pub(crate) run_id: Option<u64>,
    bytes: Vec<u8>,
}

/// Where reading a file's records stopped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// At the end of the file.
    End,
    /// At a bad record starting at this offset.
    Corrupt { offset: u64, reason: &'static str },
}

impl FileRecords {
    /// Reads `path`, checking its header against `magic`.
    pub(crate) fn read(path: &Path, magic: &[u8; 8]) -> io::Result<Self> {
        let bytes = fs::read(path)?;
        let run_id = (bytes.len() >= HEADER_BYTES && &bytes[..8] == magic).then(|| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[8..HEADER_BYTES]);
            u64::from_le_bytes(word)
        });
        Ok(Self { run_id, bytes })
    }

    /// Size of the file.
    pub(crate) fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Calls `visit` with each record payload in order until the end or the first bad record;
    /// `visit` returning `Err(reason)` also stops (a record that frames well but does not decode).
    pub(crate) fn for_each(&self, mut visit: impl FnMut(&[u8]) -> Result<(), &'static str>) -> Stop {
        if self.run_id.is_none() {
            return Stop::Corrupt { offset: 0, reason: "missing or unknown file header" };
        }
        let mut offset = HEADER_BYTES;
        loop {
            match read_frame(&self.bytes[offset..]) {
                Frame::End => return Stop::End,
                Frame::Bad(reason) => return Stop::Corrupt { offset: offset as u64, reason },
                Frame::Record(payload, used) => {
                    if let Err(reason) = visit(payload) {
                        return Stop::Corrupt { offset: offset as u64, reason };
                    }
                    offset += used;
                }
            }
        }
    }
}

/// Makes a directory entry change (create, rename, delete) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}
