//! The durable spool: when the store cannot take a document (Cassandra down or too slow), the
//! document's writes are appended here, checksummed and fsynced, and only then acknowledged; a
//! replayer writes them to the store in arrival order once it answers again. When the spool is
//! full, documents are refused with `unavailable`, so gateways keep their data.
//!
//! On disk: segment files `spool-<n>.log` in one directory, each a sequence of records
//! `<crc32 hex> <length> <json>\n`. A segment is deleted only after every record in it reached the
//! store; a crash during replay replays the segment again, which is harmless because every write
//! is idempotent. A torn last record (crash mid-append, never acknowledged) fails its checksum and
//! is dropped.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use heliograph_shared::ProviderSlug;
use heliograph_shared::store::{Store, WriteBatch};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, Notify};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Segments roll over at this size.
const SEGMENT_BYTES: u64 = 16 * 1024 * 1024;

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
}

/// How far a replay pass got.
enum Replayed {
    /// Every record was stored and the segment deleted.
    Deleted,
    /// Records up to this byte offset are stored; the segment is still being appended to.
    UpTo(u64),
}

#[derive(Serialize, Deserialize)]
struct Record {
    provider: ProviderSlug,
    batch: WriteBatch,
}

struct State {
    /// Segment numbers on disk, oldest first.
    segments: Vec<u64>,
    /// The open segment being appended to.
    writer: Option<(u64, File, u64)>,
    /// Bytes on disk.
    bytes: u64,
}

/// A spool directory.
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    state: Mutex<State>,
    wake: Notify,
}

