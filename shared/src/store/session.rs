//! One writer's memory between its documents (an ingest connection's: a gateway's documents
//! arrive on one connection, one after the other), which lets a store skip work that a single
//! writer makes redundant. Forgetting it only costs that work again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::carry::Carry;
use super::{BatchWriter, StoreError, WriteBatch};
use crate::domain::{DeviceId, GatewayId};
use crate::reports::daily::MARK_LEASE;

/// A gateway's last-seen time is written at most this often by one writer: the panel and the
/// offline alerts are not that precise, and the write was one of a document's few.
pub(crate) const TOUCH_INTERVAL: Duration = Duration::from_secs(10);

/// A writer that changes a gateway's history mark before its late readings changes it again
/// after this long: half of [`MARK_LEASE`], the time for which reports do not trust the day
/// summaries of the gateway (the other half covers writes in flight and clock differences).
pub(crate) const MARK_RENEWAL: Duration = Duration::from_secs(MARK_LEASE.num_seconds().unsigned_abs() / 2);

/// What one writer remembers; see the module documentation.
#[derive(Debug, Default)]
pub struct WriteSession {
    state: Mutex<SessionState>,
}

#[derive(Debug, Default)]
struct SessionState {
    carries: HashMap<(GatewayId, DeviceId), Carry>,
    touched: Option<(GatewayId, Instant)>,
    /// When this writer last changed each gateway's history mark (before the mark was sent).
    marked: HashMap<GatewayId, Instant>,
}

impl WriteSession {
    /// Forgets everything: to be called whenever a document of this writer is stored some
    /// other way (spooled, replayed) or fails, so that nothing is carried past it.
    pub fn forget(&self) {
        *self.lock() = SessionState::default();
    }

    /// Takes the carry of a device out (it is put back, advanced, once its document is stored).
    pub(crate) fn take_carry(&self, gateway: &GatewayId, device: &DeviceId) -> Option<Carry> {
        self.lock().carries.remove(&(gateway.clone(), device.clone()))
    }

    /// Keeps a device's carry for the writer's next document.
    pub(crate) fn keep_carry(&self, gateway: GatewayId, device: DeviceId, carry: Carry) {
        self.lock().carries.insert((gateway, device), carry);
    }

    /// Whether the gateway's last-seen time is due to be written by this writer.
    pub(crate) fn touch_due(&self, gateway: &GatewayId) -> bool {
        match &self.lock().touched {
            Some((touched, at)) => touched != gateway || at.elapsed() >= TOUCH_INTERVAL,
            None => true,
        }
    }

    /// The gateway's last-seen time was written.
    pub(crate) fn touched(&self, gateway: &GatewayId) {
        self.lock().touched = Some((gateway.clone(), Instant::now()));
    }

    /// Whether the gateway's history mark must be changed before this writer's next late
    /// readings of it: never changed by this writer, or [`MARK_RENEWAL`] ago.
    pub(crate) fn mark_due(&self, gateway: &GatewayId) -> bool {
        self.lock().marked.get(gateway).is_none_or(|at| at.elapsed() >= MARK_RENEWAL)
    }

    /// The gateway's history mark was changed by a request sent at `sent`.
    pub(crate) fn marked(&self, gateway: &GatewayId, sent: Instant) {
        self.lock().marked.insert(gateway.clone(), sent);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SessionState> {
        // The state is a cache: one left half-updated by a panic is still safe to use.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A backend's tenant handle that can store a batch with one writer's memory.
#[async_trait]
pub(crate) trait WritesInSession: Send + Sync + 'static {
    /// Stores `batch` as [`ReadingsLog::write_batch`](super::ReadingsLog::write_batch) does, using
    /// and updating what `session` remembers of the writer's earlier documents.
    async fn write_in(&self, batch: WriteBatch, session: &WriteSession) -> Result<(), StoreError>;
}

/// The [`BatchWriter`] of a backend's tenant handle: the handle and one writer's memory.
pub(crate) struct SessionWriter<T> {
    tenant: Arc<T>,
    session: WriteSession,
}

impl<T> SessionWriter<T> {
    pub(crate) fn new(tenant: Arc<T>) -> Self {
        Self { tenant, session: WriteSession::default() }
    }
}

#[async_trait]
impl<T: WritesInSession> BatchWriter for SessionWriter<T> {
    async fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let written = self.tenant.write_in(batch, &self.session).await;
        if written.is_err() {
            // What it remembered may not be what the store holds now.
            self.session.forget();
        }
        written
    }

    fn forget(&self) {
        self.session.forget();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateways_last_seen_is_due_again_only_after_the_interval_or_for_another_gateway() {
        let session = WriteSession::default();
        let (one, two) = (GatewayId::parse("GW-1").expect("valid"), GatewayId::parse("GW-2").expect("valid"));
        assert!(session.touch_due(&one));
        session.touched(&one);
        assert!(!session.touch_due(&one));
        assert!(session.touch_due(&two));
        session.lock().touched = Some((one.clone(), Instant::now() - TOUCH_INTERVAL));
        assert!(session.touch_due(&one));
        session.touched(&one);
        session.forget();
        assert!(session.touch_due(&one), "a forgotten session writes it again");
    }

    #[test]
    fn a_gateways_history_mark_is_due_again_after_the_renewal_or_once_forgotten() {
        let session = WriteSession::default();
        let (one, two) = (GatewayId::parse("GW-1").expect("valid"), GatewayId::parse("GW-2").expect("valid"));
        assert!(session.mark_due(&one));
        session.marked(&one, Instant::now());
        assert!(!session.mark_due(&one));
        assert!(session.mark_due(&two), "each gateway has its own");
        session.marked(&one, Instant::now() - MARK_RENEWAL);
        assert!(session.mark_due(&one));
        session.marked(&one, Instant::now());
        session.forget();
        assert!(session.mark_due(&one), "a forgotten session changes it again");
    }
}
