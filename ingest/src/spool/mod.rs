//! The durable spool: when the store cannot take a document (Cassandra down or too slow), the
//! document's writes are appended here, checksummed and synced, and only then acknowledged; the
//! replay stores them once the store answers again. When the spool is full, documents are refused
//! with `unavailable`, so gateways keep their data.
//!
//! On disk: segment files `spool-<n>.log` (see [`record`] for the line format), the dead letters
//! (records the store refuses for good, see [`dead_letters`]) and a lock file that keeps a second
//! process out. A segment is deleted once every record in it was stored; a crash during replay
//! stores some records again, which is harmless because every write is idempotent.
//!
//! Order: a gateway's records are stored in the order they were spooled, and while any of them
//! waits, that gateway's new documents queue behind it ([`Spool::holds`]); other gateways' go
//! straight to the store.

mod appender;
mod dead_letters;
mod disk;
mod record;
mod replay;
mod segment;

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use heliograph_shared::store::{ProviderRegistry, ReadingsLog, StoreError, WriteBatch};
use heliograph_shared::{GatewayId, ProviderSlug};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::info;

pub use dead_letters::{DeadLetter, FILE_NAME as DEAD_LETTERS_FILE, read as read_dead_letters};

use self::disk::{Disk, RealDisk};
use self::record::{OrderKey, Record};

/// Segments roll over at this size.
const SEGMENT_BYTES: u64 = 16 * 1024 * 1024;
/// Appends waiting for the appender thread; each caller waits for its own answer.
const APPEND_QUEUE: usize = 1024;
/// The lock file's name inside the spool directory.
const LOCK_FILE: &str = "spool.lock";

/// Why the spool could not take a document.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The configured size is reached.
    #[error("spool is full ({0} bytes)")]
    Full(u64),
    /// The disk failed.
    #[error("spool I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A record could not be encoded.
    #[error("spool encoding: {0}")]
    Encode(#[from] serde_json::Error),
    /// Another process holds the spool directory.
    #[error("spool directory {0} is in use by another process; give each ingest process its own")]
    Locked(PathBuf),
    /// The appender thread is gone (the process is stopping).
    #[error("spool is closed")]
    Closed,
}

/// What the appender and the replay share.
struct Inner {
    dir: PathBuf,
    max_bytes: u64,
    state: Mutex<State>,
    /// Tells the replay that something changed (an append, a closed segment).
    wake: Notify,
    dead_letters: dead_letters::DeadLetters,
}

#[derive(Default)]
struct State {
    /// Segments on disk, oldest first, with their acknowledged length: the replay reads no
    /// further, whatever else the file holds.
    segments: BTreeMap<u64, u64>,
    /// The segment being appended to.
    live: Option<u64>,
    /// The next segment number.
    next_segment: u64,
    /// Bytes held: acknowledged segment bytes and dead letters.
    bytes: u64,
    /// Records waiting for replay, by provider and gateway.
    pending: HashMap<ProviderSlug, HashMap<GatewayId, u32>>,
}

impl State {
    fn add_pending(&mut self, (provider, gateway): &OrderKey) {
        *self.pending.entry(provider.clone()).or_default().entry(gateway.clone()).or_default() += 1;
    }

    fn remove_pending(&mut self, (provider, gateway): &OrderKey) {
        let Some(gateways) = self.pending.get_mut(provider) else { return };
        if let Some(count) = gateways.get_mut(gateway) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                gateways.remove(gateway);
            }
        }
        if gateways.is_empty() {
            self.pending.remove(provider);
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update of the state is a few assignments that cannot panic half-way.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A spool directory, open for appending and replaying.
pub struct Spool {
    inner: Arc<Inner>,
    appender: mpsc::Sender<appender::Request>,
    /// Held for as long as the spool is open: an exclusive lock on the directory.
    _lock: File,
}

impl Spool {
    /// Opens (creating) the spool in `dir`, keeping any other process out of it. What an earlier
    /// process left there is checked (a torn tail is cut off) and replayed once [`Self::replay`]
    /// runs. Blocking: reads every segment.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Self, SpoolError> {
        Self::open_on(dir, max_bytes, Arc::new(RealDisk))
    }

    fn open_on(dir: &Path, max_bytes: u64, disk: Arc<dyn Disk>) -> Result<Self, SpoolError> {
        fs::create_dir_all(dir)?;
        let lock = File::options().create(true).truncate(false).write(true).open(dir.join(LOCK_FILE))?;
        if lock.try_lock().is_err() {
            return Err(SpoolError::Locked(dir.to_path_buf()));
        }
        let mut numbers: Vec<u64> = Vec::new();
        for entry in fs::read_dir(dir)? {
            if let Some(n) = entry?.file_name().to_str().and_then(segment::number) {
                numbers.push(n);
            }
        }
        numbers.sort_unstable();
        let dead_letters = dead_letters::DeadLetters::new(dir);
        let mut state = State {
            next_segment: numbers.last().map_or(1, |n| n + 1),
            bytes: dead_letters.len()?,
            ..State::default()
        };
        let mut cut = 0;
        for n in numbers {
            let checked = segment::check(dir, n)?;
            cut += checked.cut;
            for key in &checked.keys {
                state.add_pending(key);
            }
            state.segments.insert(n, checked.len);
            state.bytes += checked.len;
        }
        if !state.segments.is_empty() {
            info!(
                segments = state.segments.len(),
                bytes = state.bytes,
                cut,
                "spool holds documents from before; replaying them"
            );
        }
        // What a previous process left is waiting too: the gauge must say so from the start.
        crate::metrics::spool_depth(state.bytes);
        let inner = Arc::new(Inner {
            dir: dir.to_path_buf(),
            max_bytes,
            state: Mutex::new(state),
            wake: Notify::new(),
            dead_letters,
        });
        let (appender, requests) = mpsc::channel(APPEND_QUEUE);
        let thread_inner = Arc::clone(&inner);
        std::thread::Builder::new()
            .name("spool-appender".into())
            .spawn(move || appender::run(thread_inner, disk, requests))?;
        Ok(Self { inner, appender, _lock: lock })
    }

    /// True when nothing waits for replay.
    pub fn is_empty(&self) -> bool {
        self.inner.lock().segments.is_empty()
    }

    /// True while records of this gateway wait for replay: its next document must queue behind
    /// them, so that the store sees its documents in order.
    pub fn holds(&self, provider: &ProviderSlug, gateway: &GatewayId) -> bool {
        self.inner.lock().pending.get(provider).is_some_and(|gateways| gateways.contains_key(gateway))
    }

    /// Bytes held: records waiting for replay and dead letters.
    pub fn depth_bytes(&self) -> u64 {
        self.inner.lock().bytes
    }

    /// Records waiting for replay.
    pub fn pending_records(&self) -> u64 {
        let state = self.inner.lock();
        state.pending.values().flat_map(HashMap::values).map(|&n| u64::from(n)).sum()
    }

    /// The dead-letter file (it may not exist).
    pub fn dead_letters_path(&self) -> PathBuf {
        self.inner.dir.join(DEAD_LETTERS_FILE)
    }

    /// Appends a document's writes and syncs them to disk; returns once they are durable.
    pub async fn append(&self, provider: &ProviderSlug, batch: WriteBatch) -> Result<(), SpoolError> {
        let record = Record { provider: provider.clone(), batch };
        let line = record.encode()?;
        let (reply, answer) = oneshot::channel();
        let request = appender::Request::Append { line, key: record.order_key(), reply };
        self.appender.send(request).await.map_err(|_| SpoolError::Closed)?;
        answer.await.map_err(|_| SpoolError::Closed)?
    }

    /// Replays spooled documents into `store` until cancelled: each gateway's in order, gateways
    /// concurrently; an unavailable store is waited for; a record it refuses for good is set
    /// aside in the dead letters.
    pub async fn replay<T: ReplayTarget + ?Sized + 'static>(
        self: Arc<Self>,
        store: Arc<T>,
        shutdown: CancellationToken,
    ) {
        let target: Arc<dyn ReplayTarget> = Arc::new(Target(store));
        replay::run(Arc::clone(&self.inner), self.appender.clone(), target, shutdown).await;
    }
}

