//! A mail delivery's identity and state: what lets each summary and alert digest go out once.
//!
//! A sender first claims a [`DeliveryKey`] durably (with an owner and a lease), then sends, then
//! records the outcome. A second sender finds the claim and stays away; a crashed sender's claim
//! is taken over when its lease runs out; a failed send is retried after its backoff.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::ids::CustomerId;

/// Why a delivery key or owner is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryKeyError {
    /// The topic or owner is empty, too long or has characters outside `[A-Za-z0-9._:+-]`.
    #[error(
        "{what} {value:?} is not allowed: use 1-96 characters of letters, digits, '.', '_', ':', '+' or '-'"
    )]
    Invalid {
        /// "topic" or "owner".
        what: &'static str,
        /// The offending value, truncated.
        value: String,
    },
}

fn checked(what: &'static str, value: &str) -> Result<String, DeliveryKeyError> {
    let ok = !value.is_empty()
        && value.len() <= 96
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '+' | '-'));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(DeliveryKeyError::Invalid { what, value: value.chars().take(96).collect() })
    }
}

/// One message's identity: a customer and a topic such as `summary:month:2026-03`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DeliveryKey {
    /// The recipient customer.
    pub customer: CustomerId,
    topic: String,
}

impl DeliveryKey {
    /// A key for `customer` and `topic` (`[A-Za-z0-9._:+-]{1,96}`).
    pub fn new(customer: CustomerId, topic: &str) -> Result<Self, DeliveryKeyError> {
        Ok(Self { customer, topic: checked("topic", topic)? })
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

impl std::fmt::Display for DeliveryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.customer, self.topic)
    }
}

/// Who holds a claim: one id per mailer process (`[A-Za-z0-9._:+-]{1,96}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClaimOwner(String);

impl ClaimOwner {
    /// Parses an owner id.
    pub fn parse(value: &str) -> Result<Self, DeliveryKeyError> {
        Ok(Self(checked("owner", value)?))
    }

    /// A fresh owner id for this process: `prefix-<random>`.
    pub fn unique(prefix: &str) -> Self {
        let prefix: String =
            prefix.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(40).collect();
        Self(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ClaimOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Someone holds it and is sending (until the lease runs out).
    Claimed,
    /// The mail server accepted it.
    Sent,
    /// The last attempt failed for a reason that may pass; retried at `next_attempt_at`.
    Failed,
    /// The mail server refused it for good (e.g. unknown mailbox); not retried.
    Rejected,
}

impl DeliveryState {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Claimed => "claimed",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Rejected => "rejected",
        }
    }

    /// Reads a stored word.
    pub fn from_word(word: &str) -> Option<Self> {
        match word {
            "claimed" => Some(Self::Claimed),
            "sent" => Some(Self::Sent),
            "failed" => Some(Self::Failed),
            "rejected" => Some(Self::Rejected),
            _ => None,
        }
    }
}

/// A delivery as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Its identity.
    pub key: DeliveryKey,
    /// Where it stands.
    pub state: DeliveryState,
    /// The last claimer.
    pub owner: ClaimOwner,
    /// Until when the claim holds.
    pub lease_until: DateTime<Utc>,
    /// Attempts so far (claims granted).
    pub attempts: u32,
    /// When a failed delivery may be tried again.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last failure, for operators.
    pub last_error: Option<String>,
    /// When the mail server accepted it.
    pub sent_at: Option<DateTime<Utc>>,
}

/// A request to claim a delivery.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    /// What to claim.
    pub key: DeliveryKey,
    /// Who claims.
    pub owner: ClaimOwner,
    /// The claimer's clock.
    pub now: DateTime<Utc>,
    /// How long the claim holds without an outcome before others may take it over.
    pub lease: TimeDelta,
    /// Claim even a delivery already sent, failed-but-not-due or rejected (a resend on demand);
    /// a live claim of another owner is still respected.
    pub force: bool,
}

/// The answer to a claim.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// The claimer holds it now and should send; this is attempt number `attempt`.
    Granted {
        /// 1 for the first attempt.
        attempt: u32,
    },
    /// Already sent; nothing to do.
    AlreadySent,
    /// Another owner holds a live claim.
    HeldByOther {
        /// The holder.
        owner: ClaimOwner,
        /// When its lease ends.
        until: DateTime<Utc>,
    },
    /// Failed before; its next attempt is not due yet.
    NotDue {
        /// When it is.
        at: DateTime<Utc>,
    },
    /// Refused for good by the mail server.
    Rejected,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryOutcome {
    /// Accepted by the mail server.
    Sent,
    /// Failed; try again at `retry_at`.
    Failed {
        /// What went wrong.
        error: String,
        /// When to try again.
        retry_at: DateTime<Utc>,
    },
    /// Refused for good.
    Rejected {
        /// What the server said.
        error: String,
    },
}

