#![allow(clippy::unwrap_used)]

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use heliograph_shared::store::{self, ReadingsLog, Store, StoreError, StoreSettings};
use heliograph_shared::{DeviceId, Provider};

use super::disk::AppendFile;
use super::record::tests::record;
use super::*;

/// A real embedded store whose readings cannot be reached while `down` is set: a store outage,
/// on demand.
struct Outage {
    inner: Arc<dyn Store>,
    down: AtomicBool,
}

#[async_trait]
impl ReplayTarget for Outage {
    async fn readings_log(&self, provider: &ProviderSlug) -> Result<Arc<dyn ReadingsLog>, StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("test outage".into()));
        }
        self.inner.readings_log(provider).await
    }
}

/// A disk whose `fail_write`-th write (counting from 1) writes half its bytes and fails, and
/// whose truncations fail while `truncate_fails` is set: a full disk in the middle of an append.
#[derive(Default)]
struct FaultyDisk {
    writes: Arc<AtomicUsize>,
    fail_write: usize,
    truncate_fails: Arc<AtomicBool>,
}

struct FaultyFile {
    file: File,
    writes: Arc<AtomicUsize>,
    fail_write: usize,
    truncate_fails: Arc<AtomicBool>,
}

impl AppendFile for FaultyFile {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        use std::io::Write;
        if self.writes.fetch_add(1, Ordering::SeqCst) + 1 == self.fail_write {
            self.file.write_all(&bytes[..bytes.len() / 2])?;
            return Err(io::Error::from(io::ErrorKind::StorageFull));
        }
        self.file.write_all(bytes)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        if self.truncate_fails.load(Ordering::SeqCst) {
            return Err(io::Error::from(io::ErrorKind::StorageFull));
        }
        self.file.set_len(len)
    }
}

impl Disk for FaultyDisk {
    fn create(&self, path: &Path) -> io::Result<Box<dyn AppendFile>> {
        Ok(Box::new(FaultyFile {
            file: File::options().create_new(true).append(true).open(path)?,
            writes: Arc::clone(&self.writes),
            fail_write: self.fail_write,
            truncate_fails: Arc::clone(&self.truncate_fails),
        }))
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        RealDisk.sync_dir(dir)
    }
}

async fn embedded() -> (tempfile::TempDir, Arc<dyn Store>, ProviderSlug) {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(&StoreSettings::Embedded { data_dir: dir.path().join("data") }).await.unwrap();
    let slug = ProviderSlug::parse("acme").unwrap();
    store.create_provider(&Provider::new(slug.clone(), "Acme")).await.unwrap();
    (dir, store, slug)
}

/// The AC power of every stored reading of a gateway's `inv-1`, oldest first.
async fn stored(store: &Arc<dyn Store>, slug: &ProviderSlug, gateway: &str) -> Vec<f64> {
    let tenant = store.tenant(slug).await.unwrap();
    let now = chrono::Utc::now();
    let range = now - chrono::TimeDelta::days(3650)..now + chrono::TimeDelta::days(3650);
    let gateway = GatewayId::parse(gateway).unwrap();
    let readings =
        tenant.readings(&gateway, &DeviceId::parse("inv-1").unwrap(), range, 10_000).await.unwrap();
    readings.iter().map(|r| r.metrics.get(heliograph_shared::Metric::AcPower).unwrap()).collect()
}

fn batch(gateway: &str, minute: i64) -> WriteBatch {
    record("acme", gateway, minute).batch
}

/// Replays until the spool is empty, within a deadline.
async fn drain(spool: &Arc<Spool>, store: Arc<dyn Store>) {
    let shutdown = CancellationToken::new();
    let replay = tokio::spawn(Arc::clone(spool).replay(store, shutdown.clone()));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !spool.is_empty() {
        assert!(Instant::now() < deadline, "spool not drained");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.cancel();
    replay.await.unwrap();
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).and_then(segment::number).is_some())
        .collect();
    paths.sort();
    paths
}

fn power(minute: i64) -> f64 {
    100.0 + minute as f64
}

#[tokio::test]
async fn spooled_documents_survive_a_restart_and_are_replayed_once_the_store_answers() {
    let (dir, store, slug) = embedded().await;
    let spool_dir = dir.path().join("spool");
    {
        let spool = Spool::open(&spool_dir, 1 << 30).unwrap();
        for minute in 0..50 {
            spool.append(&slug, batch("GW-1", minute)).await.unwrap();
        }
        assert!(spool.holds(&slug, &GatewayId::parse("GW-1").unwrap()));
        assert!(!spool.holds(&slug, &GatewayId::parse("GW-2").unwrap()), "only the gateway spooled");
    } // the process "dies" here, before any replay
    let spool = Arc::new(Spool::open(&spool_dir, 1 << 30).unwrap());
    assert_eq!(spool.pending_records(), 50);
    drain(&spool, Arc::clone(&store)).await;
    assert_eq!(stored(&store, &slug, "GW-1").await, (0..50).map(power).collect::<Vec<_>>());
    assert!(segments(&spool_dir).is_empty(), "replayed segments are deleted");
    assert!(!spool.holds(&slug, &GatewayId::parse("GW-1").unwrap()));
    assert_eq!(spool.depth_bytes(), 0);
}

