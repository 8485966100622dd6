//! The single writer of one SQLite database, with group commit.
//!
//! SQLite admits one writer at a time and a durable commit costs an fsync, so every write to a
//! database goes through one thread that drains whatever jobs are queued, runs each in its own
//! savepoint (one failing job does not undo the others), and commits them together: many
//! gateways' documents share one fsync, and each caller is answered only after it. Copying the
//! write-ahead log back into the database is left to a thread of its own (`checkpoint`).

use std::thread;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::checkpoint::Checkpointer;
use crate::store::{Failure, StoreError};

/// A unit of work run inside the writer's transaction.
pub(super) type Job = Box<dyn FnOnce(&Connection) -> Result<(), StoreError> + Send>;

struct Request {
    job: Job,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// Handle to a database's writer thread; cheap to clone.
#[derive(Clone)]
pub(super) struct Writer {
    requests: mpsc::Sender<Request>,
}

/// How many jobs one transaction takes at most (bounds the latency of the first caller).
const MAX_JOBS_PER_COMMIT: usize = 512;

impl Writer {
    /// Starts the writer thread that owns `connection`, and the checkpoint thread that owns
    /// `checkpoints` (a second connection to the same database); both end when the last handle
    /// is dropped.
    pub(super) fn spawn(
        connection: Connection,
        checkpoints: Connection,
        name: String,
        queue: usize,
    ) -> Result<Self, StoreError> {
        let checkpointer = Checkpointer::spawn(&connection, checkpoints, &name)?;
        let (requests, receiver) = mpsc::channel(queue);
        thread::Builder::new()
            .name(format!("sqlite-writer-{name}"))
            .spawn(move || run(connection, &checkpointer, receiver))
            .map_err(|e| StoreError::Backend(Failure::caused_by("cannot start writer thread", e)))?;
        Ok(Self { requests })
    }

    /// Runs `work` in the next group transaction and returns its value once that transaction is
    /// committed (and synced); an error rolls back this work only.
    pub(super) async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (value_tx, value_rx) = oneshot::channel();
        let job: Job = Box::new(move |connection| {
            let value = work(connection)?;
            // Held back until the commit is known to have succeeded.
            let _ = value_tx.send(value);
            Ok(())
        });
        let (done, outcome) = oneshot::channel();
        self.requests
            .send(Request { job, done })
            .await
            .map_err(|_| StoreError::Unavailable("database writer has stopped".into()))?;
        outcome
            .await
            .map_err(|_| StoreError::Unavailable("database writer stopped before committing".into()))??;
        value_rx.await.map_err(|_| StoreError::Backend("database writer lost a committed result".into()))
    }
}

fn run(mut connection: Connection, checkpointer: &Checkpointer, mut receiver: mpsc::Receiver<Request>) {
    while let Some(first) = receiver.blocking_recv() {
        let mut requests = vec![first];
        while requests.len() < MAX_JOBS_PER_COMMIT {
            match receiver.try_recv() {
                Ok(request) => requests.push(request),
                Err(_) => break,
            }
        }
        commit_group(&mut connection, requests);
        checkpointer.after_commit(&connection);
    }
}

fn commit_group(connection: &mut Connection, requests: Vec<Request>) {
    let mut transaction = match connection.transaction() {
        Ok(transaction) => transaction,
        Err(e) => {
            // One error answers every caller of the group: each gets it as a shared source.
            let e = std::sync::Arc::new(e);
            for request in requests {
                let error =
                    Failure::caused_by("sqlite cannot begin a transaction", std::sync::Arc::clone(&e));
                let _ = request.done.send(Err(StoreError::Backend(error)));
            }
            return;
        }
    };
    let mut outcomes = Vec::with_capacity(requests.len());
    for request in requests {
        let outcome = match transaction.savepoint() {
            Ok(savepoint) => match (request.job)(&savepoint) {
                Ok(()) => savepoint.commit().map_err(backend),
                // Dropping the savepoint rolls this job back and leaves the others in place.
                Err(e) => Err(e),
            },
            Err(e) => Err(backend(e)),
        };
        outcomes.push((request.done, outcome));
    }
    let committed = transaction.commit().map_err(std::sync::Arc::new);
    for (done, outcome) in outcomes {
        let outcome = match &committed {
            Ok(()) => outcome,
            // One commit answers many callers: each gets its error as a shared source.
            Err(e) => Err(StoreError::Backend(Failure::caused_by("sqlite commit", std::sync::Arc::clone(e)))),
        };
        // The caller may have gone away (connection closed); its data is committed regardless.
        let _ = done.send(outcome);
    }
}

pub(super) fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(crate::store::Failure::caused_by("sqlite", e))
}
