//! A gateway: the router at a customer's site that pushes its devices' readings.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{CustomerId, GatewayId};
use super::token::{GatewayToken, TokenHash};

/// A gateway of one provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gateway {
    /// Id, unique across the installation (the shared port finds the provider by it).
    pub id: GatewayId,
    /// The customer it is commissioned to, if any.
    pub customer: Option<CustomerId>,
    /// The site's name as shown in reports.
    pub site_name: String,
    /// Installed peak capacity, kWp; specific yield divides by it.
    pub capacity_kwp: f64,
    /// Hash of the current token.
    pub token_hash: TokenHash,
    /// Hash of the previous token and when it stops being accepted (rotation without downtime).
    pub previous_token: Option<(TokenHash, DateTime<Utc>)>,
    /// Last time a document from it was accepted.
    pub last_seen: Option<DateTime<Utc>>,
    /// Deactivated gateways are refused.
    pub active: bool,
}

impl Gateway {
    /// True when `token` is the current one, or the previous one within its grace period.
    pub fn accepts(&self, token: &GatewayToken, now: DateTime<Utc>) -> bool {
        let current = self.token_hash.verify(token);
        let previous =
            self.previous_token.as_ref().is_some_and(|(hash, until)| now < *until && hash.verify(token));
        self.active && (current | previous)
    }
}
