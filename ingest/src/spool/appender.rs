//! The one thread that appends to the spool. Appends that arrive while it is writing are
//! written together and made durable with one sync (group commit), each answered only after
//! that sync. A failed write or sync cuts the segment back to its last acknowledged byte, or,
//! when even that fails, abandons the segment for a new one, so that no acknowledged record is
//! ever written after garbage. Running on its own thread keeps file I/O off the async workers.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tracing::{error, warn};

use super::disk::{AppendFile, Disk};
use super::record::OrderKey;
use super::{Inner, SEGMENT_BYTES, SpoolError, segment};

/// Most appends written with one sync.
const GROUP_LIMIT: usize = 512;

/// What the appender is asked to do.
pub(super) enum Request {
    /// Append a record's line and answer once it is durable.
    Append { line: Vec<u8>, key: OrderKey, reply: oneshot::Sender<Result<(), SpoolError>> },
    /// The replay has stored segment `segment` up to `replayed` bytes: if that is all of it and
    /// it is the segment being appended to, close and delete it (later appends start a new one).
    Retire { segment: u64, replayed: u64 },
}

/// The segment being appended to.
struct Live {
    number: u64,
    file: Box<dyn AppendFile>,
    /// Bytes acknowledged (and on disk) in it.
    len: u64,
}

/// Runs the appender until every sender is gone.
pub(super) fn run(inner: Arc<Inner>, disk: Arc<dyn Disk>, mut requests: mpsc::Receiver<Request>) {
    let mut live: Option<Live> = None;
    let mut group = Vec::new();
    while let Some(first) = requests.blocking_recv() {
        let mut next = Some(first);
        while let Some(request) = next.take() {
            match request {
                Request::Append { line, key, reply } => group.push((line, key, reply)),
                Request::Retire { segment, replayed } => {
                    append_group(&inner, disk.as_ref(), &mut live, &mut group);
                    retire(&inner, &mut live, segment, replayed);
                }
            }
            if group.len() < GROUP_LIMIT {
                next = requests.try_recv().ok();
            }
        }
        append_group(&inner, disk.as_ref(), &mut live, &mut group);
    }
}

type Pending = (Vec<u8>, OrderKey, oneshot::Sender<Result<(), SpoolError>>);

/// Appends what fits of `group` with one write and one sync, and answers every request in it.
fn append_group(inner: &Inner, disk: &dyn Disk, live: &mut Option<Live>, group: &mut Vec<Pending>) {
    if group.is_empty() {
        return;
    }
    let mut used = inner.lock().bytes;
    let mut accepted = Vec::with_capacity(group.len());
    let mut buffer = Vec::new();
    for (line, key, reply) in group.drain(..) {
        if used + line.len() as u64 > inner.max_bytes {
            let _ = reply.send(Err(SpoolError::Full(inner.max_bytes)));
            continue;
        }
        used += line.len() as u64;
        buffer.extend_from_slice(&line);
        accepted.push((key, reply));
    }
    if accepted.is_empty() {
        return;
    }
    let outcome = write_durably(inner, disk, live, &buffer);
    match outcome {
        Ok(number) => {
            {
                let mut state = inner.lock();
                let committed = state.segments.entry(number).or_insert(0);
                *committed += buffer.len() as u64;
                state.bytes += buffer.len() as u64;
                for (key, _) in &accepted {
                    state.add_pending(key);
                }
                crate::metrics::spool_depth(state.bytes);
            }
            inner.wake.notify_one();
            for (_, reply) in accepted {
                let _ = reply.send(Ok(()));
            }
        }
        Err(e) => {
            error!(error = %e, records = accepted.len(), "spool append failed; refusing the documents");
            for (_, reply) in accepted {
                let _ = reply.send(Err(SpoolError::Io(std::io::Error::new(e.kind(), e.to_string()))));
            }
        }
    }
}

/// Writes `bytes` at the end of the live segment (starting one when needed) and syncs them;
/// returns the segment's number. On failure nothing of `bytes` stays in a segment that will be
/// appended to again.
fn write_durably(
    inner: &Inner,
    disk: &dyn Disk,
    live: &mut Option<Live>,
    bytes: &[u8],
) -> std::io::Result<u64> {
    if live.as_ref().is_some_and(|l| l.len >= SEGMENT_BYTES) {
        close_live(inner, live);
    }
    if live.is_none() {
        *live = Some(start_segment(inner, disk)?);
    }
    let Some(segment) = live.as_mut() else {
        return Err(std::io::Error::other("no live spool segment"));
    };
    match segment.file.write_all(bytes).and_then(|()| segment.file.sync()) {
        Ok(()) => {
            segment.len += bytes.len() as u64;
            Ok(segment.number)
        }
        Err(e) => {
            // After a failed sync the kernel may have dropped the pages it could not write, so the
            // file's state is unknown: cut it back to what was acknowledged before; if that fails
            // too, stop appending to it (the replay reads only its acknowledged bytes).
            if let Err(cut) = segment.file.truncate(segment.len) {
                warn!(segment = segment.number, error = %cut, "cannot cut a failed append back; starting a new segment");
                close_live(inner, live);
            }
            Err(e)
        }
    }
}

fn start_segment(inner: &Inner, disk: &dyn Disk) -> std::io::Result<Live> {
    let number = {
        // Numbers are never reused, not even that of a file whose creation failed halfway.
        let mut state = inner.lock();
        let number = state.next_segment;
        state.next_segment += 1;
        number
    };
    let file = disk.create(&segment::path(&inner.dir, number))?;
    // The new file's name must survive a crash too, before anything in it is acknowledged.
    disk.sync_dir(&inner.dir)?;
    let mut state = inner.lock();
    state.segments.insert(number, 0);
    state.live = Some(number);
    Ok(Live { number, file, len: 0 })
}

/// Stops appending to the live segment; the replay deletes it once it has stored all of it.
fn close_live(inner: &Inner, live: &mut Option<Live>) {
    *live = None;
    inner.lock().live = None;
}

/// Closes the live segment when the replay has stored all of it, so that the replay can delete
/// it; later appends start a new one.
fn retire(inner: &Inner, live: &mut Option<Live>, segment: u64, replayed: u64) {
    if live.as_ref().is_some_and(|l| l.number == segment && l.len == replayed) {
        close_live(inner, live);
    }
    // Either way the replay has something to do: delete it, or read what was appended since.
    inner.wake.notify_one();
}