impl Claim {
    /// What a claim request gets, given the delivery as stored: the one rule both stores apply
    /// (each then writes a granted claim with compare-and-set on the row it read). A live claim
    /// is respected, its own owner's too unless forced; an expired one, a failed one whose retry
    /// is due, or anything forced is taken over; a sent or rejected delivery stays as it is.
    pub fn decide(current: Option<&Delivery>, request: &ClaimRequest) -> Claim {
        let Some(stored) = current else {
            return Claim::Granted { attempt: 1 };
        };
        let live = stored.state == DeliveryState::Claimed && stored.lease_until > request.now;
        if live && !(request.force && stored.owner == request.owner) {
            return Claim::HeldByOther { owner: stored.owner.clone(), until: stored.lease_until };
        }
        let take_over = Claim::Granted { attempt: stored.attempts.saturating_add(1) };
        if request.force {
            return take_over;
        }
        match stored.state {
            DeliveryState::Claimed => take_over,
            DeliveryState::Failed => match stored.next_attempt_at {
                Some(at) if at > request.now => Claim::NotDue { at },
                _ => take_over,
            },
            DeliveryState::Sent => Claim::AlreadySent,
            DeliveryState::Rejected => Claim::Rejected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(owner: &str, force: bool, now: DateTime<Utc>) -> ClaimRequest {
        ClaimRequest {
            key: DeliveryKey::new(CustomerId::new_random(), "summary:day:2026-12-06").expect("a valid topic"),
            owner: ClaimOwner::parse(owner).expect("a valid owner"),
            now,
            lease: TimeDelta::seconds(60),
            force,
        }
    }

    fn stored(state: DeliveryState, owner: &str, lease_until: DateTime<Utc>) -> Delivery {
        Delivery {
            key: request(owner, false, lease_until).key,
            state,
            owner: ClaimOwner::parse(owner).expect("a valid owner"),
            lease_until,
            attempts: 2,
            next_attempt_at: None,
            last_error: None,
            sent_at: None,
        }
    }

    #[test]
    fn a_claim_is_decided_the_same_way_whatever_the_store() {
        let now = Utc::now();
        let later = now + TimeDelta::seconds(30);
        let earlier = now - TimeDelta::seconds(30);
        let granted = |attempt| Claim::Granted { attempt };
        let held = |owner: &str| Claim::HeldByOther {
            owner: ClaimOwner::parse(owner).expect("a valid owner"),
            until: later,
        };
        let cases = [
            (None, "a", false, granted(1)),
            (Some(stored(DeliveryState::Claimed, "b", later)), "a", false, held("b")),
            (Some(stored(DeliveryState::Claimed, "b", later)), "a", true, held("b")),
            (Some(stored(DeliveryState::Claimed, "a", later)), "a", false, held("a")),
            (Some(stored(DeliveryState::Claimed, "a", later)), "a", true, granted(3)),
            (Some(stored(DeliveryState::Claimed, "b", earlier)), "a", false, granted(3)),
            (Some(stored(DeliveryState::Sent, "b", earlier)), "a", false, Claim::AlreadySent),
            (Some(stored(DeliveryState::Sent, "b", earlier)), "a", true, granted(3)),
            (Some(stored(DeliveryState::Rejected, "b", earlier)), "a", false, Claim::Rejected),
            (Some(stored(DeliveryState::Failed, "b", earlier)), "a", false, granted(3)),
        ];
        for (current, owner, force, expected) in cases {
            assert_eq!(Claim::decide(current.as_ref(), &request(owner, force, now)), expected, "{current:?}");
        }
        let mut not_due = stored(DeliveryState::Failed, "b", earlier);
        not_due.next_attempt_at = Some(later);
        assert_eq!(Claim::decide(Some(&not_due), &request("a", false, now)), Claim::NotDue { at: later });
        assert_eq!(Claim::decide(Some(&not_due), &request("a", true, now)), granted(3));
    }
}
