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
