//! Copies a database's write-ahead log back into the database on a thread of its own.
//!
//! SQLite's automatic checkpoint runs inside the commit that fills the log, so every caller
//! waiting on that commit (gateways waiting for their acks) waits for the copy and its fsync too.
//! Here the writer only counts: after a commit that leaves the log at `wake_pages` or more it
//! wakes the checkpoint thread, whose passive checkpoint copies the log while the writer goes on
//! committing. The log starts over only when a transaction begins with all of it copied; under
//! full load the writer has always appended more by then, so at `limit_pages` the writer copies
//! what the thread has not yet copied itself, between commits, and the log starts over. The log
//! file stays near `limit_pages` (past it only by the commits made while the thread finishes a
//! copy, which the writer's own checkpoint does not wait for).
//!
//! A larger automatic checkpoint would not do: each commit that filled the log would stall every
//! ack waiting on it (scripts/bench_notes.md has the measurements).

use std::cell::Cell;
use std::ffi::c_int;
use std::sync::mpsc;
use std::thread;

use rusqlite::Connection;
use rusqlite::hooks::Wal;

use super::writer::backend;
use crate::store::StoreError;

/// Pages (4 KiB each) in the log that wake the checkpoint thread: 32 MiB. A page the writer
/// keeps touching (an index leaf, an hour's rollups) is copied once while the log fills to this
/// size, where SQLite's default copied it every 1,000 pages.
const WAKE_PAGES: i32 = 8192;
/// Pages the log grows by between wakes once it is past the wake size and not started over
/// (frames committed while the thread copies wait for its next round): 4 MiB.
const WAKE_STEP_PAGES: i32 = 1024;
/// Pages in the log at which the writer checkpoints itself: 256 MiB, which the log reaches under
/// sustained full load; a smaller limit makes the writer's own checkpoints cost throughput.
const LIMIT_PAGES: i32 = 8 * WAKE_PAGES;

thread_local! {
    /// Pages in the log after this thread's last commit, as SQLite's WAL hook reported them.
    static LOG_PAGES: Cell<c_int> = const { Cell::new(0) };
}

/// Installs the hook that counts the log's pages after each of `writer`'s commits. It replaces
/// SQLite's automatic checkpoint, which is the same hook slot.
fn count_log_pages(writer: &Connection) {
    writer.wal_hook(Some(note_log_pages));
}

fn note_log_pages(_wal: &Wal, pages: c_int) -> rusqlite::Result<()> {
    LOG_PAGES.set(pages);
    Ok(())
}

/// Handle to a database's checkpoint thread, owned by that database's writer thread; the checkpoint
/// thread ends when this handle is dropped.
pub(super) struct Checkpointer {
    wake: mpsc::SyncSender<()>,
    wake_pages: c_int,
    limit_pages: c_int,
    /// The log's pages when the thread was last woken.
    woken_at: Cell<c_int>,
}

impl Checkpointer {
    /// Counts the log's pages after each of `writer`'s commits from now on (which switches
    /// SQLite's automatic checkpoint off) and starts the checkpoint thread that owns `connection`
    /// (its own connection to the database).
    pub(super) fn spawn(writer: &Connection, connection: Connection, name: &str) -> Result<Self, StoreError> {
        Self::spawn_with(writer, connection, name, WAKE_PAGES, LIMIT_PAGES)
    }

    /// Like [`Checkpointer::spawn`] with the two thresholds given.
    fn spawn_with(
        writer: &Connection,
        connection: Connection,
        name: &str,
        wake_pages: c_int,
        limit_pages: c_int,
    ) -> Result<Self, StoreError> {
        count_log_pages(writer);
        // One pending wake is enough: the thread checkpoints whatever the log holds when it runs.
        let (wake, woken) = mpsc::sync_channel(1);
        thread::Builder::new()
            .name(format!("sqlite-ckpt-{name}"))
            .spawn(move || run(&connection, &woken))
            .map_err(|e| {
                StoreError::Backend(crate::store::Failure::caused_by("cannot start checkpoint thread", e))
            })?;
        Ok(Self { wake, wake_pages, limit_pages, woken_at: Cell::new(0) })
    }

