//! The replay: reads spooled records oldest first, in chunks, and stores them. Records of one
//! gateway are stored in the order they were spooled; different gateways are stored
//! concurrently, which is what lets a backlog drain while new documents keep arriving. A record
//! the store refuses for good, and a damaged line, go to the dead letters instead of blocking the
//! records behind them; a store that is down is waited for.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use heliograph_shared::ProviderSlug;
use heliograph_shared::store::{ReadingsLog, StoreError, WriteBatch};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::appender::Request;
use super::record::{self, OrderKey, Record};
use super::{Inner, ReplayTarget, segment};

/// Most records read and stored as one chunk.
const CHUNK_RECORDS: usize = 4096;
/// Most bytes read as one chunk (a single larger record is still read whole).
const CHUNK_BYTES: u64 = 16 * 1024 * 1024;
/// Most readings of one gateway's consecutive records stored as one write.
const MERGED_READINGS: usize = 5_000;
/// Gateways stored at once.
const CONCURRENCY: usize = 32;
/// Attempts at a record the store fails with an error that is not "unavailable" before it is
/// set aside: such errors may still pass (a node restarting), but must not block for ever.
const BACKEND_ATTEMPTS: u32 = 5;
/// The longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One line of a chunk.
enum Entry {
    /// An intact record, and its line as on disk.
    Record(Box<Record>, Vec<u8>),
    /// A line that is not an intact record.
    Damaged(Vec<u8>),
}

/// A record as read, with its line as on disk (for the dead letters).
type Spooled = (Box<Record>, Vec<u8>);