impl Spool {
    /// Opens (creating) the spool in `dir`; what a previous process left there is replayed.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Self, SpoolError> {
        fs::create_dir_all(dir)?;
        let mut segments = Vec::new();
        let mut bytes = 0;
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(n) =
                name.to_str().and_then(|n| n.strip_prefix("spool-")).and_then(|n| n.strip_suffix(".log"))
            else {
                continue;
            };
            if let Ok(n) = n.parse::<u64>() {
                segments.push(n);
                bytes += entry.metadata()?.len();
            }
        }
        segments.sort_unstable();
        if !segments.is_empty() {
            info!(segments = segments.len(), bytes, "spool holds documents from before; replaying them");
        }
        // What a previous process left is waiting too: the gauge must say so from the start.
        crate::metrics::spool_depth(bytes);
        Ok(Self {
            dir: dir.to_path_buf(),
            max_bytes,
            state: Mutex::new(State { segments, writer: None, bytes }),
            wake: Notify::new(),
        })
    }

    fn path(&self, segment: u64) -> PathBuf {
        self.dir.join(format!("spool-{segment:012}.log"))
    }

    /// True when nothing waits for replay (new documents may then go straight to the store).
    pub async fn is_empty(&self) -> bool {
        self.state.lock().await.segments.is_empty()
    }

    /// Bytes waiting for replay.
    pub async fn depth_bytes(&self) -> u64 {
        self.state.lock().await.bytes
    }

    /// Appends a document's writes and syncs them to disk; returns once they are durable.
    pub async fn append(&self, provider: &ProviderSlug, batch: WriteBatch) -> Result<(), SpoolError> {
        let json = serde_json::to_string(&Record { provider: provider.clone(), batch })?;
        let line = format!("{:08x} {} {json}\n", crc32fast::hash(json.as_bytes()), json.len());
        let mut state = self.state.lock().await;
        if state.bytes + line.len() as u64 > self.max_bytes {
            return Err(SpoolError::Full(self.max_bytes));
        }
        let roll = state.writer.as_ref().is_none_or(|(_, _, size)| *size >= SEGMENT_BYTES);
        if roll {
            let next = state.segments.last().map_or(1, |n| n + 1);
            let file = OpenOptions::new().create(true).append(true).open(self.path(next))?;
            // The new file's directory entry must survive a crash too.
            File::open(&self.dir)?.sync_all()?;
            state.segments.push(next);
            state.writer = Some((next, file, 0));
        }
        let Some((_, file, size)) = state.writer.as_mut() else {
            return Err(SpoolError::Io(std::io::Error::other("spool segment missing")));
        };
        // Blocking I/O under an async lock: one append is one small write and one fsync, and the
        // lock is what keeps records in order.
        file.write_all(line.as_bytes())?;
        file.sync_data()?;
        *size += line.len() as u64;
        state.bytes += line.len() as u64;
        drop(state);
        self.wake.notify_one();
        Ok(())
    }

    /// Replays spooled documents into `store`, oldest first, until cancelled. A failed write is
    /// retried with backoff; a segment is deleted once all its records are stored.
    pub async fn replay(self: Arc<Self>, store: Arc<dyn Store>, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        let mut offset = (0, 0);
        loop {
            let oldest = {
                let state = self.state.lock().await;
                state.segments.first().copied()
            };
            let Some(segment) = oldest else {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = self.wake.notified() => continue,
                }
            };
            let start = if offset.0 == segment { offset.1 } else { 0 };
            match self.replay_segment(segment, start, store.as_ref()).await {
                Ok(Replayed::Deleted) => {
                    backoff = Duration::from_millis(100);
                    offset = (0, 0);
                }
                Ok(Replayed::UpTo(next)) => {
                    backoff = Duration::from_millis(100);
                    if next == start {
                        // Nothing new: wait for an append (or poll, in case one was missed).
                        tokio::select! {
                            () = shutdown.cancelled() => return,
                            () = self.wake.notified() => {}
                            () = tokio::time::sleep(Duration::from_millis(200)) => {}
                        }
                    }
                    offset = (segment, next);
                }
                Err(e) => {
                    warn!(error = %e, segment, "spool replay waits for the store");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Stores the records of `segment` from `offset` on; deletes the segment once every record
    /// in it is stored. Returns the new offset when the segment stays (more may be appended).
    async fn replay_segment(&self, segment: u64, offset: u64, store: &dyn Store) -> Result<Replayed, String> {
        use std::io::{Seek, SeekFrom};

        let path = self.path(segment);
        let mut file = File::open(&path).map_err(|e| e.to_string())?;
        file.seek(SeekFrom::Start(offset)).map_err(|e| e.to_string())?;
        let mut reader = BufReader::new(file);
        let mut position = offset;
        let mut line = String::new();
        loop {
            line.clear();
            let read = reader.read_line(&mut line).map_err(|e| e.to_string())?;
            if read == 0 || !line.ends_with('\n') {
                // End of file, or a record still being appended: stop before it.
                break;
            }
            match decode(line.trim_end_matches('\n')) {
                Some(record) => {
                    let tenant = store.tenant(&record.provider).await.map_err(|e| e.to_string())?;
                    tenant.write_batch(record.batch).await.map_err(|e| e.to_string())?;
                }
                None => warn!(segment, "dropping a corrupt spool record (it was never acknowledged)"),
            }
            position += read as u64;
        }
        let mut state = self.state.lock().await;
        let size = fs::metadata(&path).map(|m| m.len()).map_err(|e| e.to_string())?;
        if size != position {
            // Appended to while we read: carry on from here next time.
            return Ok(Replayed::UpTo(position));
        }
        if state.writer.as_ref().is_some_and(|(n, _, _)| *n == segment) {
            // Close it: later appends start a new segment, so deleting this one loses nothing.
            state.writer = None;
        }
        fs::remove_file(&path).map_err(|e| e.to_string())?;
        state.segments.retain(|n| *n != segment);
        state.bytes = state.bytes.saturating_sub(size);
        crate::metrics::spool_depth(state.bytes);
        info!(segment, bytes = size, "spool segment replayed into the store");
        Ok(Replayed::Deleted)
    }
}

fn decode(line: &str) -> Option<Record> {
    let (crc, rest) = line.split_once(' ')?;
    let (length, json) = rest.split_once(' ')?;
    let crc = u32::from_str_radix(crc, 16).ok()?;
    let length: usize = length.parse().ok()?;
    (json.len() == length && crc32fast::hash(json.as_bytes()) == crc)
        .then(|| serde_json::from_str(json).ok())?
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::ops::Range;
    use std::sync::atomic::{AtomicBool, Ordering};

    use async_trait::async_trait;
    use chrono::{DateTime, TimeDelta, Utc};
    use heliograph_shared::reports::HourlyRollup;
    use heliograph_shared::reports::daily::DaySummary;
    use heliograph_shared::store::{self, HistoryMark, StoreError, StoreSettings, TenantStore};
    use heliograph_shared::{
        Alert, ApiToken, Claim, ClaimOwner, ClaimRequest, Customer, CustomerId, Delivery, DeliveryKey,
        DeliveryOutcome, Device, DeviceId, Gateway, GatewayId, MailPreferences, Metric, Metrics, Provider,
        QuarantinedReading, Reading, RefusedGateway, TokenHash, User, Username,
    };

    use super::*;

    /// A real tenant whose writes fail while `down` is set: a store outage, on demand. Every
    /// other method is the real store's.
    struct Outage {
        inner: Arc<dyn TenantStore>,
        down: Arc<AtomicBool>,
    }

    #[async_trait]
    impl TenantStore for Outage {
        fn provider(&self) -> &ProviderSlug {
            self.inner.provider()
        }
        async fn upsert_customer(&self, c: &Customer) -> Result<(), StoreError> {
            self.inner.upsert_customer(c).await
        }
        async fn customer(&self, id: CustomerId) -> Result<Option<Customer>, StoreError> {
            self.inner.customer(id).await
        }
        async fn customers(&self) -> Result<Vec<Customer>, StoreError> {
            self.inner.customers().await
        }
        async fn create_gateway(&self, g: &Gateway) -> Result<(), StoreError> {
            self.inner.create_gateway(g).await
        }
        async fn update_gateway(&self, g: &Gateway) -> Result<(), StoreError> {
            self.inner.update_gateway(g).await
        }
        async fn gateway(&self, id: &GatewayId) -> Result<Option<Gateway>, StoreError> {
            self.inner.gateway(id).await
        }
        async fn gateways(&self) -> Result<Vec<Gateway>, StoreError> {
            self.inner.gateways().await
        }
        async fn devices(&self, g: &GatewayId) -> Result<Vec<Device>, StoreError> {
            self.inner.devices(g).await
        }
        async fn write_batch(&self, batch: WriteBatch) -> Result<(), StoreError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(StoreError::Unavailable("test outage".into()));
            }
            self.inner.write_batch(batch).await
        }
        async fn readings(
            &self,
            g: &GatewayId,
            d: &DeviceId,
            r: Range<DateTime<Utc>>,
            l: usize,
        ) -> Result<Vec<Reading>, StoreError> {
            self.inner.readings(g, d, r, l).await
        }
        async fn quarantined(
            &self,
            r: Range<DateTime<Utc>>,
            l: usize,
        ) -> Result<Vec<QuarantinedReading>, StoreError> {
            self.inner.quarantined(r, l).await
        }
        async fn record_refused_gateway(&self, r: &RefusedGateway) -> Result<(), StoreError> {
            self.inner.record_refused_gateway(r).await
        }
        async fn refused_gateways(&self, l: usize) -> Result<Vec<RefusedGateway>, StoreError> {
            self.inner.refused_gateways(l).await
        }
        async fn hourly_rollups(
            &self,
            g: &GatewayId,
            d: &DeviceId,
            r: Range<DateTime<Utc>>,
        ) -> Result<Vec<HourlyRollup>, StoreError> {
            self.inner.hourly_rollups(g, d, r).await
        }
        async fn history_mark(&self, g: &GatewayId) -> Result<Option<HistoryMark>, StoreError> {
            self.inner.history_mark(g).await
        }
        async fn day_summaries(
            &self,
            g: &GatewayId,
            zone: chrono_tz::Tz,
            days: Range<chrono::NaiveDate>,
        ) -> Result<Vec<(DaySummary, i64)>, StoreError> {
            self.inner.day_summaries(g, zone, days).await
        }
        async fn put_day_summaries(
            &self,
            g: &GatewayId,
            zone: chrono_tz::Tz,
            basis: i64,
            days: &[DaySummary],
        ) -> Result<(), StoreError> {
            self.inner.put_day_summaries(g, zone, basis, days).await
        }
        async fn upsert_user(&self, u: &User) -> Result<(), StoreError> {
            self.inner.upsert_user(u).await
        }
        async fn user(&self, u: &Username) -> Result<Option<User>, StoreError> {
            self.inner.user(u).await
        }
        async fn users(&self) -> Result<Vec<User>, StoreError> {
            self.inner.users().await
        }
        async fn add_api_token(&self, t: &ApiToken) -> Result<(), StoreError> {
            self.inner.add_api_token(t).await
        }
        async fn api_token(&self, h: &TokenHash) -> Result<Option<ApiToken>, StoreError> {
            self.inner.api_token(h).await
        }
        async fn api_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
            self.inner.api_tokens().await
        }
        async fn revoke_api_token(&self, h: &TokenHash) -> Result<(), StoreError> {
            self.inner.revoke_api_token(h).await
        }
        async fn claim_delivery(&self, r: &ClaimRequest) -> Result<Claim, StoreError> {
            self.inner.claim_delivery(r).await
        }
        async fn finish_delivery(
            &self,
            k: &DeliveryKey,
            o: &ClaimOwner,
            d: &DeliveryOutcome,
            n: DateTime<Utc>,
        ) -> Result<bool, StoreError> {
            self.inner.finish_delivery(k, o, d, n).await
        }
        async fn delivery(&self, k: &DeliveryKey) -> Result<Option<Delivery>, StoreError> {
            self.inner.delivery(k).await
        }
        async fn deliveries_due(&self, n: DateTime<Utc>, l: usize) -> Result<Vec<Delivery>, StoreError> {
            self.inner.deliveries_due(n, l).await
        }
        async fn open_alert(&self, a: &Alert) -> Result<bool, StoreError> {
            self.inner.open_alert(a).await
        }
        async fn clear_alert(&self, a: &Alert, at: DateTime<Utc>) -> Result<bool, StoreError> {
            self.inner.clear_alert(a, at).await
        }
        async fn open_alerts(&self) -> Result<Vec<Alert>, StoreError> {
            self.inner.open_alerts().await
        }
        async fn customer_alerts(
            &self,
            c: CustomerId,
            r: Range<DateTime<Utc>>,
        ) -> Result<Vec<Alert>, StoreError> {
            self.inner.customer_alerts(c, r).await
        }
        async fn customers_with_pending_notices(&self) -> Result<Vec<CustomerId>, StoreError> {
            self.inner.customers_with_pending_notices().await
        }
        async fn take_alert_notices(&self, c: CustomerId, t: &str) -> Result<Vec<Alert>, StoreError> {
            self.inner.take_alert_notices(c, t).await
        }
        async fn mail_preferences(&self, c: CustomerId) -> Result<MailPreferences, StoreError> {
            self.inner.mail_preferences(c).await
        }
        async fn set_mail_preferences(&self, c: CustomerId, p: &MailPreferences) -> Result<(), StoreError> {
            self.inner.set_mail_preferences(c, p).await
        }
    }

    fn batch(minute: i64) -> WriteBatch {
        let mut metrics = Metrics::default();
        metrics.set(Metric::AcPower, 100.0 + minute as f64).unwrap();
        let mut batch = WriteBatch::new(GatewayId::parse("GW-1").unwrap(), Utc::now());
        batch.readings.push(Reading {
            gateway: GatewayId::parse("GW-1").unwrap(),
            device: DeviceId::parse("inv-1").unwrap(),
            ts: DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z").unwrap().with_timezone(&Utc)
                + TimeDelta::minutes(minute),
            status: None,
            metrics,
        });
        batch
    }

    async fn embedded() -> (tempfile::TempDir, Arc<dyn Store>, ProviderSlug) {
        let dir = tempfile::tempdir().unwrap();
        let store =
            store::open(&StoreSettings::Embedded { data_dir: dir.path().join("data") }).await.unwrap();
        let slug = ProviderSlug::parse("acme").unwrap();
        store.create_provider(&Provider::new(slug.clone(), "Acme")).await.unwrap();
        (dir, store, slug)
    }

    async fn stored(store: &Arc<dyn Store>, slug: &ProviderSlug) -> usize {
        let tenant = store.tenant(slug).await.unwrap();
        let range = Utc::now() - TimeDelta::days(3650)..Utc::now() + TimeDelta::days(3650);
        tenant
            .readings(&GatewayId::parse("GW-1").unwrap(), &DeviceId::parse("inv-1").unwrap(), range, 10_000)
            .await
            .unwrap()
            .len()
    }

    #[tokio::test]
    async fn spooled_documents_survive_a_restart_and_are_replayed_once_the_store_answers() {
        let (dir, store, slug) = embedded().await;
        let spool_dir = dir.path().join("spool");
        {
            let spool = Spool::open(&spool_dir, 1 << 30).unwrap();
            for minute in 0..50 {
                spool.append(&slug, batch(minute)).await.unwrap();
            }
            assert!(!spool.is_empty().await);
        } // the process "dies" here, before any replay
        let spool = Arc::new(Spool::open(&spool_dir, 1 << 30).unwrap());
        assert!(spool.depth_bytes().await > 0);
        let shutdown = CancellationToken::new();
        let replay = tokio::spawn(Arc::clone(&spool).replay(Arc::clone(&store), shutdown.clone()));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !spool.is_empty().await {
            assert!(std::time::Instant::now() < deadline, "spool not drained");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        shutdown.cancel();
        replay.await.unwrap();
        assert_eq!(stored(&store, &slug).await, 50);
        assert_eq!(fs::read_dir(&spool_dir).unwrap().count(), 0, "replayed segments are deleted");
    }

    #[tokio::test]
    async fn replay_waits_out_an_outage_without_losing_or_duplicating_anything() {
        let (dir, store, slug) = embedded().await;
        let down = Arc::new(AtomicBool::new(true));
        let outage: Arc<dyn TenantStore> =
            Arc::new(Outage { inner: store.tenant(&slug).await.unwrap(), down: Arc::clone(&down) });
        let spool = Arc::new(Spool::open(&dir.path().join("spool"), 1 << 30).unwrap());
        for minute in 0..20 {
            // What the pipeline does: try the store, spool on failure.
            if outage.write_batch(batch(minute)).await.is_err() {
                spool.append(&slug, batch(minute)).await.unwrap();
            }
        }
        // The same documents resent by a gateway that missed the acks: idempotent.
        for minute in 0..5 {
            spool.append(&slug, batch(minute)).await.unwrap();
        }
        down.store(false, Ordering::SeqCst);
        let shutdown = CancellationToken::new();
        let replay = tokio::spawn(Arc::clone(&spool).replay(Arc::clone(&store), shutdown.clone()));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !spool.is_empty().await {
            assert!(std::time::Instant::now() < deadline, "spool not drained");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        shutdown.cancel();
        replay.await.unwrap();
        assert_eq!(stored(&store, &slug).await, 20);
    }

    #[tokio::test]
    async fn a_full_spool_refuses_and_a_torn_record_is_dropped() {
        let (dir, _store, slug) = embedded().await;
        let spool_dir = dir.path().join("spool");
        let spool = Spool::open(&spool_dir, 2_000).unwrap();
        let mut appended = 0;
        while spool.append(&slug, batch(appended)).await.is_ok() {
            appended += 1;
        }
        assert!(appended > 0);
        assert!(matches!(spool.append(&slug, batch(0)).await, Err(SpoolError::Full(2_000))));
        // A crash mid-append leaves half a record: it fails its checksum on replay.
        let segment = fs::read_dir(&spool_dir).unwrap().next().unwrap().unwrap().path();
        let mut file = OpenOptions::new().append(true).open(&segment).unwrap();
        file.write_all(b"deadbeef 999 {\"provider\":\"acme\",\"bat\n").unwrap();
        let text = fs::read_to_string(&segment).unwrap();
        let decoded = text.lines().filter(|l| decode(l).is_some()).count();
        assert_eq!(decoded, appended as usize);
    }
}
