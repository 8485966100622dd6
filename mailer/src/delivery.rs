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
use heliograph_shared::store::{MailLedger, StoreError};
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
        provider: &ProviderSlug,
        ledger: &dyn MailLedger,
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
        let attempt = match ledger.claim_delivery(&request).await? {
            Claim::Granted { attempt } => attempt,
            other => {
                debug!(delivery = %key, claim = ?other, "not sending");
                return Ok(Delivered::Skipped(other));
            }
        };
        let message = match build().await {
            Ok(Some(message)) => message,
            Ok(None) => {
                self.finish(ledger, key, &DeliveryOutcome::Sent, now).await?;
                return Ok(Delivered::NothingToSend);
            }
            Err(e) => {
                // The content could not be computed (store trouble, a template bug): retry later.
                let error = e.to_string();
                let retry_at = now + self.settings.retry_delay(attempt);
                warn!(delivery = %key, attempt, error = %error, %retry_at, "cannot build the message");
                self.finish(ledger, key, &DeliveryOutcome::Failed { error: error.clone(), retry_at }, now)
                    .await?;
                crate::metrics::email(provider.as_str(), key, "retry");
                return Ok(Delivered::WillRetry(error));
            }
        };
        let name = format!("{}_{}_{}", provider, key.customer, key.topic());
        match self.outbox.send(&message, &name).await {
            Ok(()) => {
                self.finish(ledger, key, &DeliveryOutcome::Sent, now).await?;
                info!(delivery = %key, attempt, transport = self.outbox.kind(), "sent");
                crate::metrics::email(provider.as_str(), key, "sent");
                Ok(Delivered::Sent)
            }
            Err(SendError::Transient(error)) => {
                let retry_at = now + self.settings.retry_delay(attempt);
                warn!(delivery = %key, attempt, error = %error, %retry_at, "send failed; will retry");
                self.finish(ledger, key, &DeliveryOutcome::Failed { error: error.clone(), retry_at }, now)
                    .await?;
                crate::metrics::email(provider.as_str(), key, "retry");
                Ok(Delivered::WillRetry(error))
            }
            Err(SendError::Permanent(error)) => {
                warn!(delivery = %key, attempt, error = %error, "the mail server refused the message for good");
                self.finish(ledger, key, &DeliveryOutcome::Rejected { error: error.clone() }, now).await?;
                crate::metrics::email(provider.as_str(), key, "rejected");
                Ok(Delivered::Rejected(error))
            }
        }
    }

    /// Records the outcome of an attempt. What it records has happened (the message may be at
    /// the server), so an unavailable store is asked again until the claim's lease runs out;
    /// after that another mailer may hold the delivery, and its record stands.
    async fn finish(
        &self,
        ledger: &dyn MailLedger,
        key: &DeliveryKey,
        outcome: &DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let lease_ends = now + self.settings.lease();
        let mut pause = RECORD_RETRY_FIRST;
        loop {
            match ledger.finish_delivery(key, &self.owner, outcome, now).await {
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

    use async_trait::async_trait;
    use chrono::TimeDelta;
    use heliograph_shared::store::embedded::EmbeddedStore;
    use heliograph_shared::store::{ProviderRegistry, TenantStore};
    use heliograph_shared::{CustomerId, DeliveryState, Provider};
    use heliograph_shared::{Delivery, MailPreferences};

    use super::*;
    use crate::FileOutbox;

    /// A provider's mail ledger whose next `failures` records fail as a node outage does.
    struct FailingRecords {
        inner: Arc<dyn TenantStore>,
        failures: AtomicUsize,
    }

    #[async_trait]
    impl MailLedger for FailingRecords {
        async fn claim_delivery(&self, request: &ClaimRequest) -> Result<Claim, StoreError> {
            self.inner.claim_delivery(request).await
        }

        async fn finish_delivery(
            &self,
            key: &DeliveryKey,
            owner: &ClaimOwner,
            outcome: &DeliveryOutcome,
            now: DateTime<Utc>,
        ) -> Result<bool, StoreError> {
            if self.failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
                return Err(StoreError::Unavailable("write timed out (consistency: LocalSerial)".into()));
            }
            self.inner.finish_delivery(key, owner, outcome, now).await
        }

        async fn delivery(&self, key: &DeliveryKey) -> Result<Option<Delivery>, StoreError> {
            self.inner.delivery(key).await
        }

        async fn deliveries_due(
            &self,
            now: DateTime<Utc>,
            limit: usize,
        ) -> Result<Vec<Delivery>, StoreError> {
            self.inner.deliveries_due(now, limit).await
        }

        async fn mail_preferences(&self, customer: CustomerId) -> Result<MailPreferences, StoreError> {
            self.inner.mail_preferences(customer).await
        }

        async fn set_mail_preferences(&self, c: CustomerId, p: &MailPreferences) -> Result<(), StoreError> {
            self.inner.set_mail_preferences(c, p).await
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
        let first = deliverer
            .deliver(records.inner.provider(), &records, &key, false, now, || async { Ok(message()) })
            .await;
        // A round after the lease would have run out: the delivery is done, nothing goes out again.
        let later = now + TimeDelta::seconds(61);
        let second = deliverer
            .deliver(records.inner.provider(), &records, &key, false, later, || async { Ok(message()) })
            .await;
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
        let outcome = deliverer
            .deliver(records.inner.provider(), &records, &key, false, Utc::now(), || async { Ok(message()) })
            .await;
        assert!(matches!(outcome, Err(MailerError::Store(StoreError::Unavailable(_)))), "{outcome:?}");
        assert!(asked.elapsed() < Duration::from_secs(30), "gave up within about the lease");
    }
}
