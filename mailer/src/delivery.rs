//! Exactly-once delivery: claim durably, then send, then record the outcome.
//!
//! The claim is what makes a second mailer (or a restarted one) stay away; the lease is what
//! lets a crashed mailer's claim be taken over; the recorded failure with its next attempt time
//! is what makes a mail server outage delay mail instead of dropping it. An outcome the store
//! cannot take at once (a node down, a lightweight transaction timed out) is asked for again
//! while the lease holds: dropped, the claim would run out and the message go out twice. The
//! one window left is a crash after the server accepted a message and before `Sent` was
//! recorded: the message is sent again when the lease runs out (with the same `Message-ID`, so
//! receivers can tell).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use heliograph_shared::store::{StoreError, TenantStore};
use heliograph_shared::{Claim, ClaimOwner, ClaimRequest, DeliveryKey, DeliveryOutcome, ProviderSlug};
use lettre::Message;
use tracing::{debug, info, warn};

use crate::MailerError;
use crate::settings::MailerSettings;
use crate::transport::{Outbox, SendError};

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivered {
    /// Sent now.
    Sent,
    /// Not sent now: already sent, held by another mailer, not due, or rejected before.
    Skipped(Claim),
    /// Nothing to send (no recipient, unsubscribed); recorded as done.
    NothingToSend,
    /// The attempt failed and will be retried.
    WillRetry(String),
    /// The server refused the message for good.
    Rejected(String),
}

/// What the claim-send-record cycle needs of a store: one provider's delivery rows. A
/// provider's [`TenantStore`] is one; a test can stand in a store that fails between send and
/// record.
pub trait DeliveryRecords: Send + Sync {
    /// The provider whose deliveries these are.
    fn provider(&self) -> &ProviderSlug;

    /// [`TenantStore::claim_delivery`].
    fn claim<'a>(&'a self, request: &'a ClaimRequest) -> BoxFuture<'a, Result<Claim, StoreError>>;

    /// [`TenantStore::finish_delivery`].
    fn finish<'a>(
        &'a self,
        key: &'a DeliveryKey,
        owner: &'a ClaimOwner,
        outcome: &'a DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
}

impl DeliveryRecords for Arc<dyn TenantStore> {
    fn provider(&self) -> &ProviderSlug {
        self.as_ref().provider()
    }

    fn claim<'a>(&'a self, request: &'a ClaimRequest) -> BoxFuture<'a, Result<Claim, StoreError>> {
        self.claim_delivery(request)
    }

    fn finish<'a>(
        &'a self,
        key: &'a DeliveryKey,
        owner: &'a ClaimOwner,
        outcome: &'a DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.finish_delivery(key, owner, outcome, now)
    }
}

/// First pause before an outcome the store did not take is offered again; doubled each time.
const RECORD_RETRY_FIRST: Duration = Duration::from_millis(100);
/// Longest such pause.
const RECORD_RETRY_MAX: Duration = Duration::from_secs(5);

/// The claim-send-record cycle, with this process's owner id.
pub struct Deliverer {
    owner: ClaimOwner,
    outbox: Arc<Outbox>,
    settings: Arc<MailerSettings>,
}

impl Deliverer {
    /// A deliverer sending through `outbox` as `owner`.
    pub fn new(owner: ClaimOwner, outbox: Arc<Outbox>, settings: Arc<MailerSettings>) -> Self {
        Self { owner, outbox, settings }
    }

    /// This process's owner id.
    pub fn owner(&self) -> &ClaimOwner {
        &self.owner
    }

