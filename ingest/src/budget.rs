//! Memory in flight, bounded: every byte a connection pulls off its socket for a document it
//! has not finished is memory held until the document ends (the event buffer, the readings
//! parsed so far). Each connection may pull a small allowance freely; beyond it, it takes bytes
//! from one pool shared by the whole process, and while the pool is empty its reads pause (the
//! document timeout still runs). So a thousand senders of half-finished megabyte documents hold
//! at most the pool, not a gigabyte.
//!
//! Strangers (connections that have not authenticated yet) and gateways draw on separate pools
//! ([`MemoryPools`]), so that strangers holding their pool empty never make an authenticated
//! gateway's document wait.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, ReadBuf, Take};
use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore};

/// Bytes taken from the pool at a time.
const CHUNK: u64 = 64 * 1024;
/// The pool counts in units of this many bytes (a semaphore's permits are a `u32`).
const UNIT: u64 = 1024;

/// The process's pool of bytes in flight.
#[derive(Clone, Debug)]
pub struct MemoryPool {
    permits: Arc<Semaphore>,
    bytes: u64,
}

impl MemoryPool {
    /// A pool of `bytes` (rounded down to KiB, at least one chunk).
    pub fn new(bytes: u64) -> Self {
        let units = (bytes.max(CHUNK) / UNIT).min(Semaphore::MAX_PERMITS as u64);
        Self { permits: Arc::new(Semaphore::new(units as usize)), bytes: units * UNIT }
    }

    /// The pool's size in bytes.
    pub fn size(&self) -> u64 {
        self.bytes
    }

    /// Bytes free now.
    pub fn available(&self) -> u64 {
        self.permits.available_permits() as u64 * UNIT
    }

    /// Takes `bytes` (rounded up to KiB) at once, or nothing when the pool has not that much free.
    pub fn try_take(&self, bytes: u64) -> Option<OwnedSemaphorePermit> {
        let units = u32::try_from(bytes.div_ceil(UNIT)).ok()?;
        Arc::clone(&self.permits).try_acquire_many_owned(units).ok()
    }

    /// Takes `bytes` (rounded up to KiB), waiting until the pool has them.
    pub async fn take(&self, bytes: u64) -> Option<OwnedSemaphorePermit> {
        let units = u32::try_from(bytes.div_ceil(UNIT)).ok()?;
        Arc::clone(&self.permits).acquire_many_owned(units).await.ok()
    }
}

/// The process's two pools: a quarter of the budget for connections that have not
/// authenticated yet, the rest for gateways that have.
#[derive(Clone, Debug)]
pub struct MemoryPools {
    /// For connections that have not said who they are.
    pub strangers: MemoryPool,
    /// For authenticated gateways (and the HTTP listener, which authenticates before reading).
    pub gateways: MemoryPool,
}

impl MemoryPools {
    /// Splits `bytes` between the two pools.
    pub fn new(bytes: u64) -> Self {
        let strangers = bytes / 4;
        Self { strangers: MemoryPool::new(strangers), gateways: MemoryPool::new(bytes - strangers) }
    }
}

type Acquire = Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;

/// A reader that pulls at most a hard limit of bytes per stretch (a document, or the gap
/// between two: EOF once spent), of which all but a free allowance is taken from a
/// [`MemoryPool`], waiting while the pool is empty.
pub struct Budgeted<R> {
    inner: Take<R>,
    pool: MemoryPool,
    /// Bytes that may still be pulled before more must be taken from the pool.
    allowance: u64,
    /// Bytes that may still be pulled in this stretch.
    remaining: u64,
    held: Option<OwnedSemaphorePermit>,
    acquiring: Option<Acquire>,
}

impl<R: AsyncRead> Budgeted<R> {
    /// Wraps `inner`; the first stretch has `limit` bytes, `free` of them without the pool.
    pub fn new(inner: R, pool: MemoryPool, limit: u64, free: u64) -> Self {
        use tokio::io::AsyncReadExt;
        Self {
            inner: inner.take(0),
            pool,
            allowance: free.min(limit),
            remaining: limit,
            held: None,
            acquiring: None,
        }
    }

