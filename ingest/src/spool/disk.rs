//! The spool's file operations behind a trait, so that tests can make a write fail halfway or a
//! disk fill up exactly where they want, instead of hoping to hit it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// A segment file open for appending.
pub(crate) trait AppendFile: Send {
    /// Appends all of `bytes`, or fails having written any prefix of them.
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Makes what was written durable.
    fn sync(&mut self) -> io::Result<()>;
    /// Cuts the file back to `len` bytes (a failed append's leftovers).
    fn truncate(&mut self, len: u64) -> io::Result<()>;
}

/// Creates segment files and makes directory entries durable.
pub(crate) trait Disk: Send + Sync {
    /// Creates a new, empty segment file (never one that exists).
    fn create(&self, path: &Path) -> io::Result<Box<dyn AppendFile>>;
    /// Makes the directory's entries (a new file's name) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// The real file system.
pub(crate) struct RealDisk;

struct RealFile(File);

impl AppendFile for RealFile {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        // The file is opened for appending, so the next write lands at the new end.
        self.0.set_len(len)?;
        self.0.sync_data()
    }
}

impl Disk for RealDisk {
    fn create(&self, path: &Path) -> io::Result<Box<dyn AppendFile>> {
        let file = OpenOptions::new().create_new(true).append(true).open(path)?;
        Ok(Box::new(RealFile(file)))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

/// Truncates a file that is not open for writing (a segment left by an earlier process).
pub(crate) fn truncate_closed(path: &Path, len: u64) -> io::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(len)?;
    file.sync_all()
}

/// Removes a file, treating "already gone" as done.
pub(crate) fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
