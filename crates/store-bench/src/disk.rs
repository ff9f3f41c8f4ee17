//! What the servers leave on disk: file counts and sizes (apparent and in allocated blocks), and
//! dropping those files from the OS page cache so the next read is cold.

use std::path::Path;
use std::process::Command;

/// Files under a directory and their sizes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct DirSize {
    /// Regular files.
    pub(crate) files: u64,
    /// Sum of file lengths.
    pub(crate) apparent: u64,
    /// Sum of allocated blocks, in bytes.
    pub(crate) allocated: u64,
}

impl DirSize {
    fn add(self, other: DirSize) -> DirSize {
        DirSize {
            files: self.files + other.files,
            apparent: self.apparent + other.apparent,
            allocated: self.allocated + other.allocated,
        }
    }
}

/// Every file under `path`, recursively (zero when it does not exist).
pub(crate) fn dir_size(path: &Path) -> DirSize {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(path) else { return DirSize::default() };
    entries.flatten().fold(DirSize::default(), |total, entry| match entry.metadata() {
        Ok(meta) if meta.is_dir() => total.add(dir_size(&entry.path())),
        Ok(meta) => total.add(DirSize { files: 1, apparent: meta.len(), allocated: meta.blocks() * 512 }),
        Err(_) => total,
    })
}

/// Drops the OS page cache of every file under `dir` (`fsync`, then `POSIX_FADV_DONTNEED`,
/// through python3), so the next read comes from disk. Returns false when that failed.
pub(crate) fn evict_page_cache(dir: &Path) -> bool {
    const SCRIPT: &str = "import os,sys\nfor r,_,fs in os.walk(sys.argv[1]):\n for f in fs:\n  fd=os.open(os.path.join(r,f),os.O_RDONLY)\n  os.fsync(fd)\n  os.posix_fadvise(fd,0,0,os.POSIX_FADV_DONTNEED)\n  os.close(fd)\n";
    Command::new("python3").arg("-c").arg(SCRIPT).arg(dir).status().is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_nested_files() {
        let directory = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(directory.path().join("a/b")).unwrap();
        std::fs::write(directory.path().join("a/one"), [0u8; 10]).unwrap();
        std::fs::write(directory.path().join("a/b/two"), [0u8; 5000]).unwrap();
        let size = dir_size(directory.path());
        assert_eq!((size.files, size.apparent), (2, 5010));
        assert!(size.allocated >= 4096, "{size:?}");
        assert_eq!(dir_size(&directory.path().join("missing")), DirSize::default());
        assert!(
            evict_page_cache(directory.path())
                || std::process::Command::new("python3").arg("-V").status().is_err()
        );
    }
}