    /// Claims `key`; if granted, builds the message with `build` (`None`: nothing to send) and
    /// sends it, then records the outcome. `force` resends a delivery already sent. `now` is the
    /// round's clock: claims, leases and retry times are all reckoned from it.
    pub async fn deliver<F, Fut>(
        &self,
        tenant: &dyn DeliveryRecords,
        key: &DeliveryKey,
        force: bool,
        now: DateTime<Utc>,
        build: F,
    ) -> Result<Delivered, MailerError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<Message>, MailerError>>,
    {
        let request = ClaimRequest {
            key: key.clone(),
            owner: self.owner.clone(),
            now,
            lease: self.settings.lease(),
            force,
        };
        let attempt = match tenant.claim(&request).await? {
            Claim::Granted { attempt } => attempt,
            other => {
                debug!(delivery = %key, claim = ?other, "not sending");
                return Ok(Delivered::Skipped(other));
            }
        };
        let message = match build().await {
            Ok(Some(message)) => message,
            Ok(None) => {
                self.finish(tenant, key, &DeliveryOutcome::Sent, now).await?;
                return Ok(Delivered::NothingToSend);
            }
            Err(e) => {
                // The content could not be computed (store trouble, a template bug): retry later.
                let error = e.to_string();
                let retry_at = now + self.settings.retry_delay(attempt);
                warn!(delivery = %key, attempt, error = %error, %retry_at, "cannot build the message");
                self.finish(tenant, key, &DeliveryOutcome::Failed { error: error.clone(), retry_at }, now)
                    .await?;
                crate::metrics::email(tenant.provider().as_str(), key, "retry");
                return Ok(Delivered::WillRetry(error));
            }
        };
        let name = format!("{}_{}_{}", tenant.provider(), key.customer, key.topic());
        match self.outbox.send(&message, &name).await {
            Ok(()) => {
                self.finish(tenant, key, &DeliveryOutcome::Sent, now).await?;
                info!(delivery = %key, attempt, transport = self.outbox.kind(), "sent");
                crate::metrics::email(tenant.provider().as_str(), key, "sent");
                Ok(Delivered::Sent)
            }
            Err(SendError::Transient(error)) => {
                let retry_at = now + self.settings.retry_delay(attempt);
                warn!(delivery = %key, attempt, error = %error, %retry_at, "send failed; will retry");
                self.finish(tenant, key, &DeliveryOutcome::Failed { error: error.clone(), retry_at }, now)
                    .await?;
                crate::metrics::email(tenant.provider().as_str(), key, "retry");
                Ok(Delivered::WillRetry(error))
            }
            Err(SendError::Permanent(error)) => {
                warn!(delivery = %key, attempt, error = %error, "the mail server refused the message for good");
                self.finish(tenant, key, &DeliveryOutcome::Rejected { error: error.clone() }, now).await?;
                crate::metrics::email(tenant.provider().as_str(), key, "rejected");
                Ok(Delivered::Rejected(error))
            }
        }
    }

