//! Records the store refuses for good (their provider was deleted, a value the backend rejects)
//! and damaged lines: set aside in `dead-letters.log`, one JSON object a line, so that they never
//! block the records behind them and are never silently dropped. An operator reads the file, fixes
//! the cause and feeds the records back (`heliograph spool requeue`).

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The dead-letter file's name inside the spool directory.
pub const FILE_NAME: &str = "dead-letters.log";

/// One set-aside record.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeadLetter {
    /// When it was set aside.
    pub at: DateTime<Utc>,
    /// Why, in words.
    pub reason: String,
    /// The spooled line as it was on disk (without its newline), lossily as UTF-8.
    pub line: String,
}

/// The dead-letter file, appended to under a lock.
pub(super) struct DeadLetters {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl DeadLetters {
    pub(super) fn new(dir: &Path) -> Self {
        Self { path: dir.join(FILE_NAME), file: Mutex::new(None) }
    }

    /// Bytes in the file now (zero when there is none).
    pub(super) fn len(&self) -> io::Result<u64> {
        match std::fs::metadata(&self.path) {
            Ok(meta) => Ok(meta.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Appends a line durably; returns the bytes written. Blocking.
    pub(super) fn append(&self, reason: &str, line: &[u8]) -> io::Result<u64> {
        let letter = DeadLetter {
            at: Utc::now(),
            reason: reason.to_owned(),
            line: String::from_utf8_lossy(line).into_owned(),
        };
        let mut json = serde_json::to_vec(&letter).map_err(io::Error::other)?;
        json.push(b'\n');
        let mut guard = self.file.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if guard.is_none() {
            *guard = Some(OpenOptions::new().create(true).append(true).open(&self.path)?);
        }
        let Some(file) = guard.as_mut() else {
            return Err(io::Error::other("dead-letter file not open"));
        };
        let before = file.metadata()?.len();
        if let Err(e) = file.write_all(&json).and_then(|()| file.sync_data()) {
            // Never leave half a line for the next one to be glued to.
            let _ = file.set_len(before);
            *guard = None;
            return Err(e);
        }
        Ok(json.len() as u64)
    }
}

/// Reads a dead-letter file back.
pub fn read(path: &Path) -> io::Result<Vec<DeadLetter>> {
    let reader = io::BufReader::new(File::open(path)?);
    let mut letters = Vec::new();
    for line in reader.lines() {
        let line = line?;
        if let Ok(letter) = serde_json::from_str(&line) {
            letters.push(letter);
        }
    }
    Ok(letters)
}
