//! Exactly-once delivery: claim durably, then send, then record the outcome.
//!
//! The claim is what makes a second mailer (or a restarted one) stay away; the lease is what
//! lets a crashed mailer's claim be taken over; the recorded failure with its next attempt time
//! is what makes a mail server outage delay mail instead of dropping it. The one window left is
//! a crash after the server accepted a message and before `Sent` was recorded: the message is
//! sent again when the lease runs out (with the same `Message-ID`, so receivers can tell).

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use heliograph_shared::store::{StoreError, TenantStore};
use heliograph_shared::{Claim, ClaimOwner, ClaimRequest, DeliveryKey, DeliveryOutcome};
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
        tenant: &dyn TenantStore,
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
        let attempt = match tenant.claim_delivery(&request).await? {
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

    async fn finish(
        &self,
        tenant: &dyn TenantStore,
        key: &DeliveryKey,
        outcome: &DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if !tenant.finish_delivery(key, &self.owner, outcome, now).await? {
            // Our lease ran out and another mailer took the delivery over; its outcome stands.
            warn!(delivery = %key, "the claim was taken over before the outcome was recorded");
        }
        Ok(())
    }
}