/// Where the replay stores what the spool holds: each provider's readings log. Every store is
/// one; a test stands in a few lines that fail as it needs.
#[async_trait]
pub trait ReplayTarget: Send + Sync {
    /// The readings log of `provider`.
    async fn readings_log(&self, provider: &ProviderSlug) -> Result<Arc<dyn ReadingsLog>, StoreError>;
}

#[async_trait]
impl<T: ProviderRegistry + ?Sized> ReplayTarget for T {
    async fn readings_log(&self, provider: &ProviderSlug) -> Result<Arc<dyn ReadingsLog>, StoreError> {
        let tenant = self.tenant(provider).await?;
        Ok(tenant)
    }
}

/// A target behind any pointer, as one trait object.
struct Target<T: ?Sized>(Arc<T>);

#[async_trait]
impl<T: ReplayTarget + ?Sized> ReplayTarget for Target<T> {
    async fn readings_log(&self, provider: &ProviderSlug) -> Result<Arc<dyn ReadingsLog>, StoreError> {
        self.0.readings_log(provider).await
    }
}

/// Moves the records of a dead-letter file back into the spool in `dir` (as a new segment, so
/// that the next ingest process stores them), and the letters it cannot requeue (damaged lines)
/// into `dead-letters.kept.log`. Must run while no ingest process uses the spool. Returns the
/// records requeued and the letters kept.
pub fn requeue_dead_letters(dir: &Path) -> Result<(usize, usize), SpoolError> {
    let lock = File::options().create(true).truncate(false).write(true).open(dir.join(LOCK_FILE))?;
    if lock.try_lock().is_err() {
        return Err(SpoolError::Locked(dir.to_path_buf()));
    }
    let path = dir.join(DEAD_LETTERS_FILE);
    if !path.exists() {
        return Ok((0, 0));
    }
    let letters = read_dead_letters(&path)?;
    let (mut records, mut kept) = (Vec::new(), Vec::new());
    for letter in letters {
        match record::decode(letter.line.as_bytes()) {
            Some(_) => {
                records.extend_from_slice(letter.line.as_bytes());
                records.push(b'\n');
            }
            None => kept.push(letter),
        }
    }
    let mut next = 1;
    for entry in fs::read_dir(dir)? {
        if let Some(n) = entry?.file_name().to_str().and_then(segment::number) {
            next = next.max(n + 1);
        }
    }
    let requeued = records.iter().filter(|&&b| b == b'\n').count();
    if requeued > 0 {
        let segment = segment::path(dir, next);
        let tmp = dir.join("requeue.tmp");
        fs::write(&tmp, &records)?;
        File::open(&tmp)?.sync_all()?;
        fs::rename(&tmp, &segment)?;
    }
    let mut rest = Vec::new();
    for letter in &kept {
        rest.extend(serde_json::to_vec(letter)?);
        rest.push(b'\n');
    }
    if !rest.is_empty() {
        let kept_path = dir.join("dead-letters.kept.log");
        let mut file = File::options().create(true).append(true).open(kept_path)?;
        std::io::Write::write_all(&mut file, &rest)?;
        file.sync_all()?;
    }
    fs::remove_file(&path)?;
    File::open(dir)?.sync_all()?;
    Ok((requeued, kept.len()))
}

#[cfg(test)]
mod tests;