    /// Called by the writer thread after each commit, with its connection.
    pub(super) fn after_commit(&self, writer: &Connection) {
        // Taken, not read: a commit that wrote nothing does not call the hook.
        let pages = LOG_PAGES.replace(0);
        if pages >= self.limit_pages {
            if let Err(e) = checkpoint(writer) {
                tracing::warn!(error = %e, pages, "write-ahead log checkpoint on the writer failed");
            }
        } else if pages >= self.wake_pages {
            let woken_at = self.woken_at.get();
            // Fewer pages than at the last wake: the log has started over since.
            if pages < woken_at || pages >= woken_at + WAKE_STEP_PAGES.min(self.wake_pages) {
                // Full means a wake is already pending; the thread will see this log too.
                let _ = self.wake.try_send(());
                self.woken_at.set(pages);
            }
        }
    }
}

fn run(connection: &Connection, woken: &mpsc::Receiver<()>) {
    while woken.recv().is_ok() {
        if let Err(e) = checkpoint(connection) {
            tracing::warn!(error = %e, "write-ahead log checkpoint failed");
        }
    }
}

/// A passive checkpoint: copies what the log holds without waiting for (or blocking) the writer
/// or readers; the writer starts the log over once all of it is copied and no reader needs it.
fn checkpoint(connection: &Connection) -> Result<(), StoreError> {
    connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())).map_err(backend)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    use super::*;

    fn open(path: &Path) -> Connection {
        let connection = Connection::open(path).expect("opens");
        connection.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;").expect("pragmas");
        connection
    }

    /// A database with a table of blobs, its writer, and a checkpointer with the given thresholds.
    struct Fixture {
        _dir: tempfile::TempDir,
        path: PathBuf,
        writer: Connection,
        checkpointer: Checkpointer,
        /// The database file's size before anything was written.
        before: u64,
    }

    impl Fixture {
        fn new(wake_pages: c_int, limit_pages: c_int) -> Self {
            let dir = tempfile::tempdir().expect("temporary directory");
            let path = dir.path().join("db");
            let writer = open(&path);
            writer.execute_batch("CREATE TABLE blobs (data BLOB)").expect("table");
            let checkpointer =
                Checkpointer::spawn_with(&writer, open(&path), "test", wake_pages, limit_pages)
                    .expect("spawns");
            let before = database_bytes(&path);
            Self { _dir: dir, path, writer, checkpointer, before }
        }

        /// Commits `rows` rows of 1 KiB each, one transaction per row.
        fn write(&self, rows: usize) {
            for _ in 0..rows {
                self.writer.execute("INSERT INTO blobs (data) VALUES (zeroblob(1024))", []).expect("insert");
                self.checkpointer.after_commit(&self.writer);
            }
        }

        fn database_bytes(&self) -> u64 {
            database_bytes(&self.path)
        }
    }

    fn database_bytes(path: &Path) -> u64 {
        std::fs::metadata(path).expect("database file").len()
    }

    fn wait_until(mut done: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if done() {
                return true;
            }
            thread::sleep(Duration::from_millis(20));
        }
        false
    }

    #[test]
    fn a_log_past_the_wake_size_is_copied_into_the_database_by_the_checkpoint_thread() {
        let db = Fixture::new(64, i32::MAX);

        db.write(200);

        assert!(
            wait_until(|| db.database_bytes() > db.before + 100 * 1024),
            "the database file stayed at {} bytes: nothing was checkpointed",
            db.database_bytes()
        );
    }

    #[test]
    fn a_log_below_the_wake_size_stays_in_the_log() {
        let db = Fixture::new(10_000, i32::MAX);

        db.write(200);
        thread::sleep(Duration::from_millis(200));

        assert_eq!(db.database_bytes(), db.before, "SQLite's own automatic checkpoint is off");
    }

    #[test]
    fn a_log_at_the_limit_is_checkpointed_by_the_writer_itself() {
        // The checkpoint thread is never woken (its threshold is out of reach): only the writer's
        // own checkpoint at the limit can move the rows into the database.
        let db = Fixture::new(i32::MAX, 64);

        db.write(200);

        assert!(db.database_bytes() > db.before + 100 * 1024, "the writer did not checkpoint");
    }
}
