//! A gateway: the router at a customer's site that pushes its devices' readings.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{CustomerId, GatewayId};
use super::location::SiteLocation;
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
    /// Where the site is, when known: its sunrise and sunset decide its daylight.
    #[serde(default)]
    pub location: Option<SiteLocation>,
    /// This site's own alert thresholds and quiet time, where they differ from the provider's.
    #[serde(default)]
    pub alerting: SiteAlerting,
}

/// A site's overrides of its provider's alert thresholds, and a maintenance window in which no
/// alert opens for it (work on the roof, a replaced inverter: the installer knows already).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteAlerting {
    /// Minutes without data in daylight before the site is offline; the provider's when none.
    pub offline_after_minutes: Option<u32>,
    /// Share (percent) of the expected yield below which the site underperforms; the provider's
    /// when none.
    pub underperformance_percent: Option<u8>,
    /// No alert opens for the site before this time.
    pub maintenance_until: Option<DateTime<Utc>>,
}

impl SiteAlerting {
    /// Whether the site is in its maintenance window at `now`.
    pub fn in_maintenance(&self, now: DateTime<Utc>) -> bool {
        self.maintenance_until.is_some_and(|until| now < until)
    }
}

impl Gateway {
    /// A gateway just added: active, with one token (its hash `token_hash`), never seen.
    pub fn new(
        id: GatewayId,
        customer: Option<CustomerId>,
        site_name: String,
        capacity_kwp: f64,
        token_hash: TokenHash,
    ) -> Self {
        Self {
            id,
            customer,
            site_name,
            capacity_kwp,
            token_hash,
            previous_token: None,
            last_seen: None,
            active: true,
            location: None,
            alerting: SiteAlerting::default(),
        }
    }

    /// True when `token` is the current one, or the previous one within its grace period.
    pub fn accepts(&self, token: &GatewayToken, now: DateTime<Utc>) -> bool {
        let current = self.token_hash.verify(token);
        let previous =
            self.previous_token.as_ref().is_some_and(|(hash, until)| now < *until && hash.verify(token));
        self.active && (current | previous)
    }

    /// Replaces the token with `token`. With a `grace` period the previous token keeps working
    /// that long (the gateway can be reconfigured without losing data); without one it stops at
    /// once (a stolen token), as does any earlier token still in its grace period.
    pub fn rotate_token(&mut self, token: &GatewayToken, grace: Option<TimeDelta>, now: DateTime<Utc>) {
        self.previous_token = grace.map(|grace| (self.token_hash, now + grace));
        self.token_hash = token.hash();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway(token: &GatewayToken) -> Gateway {
        Gateway {
            id: GatewayId::parse("GW-1").expect("a valid id"),
            customer: None,
            site_name: "Site".into(),
            capacity_kwp: 5.0,
            token_hash: token.hash(),
            previous_token: None,
            last_seen: None,
            active: true,
            location: None,
            alerting: SiteAlerting::default(),
        }
    }

    #[test]
    fn a_rotated_token_keeps_working_for_the_grace_period_unless_revoked_at_once() {
        let (old, new, newer) =
            (GatewayToken::generate(), GatewayToken::generate(), GatewayToken::generate());
        let now = Utc::now();
        let mut g = gateway(&old);
        g.rotate_token(&new, Some(TimeDelta::hours(24)), now);
        assert!(g.accepts(&old, now) && g.accepts(&new, now));
        assert!(!g.accepts(&old, now + TimeDelta::hours(25)));
        g.rotate_token(&newer, None, now);
        assert!(!g.accepts(&old, now) && !g.accepts(&new, now), "revoked at once, with any earlier one");
        assert!(g.accepts(&newer, now));
        g.active = false;
        assert!(!g.accepts(&newer, now), "a deactivated gateway is refused whatever its token");
    }
}
