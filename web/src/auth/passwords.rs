//! Password hashing and checking, bounded. One argon2 check takes about 19 MiB and a core for
//! tens of milliseconds; unbounded, a flood of logins (known users or not) took as many blocking
//! threads, and as much memory, as it liked. Here `password_checks` threads of their own (one
//! per core by default) do all of it, and a request that finds every one busy is refused at once
//! rather than queued: waiting requests would hold memory and connections just the same.
//!
//! Threads of their own, each with argon2's working memory allocated once and reused: with a
//! fresh 19 MiB per check on the runtime's blocking threads, the allocator kept what each check
//! had freed resident, and the process grew by far more than the checks running at once.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

use heliograph_shared::{PasswordDigest, PasswordMemory};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::error::AppError;

type Job = Box<dyn FnOnce(&mut PasswordMemory) + Send>;

/// The password threads and their free slots.
#[derive(Clone)]
pub struct PasswordChecks {
    slots: Arc<Semaphore>,
    jobs: mpsc::Sender<Job>,
}

/// One free password thread, held until the work it was taken for has ended.
pub struct Slot {
    permit: OwnedSemaphorePermit,
    jobs: mpsc::Sender<Job>,
}

impl PasswordChecks {
    /// `concurrency` threads; 0 means one per core. They end when the last handle is dropped.
    pub fn new(concurrency: usize) -> std::io::Result<Self> {
        let threads = match concurrency {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new().name(format!("password-{n}")).spawn(move || {
                let mut memory = PasswordMemory::default();
                loop {
                    // The lock is held only while waiting for the next job, never while one runs.
                    let next = match queue.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    match next {
                        Ok(job) => job(&mut memory),
                        Err(_) => return,
                    }
                }
            })?;
        }
        Ok(Self { slots: Arc::new(Semaphore::new(threads)), jobs })
    }

    /// A slot if a thread is free now.
    pub fn try_slot(&self) -> Option<Slot> {
        let permit = Arc::clone(&self.slots).try_acquire_owned().ok()?;
        Some(Slot { permit, jobs: self.jobs.clone() })
    }
}

impl Slot {
    /// Checks `password` against `digest`; without a digest (no such account) against a dummy
    /// one, so that costs the same time, answering false. The slot is held by the check itself,
    /// so a client that goes away does not free it early.
    pub async fn verify(self, digest: Option<PasswordDigest>, password: String) -> Result<bool, AppError> {
        let known = digest.is_some();
        let verified = self
            .run(move |memory| match digest.as_ref().or_else(|| dummy_digest()) {
                Some(digest) => digest.verify_in(&password, memory),
                None => false,
            })
            .await?;
        Ok(known && verified)
    }

    /// Hashes a new password.
    pub async fn hash(self, password: String) -> Result<PasswordDigest, AppError> {
        self.run(move |_| PasswordDigest::hash(&password)).await?.map_err(AppError::Internal)
    }

    async fn run<T: Send + 'static>(
        self,
        work: impl FnOnce(&mut PasswordMemory) -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let (answer, answered) = oneshot::channel();
        let Self { permit, jobs } = self;
        let job: Job = Box::new(move |memory| {
            let outcome = work(memory);
            // Free before answering, so that the client's next attempt finds the thread free.
            drop(permit);
            let _ = answer.send(outcome);
        });
        jobs.send(job).map_err(|_| AppError::Internal("the password threads have stopped".into()))?;
        answered.await.map_err(|_| AppError::Internal("a password check failed".into()))
    }
}

/// A digest to verify against when the user does not exist, so that costs the same time.
fn dummy_digest() -> Option<&'static PasswordDigest> {
    static DUMMY: OnceLock<Option<PasswordDigest>> = OnceLock::new();
    DUMMY.get_or_init(|| PasswordDigest::hash("not a password of anyone").ok()).as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_more_slots_than_threads_are_handed_out_and_a_finished_check_frees_its_own() {
        let checks = PasswordChecks::new(2).expect("threads");
        let first = checks.try_slot().expect("a slot");
        let second = checks.try_slot().expect("a second slot");
        assert!(checks.try_slot().is_none(), "a third is refused at once");
        let digest = second.hash("a password".into()).await.expect("hashed");
        let again = checks.try_slot().expect("the hash gave its slot back");
        assert!(again.verify(Some(digest.clone()), "a password".into()).await.expect("checked"));
        let wrong = checks.try_slot().expect("free again");
        assert!(!wrong.verify(Some(digest), "another".into()).await.expect("checked"));
        assert!(
            !checks.try_slot().expect("free again").verify(None, "a password".into()).await.expect("checked")
        );
        drop(first);
    }
}
