//! Segment files: their names, and the check each one gets when a process opens the spool. A
//! segment left by an earlier process may end in half a record (a crash or a full disk in the
//! middle of an append); that tail was never acknowledged, so it is cut off, and everything
//! before it is replayed.

use std::io;
use std::path::{Path, PathBuf};

use tracing::warn;

use super::disk;
use super::record::{self, OrderKey};

/// The file name of segment `n`.
pub(super) fn path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("spool-{n:012}.log"))
}

/// The segment number a file name stands for, if it is a segment.
pub(super) fn number(file_name: &str) -> Option<u64> {
    file_name.strip_prefix("spool-")?.strip_suffix(".log")?.parse().ok()
}

/// What the check of one segment found.
#[derive(Debug)]
pub(super) struct Checked {
    /// Bytes of whole records (or of damaged lines followed by whole records) kept.
    pub(super) len: u64,
    /// Bytes cut off the end.
    pub(super) cut: u64,
    /// The order key of every intact record kept, in order.
    pub(super) keys: Vec<OrderKey>,
}

/// Checks segment `n`: finds the end of its last intact record and cuts off what follows it.
/// A damaged line between intact records is kept (the replay sets it aside with a reason); only
/// the tail is cut, since nothing after the last intact record can have been acknowledged.
pub(super) fn check(dir: &Path, n: u64) -> io::Result<Checked> {
    let path = path(dir, n);
    let bytes = std::fs::read(&path)?;
    let mut keys = Vec::new();
    let mut len = 0;
    let mut at = 0;
    while let Some(newline) = bytes[at..].iter().position(|&b| b == b'\n') {
        let line = &bytes[at..at + newline];
        at += newline + 1;
        if let Some(record) = record::decode(line).or_else(|| record::salvage(line)) {
            keys.push(record.order_key());
            len = at as u64;
        }
    }
    let cut = bytes.len() as u64 - len;
    if cut > 0 {
        warn!(
            segment = %path.display(),
            offset = len,
            bytes = cut,
            "cutting off a torn or corrupt spool tail (it was never acknowledged)"
        );
        disk::truncate_closed(&path, len)?;
        crate::metrics::spool_tail_cut(cut);
    }
    Ok(Checked { len, cut, keys })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Write;

    use super::super::record::tests::record;
    use super::*;

    fn write_segment(dir: &Path, n: u64, bytes: &[u8]) {
        std::fs::File::create(path(dir, n)).unwrap().write_all(bytes).unwrap();
    }

    #[test]
    fn an_unterminated_tail_is_cut_off_and_the_records_before_it_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = Vec::new();
        for minute in 0..3 {
            bytes.extend(record("acme", "GW-1", minute).encode().unwrap());
        }
        let whole = bytes.len() as u64;
        let torn = record("acme", "GW-1", 9).encode().unwrap();
        bytes.extend_from_slice(&torn[..torn.len() / 2]);
        write_segment(dir.path(), 1, &bytes);

        let checked = check(dir.path(), 1).unwrap();
        assert_eq!((checked.len, checked.keys.len()), (whole, 3));
        assert_eq!(checked.cut, (torn.len() / 2) as u64);
        assert_eq!(std::fs::metadata(path(dir.path(), 1)).unwrap().len(), whole, "the file is cut");
    }

    #[test]
    fn a_corrupt_line_between_records_is_kept_for_the_replay_and_a_corrupt_last_line_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = record("acme", "GW-1", 0).encode().unwrap();
        bytes.extend_from_slice(b"deadbeef 5 {oops\n");
        bytes.extend(record("acme", "GW-1", 1).encode().unwrap());
        let kept = bytes.len() as u64;
        bytes.extend_from_slice(b"not a record either\n");
        write_segment(dir.path(), 7, &bytes);

        let checked = check(dir.path(), 7).unwrap();
        assert_eq!((checked.len, checked.keys.len()), (kept, 2));
    }

    #[test]
    fn segment_names_round_trip_and_other_files_are_not_segments() {
        let dir = Path::new("/spool");
        let name = path(dir, 42);
        assert_eq!(number(name.file_name().unwrap().to_str().unwrap()), Some(42));
        assert_eq!(number("dead-letters.log"), None);
        assert_eq!(number("spool-x.log"), None);
    }
}