/// Stores what the spool holds until `shutdown`.
pub(super) async fn run(
    inner: Arc<Inner>,
    appender: mpsc::Sender<Request>,
    store: Arc<dyn ReplayTarget>,
    shutdown: CancellationToken,
) {
    let mut cursor: Option<(u64, u64)> = None;
    let mut retire_asked: Option<(u64, u64)> = None;
    let mut backoff = Backoff::default();
    loop {
        let oldest = {
            let state = inner.lock();
            state.segments.iter().next().map(|(&n, &committed)| (n, committed, state.live == Some(n)))
        };
        let Some((segment, committed, live)) = oldest else {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = inner.wake.notified() => continue,
            }
        };
        let offset = match cursor {
            Some((n, offset)) if n == segment => offset,
            _ => 0,
        };
        if offset < committed {
            let path = segment::path(&inner.dir, segment);
            let read = tokio::task::spawn_blocking(move || read_chunk(&path, offset, committed)).await;
            let (entries, next) = match read {
                Ok(Ok(chunk)) => chunk,
                Ok(Err(e)) => {
                    warn!(segment, offset, error = %e, "cannot read the spool; retrying");
                    if !backoff.wait(&shutdown).await {
                        return;
                    }
                    continue;
                }
                Err(e) => {
                    warn!(error = %e, "spool read task failed; retrying");
                    continue;
                }
            };
            backoff.reset();
            if !store_chunk(&inner, store.as_ref(), entries, &shutdown).await {
                return;
            }
            cursor = Some((segment, next));
            continue;
        }
        if !live {
            let path = segment::path(&inner.dir, segment);
            match tokio::task::spawn_blocking(move || super::disk::remove(&path)).await {
                Ok(Ok(())) => {
                    let mut state = inner.lock();
                    state.segments.remove(&segment);
                    state.bytes = state.bytes.saturating_sub(committed);
                    crate::metrics::spool_depth(state.bytes);
                    info!(segment, bytes = committed, "spool segment replayed into the store");
                }
                Ok(Err(e)) => {
                    warn!(segment, error = %e, "cannot delete a replayed spool segment; retrying");
                    if !backoff.wait(&shutdown).await {
                        return;
                    }
                }
                Err(e) => warn!(error = %e, "spool delete task failed; retrying"),
            }
            cursor = None;
            continue;
        }
        // All of the live segment is stored: ask the appender to close it so that it can go.
        if retire_asked != Some((segment, offset)) {
            retire_asked = Some((segment, offset));
            if appender.send(Request::Retire { segment, replayed: offset }).await.is_err() {
                return;
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = inner.wake.notified() => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Reads the lines of a segment from `offset` up to `end` (its acknowledged bytes), at most a
/// chunk's worth; returns them and the offset after the last one read. Blocking.
fn read_chunk(path: &std::path::Path, offset: u64, end: u64) -> std::io::Result<(Vec<Entry>, u64)> {
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut reader = BufReader::with_capacity(1024 * 1024, file.take(end - offset));
    let mut entries = Vec::new();
    let mut position = offset;
    while entries.len() < CHUNK_RECORDS && position - offset < CHUNK_BYTES {
        let mut line = Vec::new();
        let read = reader.read_until(b'\n', &mut line)?;
        if read == 0 {
            break;
        }
        position += read as u64;
        let content = line.strip_suffix(b"\n").unwrap_or(&line);
        match record::decode(content).or_else(|| record::salvage(content)) {
            Some(record) => {
                line.truncate(content.len());
                entries.push(Entry::Record(Box::new(record), line));
            }
            None => {
                line.truncate(content.len());
                entries.push(Entry::Damaged(line));
            }
        }
    }
    Ok((entries, position))
}

/// Stores a chunk: each gateway's records in order, gateways concurrently. False when
/// interrupted by shutdown (the chunk is stored again by the next process: writes are
/// idempotent).
async fn store_chunk(
    inner: &Arc<Inner>,
    store: &dyn ReplayTarget,
    entries: Vec<Entry>,
    shutdown: &CancellationToken,
) -> bool {
    let mut groups: Vec<(OrderKey, Vec<Spooled>)> = Vec::new();
    let mut index: HashMap<OrderKey, usize> = HashMap::new();
    for entry in entries {
        match entry {
            Entry::Record(record, line) => {
                let key = record.order_key();
                let at = *index.entry(key.clone()).or_insert_with(|| {
                    groups.push((key, Vec::new()));
                    groups.len() - 1
                });
                groups[at].1.push((record, line));
            }
            Entry::Damaged(line) => {
                if !set_aside(inner, "damaged spool record", &line, shutdown).await {
                    return false;
                }
            }
        }
    }
    // Providers first, one at a time: a chunk usually names few of them.
    let mut tenants: HashMap<ProviderSlug, Option<Arc<dyn ReadingsLog>>> = HashMap::new();
    for (key, _) in &groups {
        if !tenants.contains_key(&key.0) {
            let Some(tenant) = tenant_for(store, &key.0, shutdown).await else {
                return false;
            };
            tenants.insert(key.0.clone(), tenant);
        }
    }
    let outcomes: Vec<Option<()>> = futures::stream::iter(groups)
        .map(|(key, records)| {
            let tenant = tenants.get(&key.0).cloned().flatten();
            async move { store_group(inner, tenant.as_deref(), &key, records, shutdown).await }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    outcomes.iter().all(Option::is_some)
}

/// The provider's store; `Some(None)` when the provider does not exist (its records are then
/// set aside); `None` when interrupted.
async fn tenant_for(
    store: &dyn ReplayTarget,
    provider: &ProviderSlug,
    shutdown: &CancellationToken,
) -> Option<Option<Arc<dyn ReadingsLog>>> {
    let mut backoff = Backoff::default();
    loop {
        match store.readings_log(provider).await {
            Ok(tenant) => return Some(Some(tenant)),
            Err(e) if e.is_unavailable() => {
                warn!(%provider, error = %e, "spool replay waits for the store");
                if !backoff.wait(shutdown).await {
                    return None;
                }
            }
            Err(e) => {
                warn!(%provider, error = %e, "the spooled records of this provider cannot be stored");
                return Some(None);
            }
        }
    }
}

/// Stores one gateway's records in order: consecutive records merged into one write of up to
/// [`MERGED_READINGS`] readings ([`WriteBatch::absorb`]: the same outcome as one by one, with
/// far fewer writes). A merged write the store refuses is tried again record by record, so that
/// only the record it refuses is set aside. `None` when interrupted.
async fn store_group(
    inner: &Arc<Inner>,
    tenant: Option<&dyn ReadingsLog>,
    key: &OrderKey,
    records: Vec<Spooled>,
    shutdown: &CancellationToken,
) -> Option<()> {
    let mut records = records.into_iter().peekable();
    while let Some(first) = records.next() {
        let mut run = vec![first];
        let mut readings = run[0].0.batch.readings.len();
        while let Some(next) = records.next_if(|(r, _)| readings + r.batch.readings.len() <= MERGED_READINGS)
        {
            readings += next.0.batch.readings.len();
            run.push(next);
        }
        if let (Some(tenant), true) = (tenant, run.len() > 1) {
            let mut merged = run[0].0.batch.clone();
            for (record, _) in &run[1..] {
                merged.absorb(record.batch.clone());
            }
            if store_batch(tenant, &key.0, &merged, shutdown).await?.is_ok() {
                crate::metrics::spool_replayed(run.len() as u64);
                let mut state = inner.lock();
                for _ in &run {
                    state.remove_pending(key);
                }
                continue;
            }
        }
        for (record, line) in run {
            let outcome = match tenant {
                Some(tenant) => store_batch(tenant, &key.0, &record.batch, shutdown).await?,
                None => Err(StoreError::UnknownProvider(key.0.clone())),
            };
            match outcome {
                Ok(()) => crate::metrics::spool_replayed(1),
                Err(e) => {
                    warn!(provider = %key.0, gateway = %key.1, error = %e, "the store refuses a spooled record; setting it aside");
                    if !set_aside(inner, &e.to_string(), &line, shutdown).await {
                        return None;
                    }
                }
            }
            inner.lock().remove_pending(key);
        }
    }
    Some(())
}

/// Writes one batch, waiting out an unavailable store. `Some(Err)` when the store refuses it for
/// good; `None` when interrupted.
async fn store_batch(
    tenant: &dyn ReadingsLog,
    provider: &ProviderSlug,
    batch: &WriteBatch,
    shutdown: &CancellationToken,
) -> Option<Result<(), StoreError>> {
    let mut backoff = Backoff::default();
    let mut failures = 0;
    loop {
        match tenant.write_batch(batch.clone()).await {
            Ok(()) => return Some(Ok(())),
            Err(e) if e.is_unavailable() => {
                warn!(%provider, error = %e, "spool replay waits for the store");
            }
            Err(e @ StoreError::Backend(_)) => {
                failures += 1;
                if failures >= BACKEND_ATTEMPTS {
                    return Some(Err(e));
                }
                warn!(%provider, error = %e, failures, "the store failed a spooled record; retrying");
            }
            Err(e) => return Some(Err(e)),
        }
        if !backoff.wait(shutdown).await {
            return None;
        }
    }
}

/// Writes a line to the dead letters, retrying until it is durable: it must not be lost, and
/// the replay must not pass it. False when interrupted.
async fn set_aside(inner: &Arc<Inner>, reason: &str, line: &[u8], shutdown: &CancellationToken) -> bool {
    let mut backoff = Backoff::default();
    loop {
        let (writer, why, bytes) = (Arc::clone(inner), reason.to_owned(), line.to_vec());
        let written = tokio::task::spawn_blocking(move || writer.dead_letters.append(&why, &bytes))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        match written {
            Ok(bytes) => {
                let mut state = inner.lock();
                state.bytes += bytes;
                crate::metrics::spool_depth(state.bytes);
                crate::metrics::spool_dead_letter();
                warn!(reason, bytes = line.len(), "spooled record set aside in the dead letters");
                return true;
            }
            Err(e) => {
                warn!(error = %e, "cannot write the spool's dead letters; retrying");
                if !backoff.wait(shutdown).await {
                    return false;
                }
            }
        }
    }
}

/// Doubling waits between attempts, up to [`MAX_BACKOFF`].
struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Self(Duration::from_millis(100))
    }
}

impl Backoff {
    fn reset(&mut self) {
        *self = Self::default();
    }

    /// Waits the current delay and doubles it; false when shutdown came first.
    async fn wait(&mut self, shutdown: &CancellationToken) -> bool {
        let delay = self.0;
        self.0 = (self.0 * 2).min(MAX_BACKOFF);
        tokio::select! {
            () = shutdown.cancelled() => false,
            () = tokio::time::sleep(delay) => true,
        }
    }
}