#[tokio::test]
async fn replay_waits_out_an_outage_without_losing_or_duplicating_anything() {
    let (dir, inner, slug) = embedded().await;
    let store = Arc::new(Outage { inner: Arc::clone(&inner), down: AtomicBool::new(true) });
    let spool = Arc::new(Spool::open(&dir.path().join("spool"), 1 << 30).unwrap());
    for minute in 0..20 {
        spool.append(&slug, batch("GW-1", minute)).await.unwrap();
    }
    // The same documents resent by a gateway that missed the acks: idempotent.
    for minute in 0..5 {
        spool.append(&slug, batch("GW-1", minute)).await.unwrap();
    }
    let shutdown = CancellationToken::new();
    let replay = tokio::spawn(Arc::clone(&spool).replay(Arc::clone(&store), shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(spool.pending_records(), 25, "nothing passes while the store is down");
    store.down.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !spool.is_empty() {
        assert!(Instant::now() < deadline, "spool not drained");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.cancel();
    replay.await.unwrap();
    assert_eq!(stored(&inner, &slug, "GW-1").await, (0..20).map(power).collect::<Vec<_>>());
}

/// The defect this module was rewritten for: ingest killed after acknowledging spooled
/// documents, half a record appended to the last segment (a crash mid-append or a full disk),
/// restarted, one more document. Every acknowledged record must reach the store and the spool
/// must empty, not stall behind the torn tail.
#[tokio::test]
async fn a_torn_tail_left_by_a_crash_is_cut_off_and_every_acknowledged_record_is_replayed() {
    let (dir, store, slug) = embedded().await;
    let spool_dir = dir.path().join("spool");
    {
        let spool = Spool::open(&spool_dir, 1 << 30).unwrap();
        for minute in 0..6 {
            spool.append(&slug, batch("GW-1", minute)).await.unwrap();
        }
    }
    let last = segments(&spool_dir).pop().unwrap();
    let torn = record("acme", "GW-1", 99).encode().unwrap();
    let whole = fs::metadata(&last).unwrap().len();
    {
        use std::io::Write;
        let mut file = File::options().append(true).open(&last).unwrap();
        file.write_all(&torn[..torn.len() / 2]).unwrap();
    }
    let spool = Arc::new(Spool::open(&spool_dir, 1 << 30).unwrap());
    assert_eq!(fs::metadata(&last).unwrap().len(), whole, "the torn tail is cut off on open");
    spool.append(&slug, batch("GW-1", 6)).await.unwrap();
    drain(&spool, Arc::clone(&store)).await;
    assert_eq!(stored(&store, &slug, "GW-1").await, (0..7).map(power).collect::<Vec<_>>());
    assert!(segments(&spool_dir).is_empty());
}

#[tokio::test]
async fn a_failed_append_is_cut_back_so_that_the_next_acknowledged_record_is_intact() {
    let (dir, store, slug) = embedded().await;
    let spool_dir = dir.path().join("spool");
    let disk = Arc::new(FaultyDisk { fail_write: 3, ..FaultyDisk::default() });
    {
        let spool = Spool::open_on(&spool_dir, 1 << 30, disk).unwrap();
        spool.append(&slug, batch("GW-1", 0)).await.unwrap();
        spool.append(&slug, batch("GW-1", 1)).await.unwrap();
        let failed = spool.append(&slug, batch("GW-1", 2)).await;
        assert!(matches!(failed, Err(SpoolError::Io(_))), "{failed:?}");
        spool.append(&slug, batch("GW-1", 3)).await.unwrap();
    }
    // Nothing to cut on the next open: the failed write's half record is gone already.
    let spool = Arc::new(Spool::open(&spool_dir, 1 << 30).unwrap());
    for path in segments(&spool_dir) {
        let text = fs::read(&path).unwrap();
        let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
        assert!(lines.iter().all(|l| record::decode(l).is_some()), "garbage left in {}", path.display());
    }
    drain(&spool, Arc::clone(&store)).await;
    assert_eq!(stored(&store, &slug, "GW-1").await, vec![power(0), power(1), power(3)]);
}

#[tokio::test]
async fn an_append_that_cannot_be_cut_back_moves_on_to_a_new_segment() {
    let (dir, store, slug) = embedded().await;
    let spool_dir = dir.path().join("spool");
    let disk = Arc::new(FaultyDisk { fail_write: 2, ..FaultyDisk::default() });
    disk.truncate_fails.store(true, Ordering::SeqCst);
    let spool = Arc::new(Spool::open_on(&spool_dir, 1 << 30, Arc::clone(&disk) as Arc<dyn Disk>).unwrap());
    spool.append(&slug, batch("GW-1", 0)).await.unwrap();
    assert!(spool.append(&slug, batch("GW-1", 1)).await.is_err());
    spool.append(&slug, batch("GW-1", 2)).await.unwrap();
    assert_eq!(segments(&spool_dir).len(), 2, "the damaged segment is left behind, not appended to");
    drain(&spool, Arc::clone(&store)).await;
    assert_eq!(stored(&store, &slug, "GW-1").await, vec![power(0), power(2)]);
    assert!(segments(&spool_dir).is_empty());
}

#[tokio::test]
async fn a_record_the_store_refuses_for_good_is_set_aside_and_does_not_block_the_rest() {
    let (dir, store, slug) = embedded().await;
    let spool_dir = dir.path().join("spool");
    let gone = ProviderSlug::parse("gone").unwrap();
    let spool = Arc::new(Spool::open(&spool_dir, 1 << 30).unwrap());
    spool.append(&slug, batch("GW-1", 0)).await.unwrap();
    spool.append(&gone, batch("GW-9", 1)).await.unwrap();
    spool.append(&slug, batch("GW-1", 2)).await.unwrap();
    drain(&spool, Arc::clone(&store)).await;
    assert_eq!(stored(&store, &slug, "GW-1").await, vec![power(0), power(2)]);
    let letters = read_dead_letters(&spool.dead_letters_path()).unwrap();
    assert_eq!(letters.len(), 1);
    assert!(letters[0].reason.contains("gone"), "{}", letters[0].reason);
    assert!(spool.depth_bytes() > 0, "dead letters count against the spool's size");
    drop(spool);

    // Once the provider exists again, the operator requeues the letter and it is stored.
    store.create_provider(&Provider::new(gone.clone(), "Gone")).await.unwrap();
    assert_eq!(requeue_dead_letters(&spool_dir).unwrap(), (1, 0));
    let spool = Arc::new(Spool::open(&spool_dir, 1 << 30).unwrap());
    assert_eq!(spool.pending_records(), 1);
    drain(&spool, Arc::clone(&store)).await;
    assert_eq!(stored(&store, &gone, "GW-9").await, vec![power(1)]);
}

#[tokio::test]
async fn a_damaged_line_between_records_is_set_aside_and_the_records_around_it_stored() {
    let (dir, store, slug) = embedded().await;
    let spool_dir = dir.path().join("spool");
    fs::create_dir_all(&spool_dir).unwrap();
    let mut bytes = record("acme", "GW-1", 0).encode().unwrap();
    bytes.extend_from_slice(b"0badc0de 3 {x}\n");
    bytes.extend(record("acme", "GW-1", 1).encode().unwrap());
    fs::write(segment::path(&spool_dir, 1), bytes).unwrap();
    let spool = Arc::new(Spool::open(&spool_dir, 1 << 30).unwrap());
    drain(&spool, Arc::clone(&store)).await;
    assert_eq!(stored(&store, &slug, "GW-1").await, vec![power(0), power(1)]);
    let letters = read_dead_letters(&spool.dead_letters_path()).unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].line, "0badc0de 3 {x}");
}

#[tokio::test]
async fn a_full_spool_refuses_and_a_second_process_is_kept_out() {
    let (dir, _store, slug) = embedded().await;
    let spool_dir = dir.path().join("spool");
    let spool = Spool::open(&spool_dir, 2_000).unwrap();
    let mut appended = 0;
    while spool.append(&slug, batch("GW-1", appended)).await.is_ok() {
        appended += 1;
    }
    assert!(appended > 0);
    assert!(matches!(spool.append(&slug, batch("GW-1", 0)).await, Err(SpoolError::Full(2_000))));
    assert!(spool.depth_bytes() <= 2_000);
    assert!(matches!(Spool::open(&spool_dir, 2_000), Err(SpoolError::Locked(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_are_each_durable_and_all_replayed() {
    let (dir, store, slug) = embedded().await;
    let spool = Arc::new(Spool::open(&dir.path().join("spool"), 1 << 30).unwrap());
    let mut writers = Vec::new();
    for gateway in 0..16 {
        let (spool, slug) = (Arc::clone(&spool), slug.clone());
        writers.push(tokio::spawn(async move {
            for minute in 0..25 {
                spool.append(&slug, batch(&format!("GW-{gateway}"), minute)).await.unwrap();
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(spool.pending_records(), 16 * 25);
    drain(&spool, Arc::clone(&store)).await;
    for gateway in 0..16 {
        assert_eq!(
            stored(&store, &slug, &format!("GW-{gateway}")).await,
            (0..25).map(power).collect::<Vec<_>>()
        );
    }
}