    /// Records the outcome of an attempt. What it records has happened (the message may be at
    /// the server), so an unavailable store is asked again until the claim's lease runs out;
    /// after that another mailer may hold the delivery, and its record stands.
    async fn finish(
        &self,
        tenant: &dyn DeliveryRecords,
        key: &DeliveryKey,
        outcome: &DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let lease_ends = now + self.settings.lease();
        let mut pause = RECORD_RETRY_FIRST;
        loop {
            match tenant.finish(key, &self.owner, outcome, now).await {
                Ok(true) => return Ok(()),
                Ok(false) => {
                    // Our lease ran out and another mailer took the delivery over (its outcome
                    // stands), or an earlier try that timed out had recorded it after all.
                    warn!(delivery = %key, "the claim was no longer ours when the outcome was recorded");
                    return Ok(());
                }
                Err(StoreError::Unavailable(error)) if Utc::now() + pause < lease_ends => {
                    warn!(delivery = %key, error = %error, retry_in = ?pause, "cannot record the outcome yet");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(RECORD_RETRY_MAX);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use chrono::TimeDelta;
    use heliograph_shared::store::Store;
    use heliograph_shared::store::embedded::EmbeddedStore;
    use heliograph_shared::{CustomerId, DeliveryState, Provider};

    use super::*;
    use crate::FileOutbox;

    /// A provider's delivery rows whose next `failures` records fail as a node outage does.
    struct FailingRecords {
        inner: Arc<dyn TenantStore>,
        failures: AtomicUsize,
    }

    impl DeliveryRecords for FailingRecords {
        fn provider(&self) -> &ProviderSlug {
            self.inner.provider()
        }

        fn claim<'a>(&'a self, request: &'a ClaimRequest) -> BoxFuture<'a, Result<Claim, StoreError>> {
            self.inner.claim_delivery(request)
        }

        fn finish<'a>(
            &'a self,
            key: &'a DeliveryKey,
            owner: &'a ClaimOwner,
            outcome: &'a DeliveryOutcome,
            now: DateTime<Utc>,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            let failing =
                self.failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            if failing.is_ok() {
                return Box::pin(async {
                    Err(StoreError::Unavailable("write timed out (consistency: LocalSerial)".into()))
                });
            }
            self.inner.finish_delivery(key, owner, outcome, now)
        }
    }

    async fn setup(dir: &std::path::Path, lease_secs: i64, failures: usize) -> (FailingRecords, Deliverer) {
        let store = EmbeddedStore::open(&dir.join("data")).await.expect("store opens");
        let slug = ProviderSlug::parse("sunny").expect("valid slug");
        store.create_provider(&Provider::new(slug.clone(), "Sunny")).await.expect("provider");
        let inner = store.tenant(&slug).await.expect("tenant");
        let outbox = Outbox::File(FileOutbox::new(&dir.join("outbox")).expect("outbox"));
        let settings = MailerSettings { lease_secs, ..MailerSettings::default() };
        let deliverer = Deliverer::new(ClaimOwner::unique("test"), Arc::new(outbox), Arc::new(settings));
        (FailingRecords { inner, failures: AtomicUsize::new(failures) }, deliverer)
    }

    fn message() -> Option<Message> {
        Message::builder()
            .from("reports@sunny.example".parse().expect("address"))
            .to("huber@example.com".parse().expect("address"))
            .subject("Your daily summary")
            .body("Sunny".to_owned())
            .ok()
    }

    fn sent(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir.join("outbox")).map(|d| d.count()).unwrap_or(0)
    }

    #[tokio::test]
    async fn a_sent_message_whose_record_fails_for_a_while_is_recorded_and_not_sent_again() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let (records, deliverer) = setup(dir.path(), 60, 3).await;
        let key = DeliveryKey::new(CustomerId::new_random(), "summary:2026-12-04").expect("key");
        let now = Utc::now();
        let first = deliverer.deliver(&records, &key, false, now, || async { Ok(message()) }).await;
        // A round after the lease would have run out: the delivery is done, nothing goes out again.
        let later = now + TimeDelta::seconds(61);
        let second = deliverer.deliver(&records, &key, false, later, || async { Ok(message()) }).await;
        assert_eq!(sent(dir.path()), 1, "the summary went out once (first {first:?}, then {second:?})");
        assert_eq!(first.expect("delivered"), Delivered::Sent);
        assert_eq!(second.expect("answered"), Delivered::Skipped(Claim::AlreadySent));
        let row = records.inner.delivery(&key).await.expect("reads").expect("a row");
        assert_eq!(row.state, DeliveryState::Sent, "the outcome was recorded once the store took it");
    }

    #[tokio::test]
    async fn a_store_that_stays_down_past_the_lease_is_given_up_on_with_its_error() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let (records, deliverer) = setup(dir.path(), 1, usize::MAX).await;
        let key = DeliveryKey::new(CustomerId::new_random(), "summary:2026-12-05").expect("key");
        let asked = std::time::Instant::now();
        let outcome = deliverer.deliver(&records, &key, false, Utc::now(), || async { Ok(message()) }).await;
        assert!(matches!(outcome, Err(MailerError::Store(StoreError::Unavailable(_)))), "{outcome:?}");
        assert!(asked.elapsed() < Duration::from_secs(30), "gave up within about the lease");
    }
}
