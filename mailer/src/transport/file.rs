//! The file transport: one `.eml` file per message, written whole (temporary file, fsync,
//! rename) so a reader never sees half a message.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use lettre::Message;

use super::{SendError, TransportError};

/// A directory that collects messages.
pub struct FileOutbox {
    dir: PathBuf,
}

impl FileOutbox {
    /// Uses (creating if needed) `dir`.
    pub fn new(dir: &Path) -> Result<Self, TransportError> {
        std::fs::create_dir_all(dir)
            .map_err(|source| TransportError::OutboxDir { path: dir.to_path_buf(), source })?;
        Ok(Self { dir: dir.to_path_buf() })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `<name>.eml` (or `<name>-2.eml`… when a resend finds the first one there).
    pub async fn send(&self, message: &Message, name: &str) -> Result<(), SendError> {
        let bytes = message.formatted();
        let dir = self.dir.clone();
        let stem: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
            .collect();
        tokio::task::spawn_blocking(move || write_message(&dir, &stem, &bytes))
            .await
            .map_err(|e| SendError::Transient(format!("outbox task failed: {e}")))?
            .map_err(|e| SendError::Transient(format!("cannot write to the outbox: {e}")))
    }
}

fn write_message(dir: &Path, stem: &str, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = dir.join(format!(".{stem}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    let mut target = dir.join(format!("{stem}.eml"));
    let mut n = 1;
    while target.exists() {
        n += 1;
        target = dir.join(format!("{stem}-{n}.eml"));
    }
    std::fs::rename(&temporary, &target)?;
    // The rename is durable once the directory is synced.
    std::fs::File::open(dir)?.sync_all()
}