    /// Starts a new stretch of `limit` bytes, `free` of them without the pool; what was taken
    /// from the pool goes back.
    pub fn restart(&mut self, limit: u64, free: u64) {
        self.held = None;
        self.acquiring = None;
        self.remaining = limit;
        self.allowance = free.min(limit);
    }

    /// Draws on `pool` from now on (what was taken from the previous one goes back at the next
    /// [`Self::restart`]).
    pub fn switch_pool(&mut self, pool: MemoryPool) {
        self.acquiring = None;
        self.pool = pool;
    }

    /// Raises the current stretch's limit to `limit` bytes from now (a document began: it may be
    /// larger than the gap before it was allowed to be).
    pub fn extend(&mut self, limit: u64, free: u64) {
        self.remaining = limit;
        self.allowance = self.allowance.max(free.min(limit));
    }

    /// True when the stretch's limit is reached: the reader then reports EOF.
    pub fn spent(&self) -> bool {
        self.remaining == 0
    }

    /// Bytes of the pool this reader holds now.
    pub fn held(&self) -> u64 {
        self.held.as_ref().map_or(0, |p| p.num_permits() as u64 * UNIT)
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Budgeted<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.remaining == 0 || buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.allowance == 0 {
            let chunk = CHUNK.min(this.remaining);
            let units = u32::try_from(chunk.div_ceil(UNIT)).unwrap_or(u32::MAX);
            let permits = Arc::clone(&this.pool.permits);
            let acquiring = this.acquiring.get_or_insert_with(|| Box::pin(permits.acquire_many_owned(units)));
            let permit = ready!(acquiring.as_mut().poll(cx)).map_err(io::Error::other)?;
            this.acquiring = None;
            match this.held.as_mut() {
                Some(held) => held.merge(permit),
                None => this.held = Some(permit),
            }
            this.allowance = chunk;
        }
        let limit = this.allowance.min(this.remaining);
        this.inner.set_limit(limit);
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        let read = limit - this.inner.limit();
        this.allowance -= read;
        this.remaining -= read;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn a_stretch_reads_its_free_allowance_then_takes_from_the_pool_and_gives_back_on_restart() {
        let pool = MemoryPool::new(256 * 1024);
        let (mut tx, rx) = tokio::io::duplex(1 << 20);
        tx.write_all(&vec![b'x'; 300 * 1024]).await.unwrap();
        let mut reader = Budgeted::new(rx, pool.clone(), 200 * 1024, 8 * 1024);
        let mut got = vec![0; 100 * 1024];
        reader.read_exact(&mut got).await.unwrap();
        assert_eq!(reader.held(), 2 * CHUNK, "8 KiB free, then two chunks");
        assert_eq!(pool.available(), 256 * 1024 - 2 * CHUNK);
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest.len(), 100 * 1024, "EOF at the stretch's limit");
        assert!(reader.spent());
        reader.restart(4 * 1024, 4 * 1024);
        assert_eq!(pool.available(), 256 * 1024, "all given back");
        let mut gap = Vec::new();
        reader.read_to_end(&mut gap).await.unwrap();
        assert_eq!(gap.len(), 4 * 1024);
    }

    #[tokio::test]
    async fn reads_pause_while_the_pool_is_empty_and_resume_when_it_refills() {
        let pool = MemoryPool::new(CHUNK);
        let hog = pool.try_take(CHUNK).unwrap();
        let (mut tx, rx) = tokio::io::duplex(1 << 20);
        tx.write_all(&vec![b'x'; 64 * 1024]).await.unwrap();
        let mut reader = Budgeted::new(rx, pool.clone(), 1 << 20, 1024);
        let mut got = vec![0; 32 * 1024];
        let paused = tokio::time::timeout(Duration::from_millis(200), reader.read_exact(&mut got)).await;
        assert!(paused.is_err(), "no bytes beyond the free allowance while the pool is empty");
        drop(hog);
        tokio::time::timeout(Duration::from_secs(5), reader.read_exact(&mut got)).await.unwrap().unwrap();
    }
}
