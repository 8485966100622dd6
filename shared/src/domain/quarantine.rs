//! What was set aside: readings refused one by one, and gateways refused whole.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::GatewayId;

/// A reading that could not be stored, kept with the reason so nothing is silently lost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarantinedReading {
    /// The gateway that sent it.
    pub gateway: GatewayId,
    /// When the server received it.
    pub received_at: DateTime<Utc>,
    /// The document's sequence number, when it had one.
    pub seq: Option<u64>,
    /// The device attribute as sent (possibly invalid).
    pub device: String,
    /// The timestamp attribute as sent (possibly invalid).
    pub ts: String,
    /// Why it was refused.
    pub reason: String,
    /// The reading's content, re-serialised compactly (bounded).
    pub content: String,
}

/// Why a gateway was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalReason {
    /// No such gateway at this provider.
    UnknownGateway,
    /// The gateway exists but the token did not match.
    WrongToken,
    /// The gateway is deactivated.
    Inactive,
}

impl RefusalReason {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownGateway => "unknown_gateway",
            Self::WrongToken => "wrong_token",
            Self::Inactive => "inactive",
        }
    }

    /// Reads a stored word.
    pub fn from_word(word: &str) -> Option<Self> {
        match word {
            "unknown_gateway" => Some(Self::UnknownGateway),
            "wrong_token" => Some(Self::WrongToken),
            "inactive" => Some(Self::Inactive),
            _ => None,
        }
    }
}

/// A refused gateway id, with how often and how recently it tried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefusedGateway {
    /// The id it claimed.
    pub gateway: GatewayId,
    /// Why it was last refused.
    pub reason: RefusalReason,
    /// First attempt recorded.
    pub first_seen: DateTime<Utc>,
    /// Latest attempt recorded.
    pub last_seen: DateTime<Utc>,
    /// Attempts recorded.
    pub attempts: u64,
    /// The address it last connected from.
    pub last_address: String,
}

impl RefusedGateway {
    /// Places in a namespace's list of refused gateways. Anyone who can reach a port can present
    /// made-up ids, so the list is a fixed set of slots, each holding the latest refused id that
    /// falls in it: it can never hold more than this many rows, whatever arrives.
    pub const SLOTS: u32 = 1024;

    /// How long a refusal that is not seen again is kept, in seconds.
    pub const KEPT_SECS: i64 = 30 * 24 * 3600;

    /// The slot of a gateway id: a fixed hash (FNV-1a), the same on every process and version.
    pub fn slot(gateway: &GatewayId) -> u32 {
        let hash = gateway
            .as_str()
            .bytes()
            .fold(0x811c_9dc5_u32, |hash, byte| (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193));
        hash % Self::SLOTS
    }

    /// This refusal recorded over what its slot holds: added to the same id's count (the first
    /// sighting recorded stays, the last seen is the later one, reason and address the newest
    /// report's), or replacing another id.
    pub fn recorded_over(&self, stored: Option<&RefusedGateway>) -> RefusedGateway {
        match stored {
            Some(stored) if stored.gateway == self.gateway => {
                let latest = if self.last_seen >= stored.last_seen { self } else { stored };
                RefusedGateway {
                    gateway: self.gateway.clone(),
                    reason: self.reason,
                    first_seen: stored.first_seen,
                    last_seen: latest.last_seen,
                    attempts: stored.attempts.saturating_add(self.attempts),
                    last_address: self.last_address.clone(),
                }
            }
            _ => self.clone(),
        }
    }
}

#[cfg(test)]
mod refusal_tests {
    use chrono::{TimeZone, Timelike};

    use super::*;

    fn refused(id: &str, seen_minute: u32, attempts: u64) -> RefusedGateway {
        let seen = Utc.with_ymd_and_hms(2026, 6, 1, 12, seen_minute, 0).single().expect("a valid time");
        RefusedGateway {
            gateway: GatewayId::parse(id).expect("a valid id"),
            reason: RefusalReason::WrongToken,
            first_seen: seen,
            last_seen: seen,
            attempts,
            last_address: format!("10.0.0.{seen_minute}"),
        }
    }

    #[test]
    fn a_refusal_adds_to_its_ids_count_and_replaces_another_id() {
        let stored = refused("GW-X", 5, 3);
        let merged = refused("GW-X", 2, 2).recorded_over(Some(&stored));
        assert_eq!((merged.attempts, merged.first_seen.minute(), merged.last_seen.minute()), (5, 5, 5));
        assert_eq!(refused("GW-Y", 1, 1).recorded_over(Some(&stored)), refused("GW-Y", 1, 1));
        assert_eq!(refused("GW-Y", 1, 1).recorded_over(None), refused("GW-Y", 1, 1));
    }

    #[test]
    fn slots_are_fixed_and_spread_ids() {
        let id = GatewayId::parse("GW-X").expect("a valid id");
        assert_eq!(RefusedGateway::slot(&id), RefusedGateway::slot(&id.clone()));
        let used: std::collections::HashSet<u32> = (0..10_000)
            .map(|n| RefusedGateway::slot(&GatewayId::parse(&format!("GW-{n}")).expect("a valid id")))
            .collect();
        assert!(used.len() > 1000, "10,000 ids fill nearly every slot: {}", used.len());
        assert!(used.iter().all(|&slot| slot < RefusedGateway::SLOTS));
    }
}
