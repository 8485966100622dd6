//! A site's state right now, for the fleet overview: online, offline since when, or reporting a
//! fault; and its current power.
//!
//! A site is offline when its gateway has sent nothing for the provider's
//! `offline_after_minutes` (at any time of day: a gateway stays connected at night even when
//! its inverters sleep). It is in fault when a device's latest hour holds a fault reading
//! or an open device-fault alert names it.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::site::{DeviceRollups, producers};
use crate::domain::{DeviceId, Gateway};

/// What state a site is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SiteStatus {
    /// Data arrives and no device reports a fault.
    Online,
    /// Data arrives, but these devices report a fault.
    Fault {
        /// The devices.
        devices: Vec<DeviceId>,
    },
    /// Nothing arrived for longer than the threshold.
    Offline {
        /// The last data, if any ever came.
        since: Option<DateTime<Utc>>,
    },
    /// The gateway is deactivated.
    Inactive,
}

impl SiteStatus {
    /// "online", "fault", "offline" or "inactive" (also a CSS class and a sort key).
    pub fn word(&self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Fault { .. } => "fault",
            Self::Offline { .. } => "offline",
            Self::Inactive => "inactive",
        }
    }
}

/// The site's state at `now`. `devices` holds recent rollups (the latest hour with data is what
/// counts); `faulty` lists devices with an open fault alert.
pub fn site_status(
    gateway: &Gateway,
    devices: &[DeviceRollups],
    faulty: &[DeviceId],
    now: DateTime<Utc>,
    offline_after: TimeDelta,
) -> SiteStatus {
    if !gateway.active {
        return SiteStatus::Inactive;
    }
    let fresh = |at: DateTime<Utc>| now - at <= offline_after;
    if !gateway.last_seen.is_some_and(fresh) {
        return SiteStatus::Offline { since: gateway.last_seen };
    }
    let mut in_fault: Vec<DeviceId> = devices
        .iter()
        .filter(|d| d.rollups.last().is_some_and(|r| r.fault_samples > 0 && r.last_at.is_some_and(fresh)))
        .map(|d| d.device.clone())
        .collect();
    for device in faulty {
        if !in_fault.contains(device) {
            in_fault.push(device.clone());
        }
    }
    if in_fault.is_empty() { SiteStatus::Online } else { SiteStatus::Fault { devices: in_fault } }
}

/// The sum of the producers' latest AC power, counting only readings younger than
/// `offline_after`; none when no producer reported that recently.
pub fn current_power(devices: &[DeviceRollups], now: DateTime<Utc>, offline_after: TimeDelta) -> Option<f64> {
    producers(devices)
        .iter()
        .filter_map(|d| {
            let last = d.rollups.iter().rev().find(|r| r.last_power.is_some())?;
            let at = last.last_at?;
            (now - at <= offline_after).then_some(last.last_power.unwrap_or(0.0))
        })
        .fold(None, |sum, watts| Some(sum.unwrap_or(0.0) + watts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DeviceKind, GatewayId, GatewayToken};
    use crate::reports::HourlyRollup;
    use crate::reports::energy::tests::rollup;

    fn gateway(last_seen: Option<DateTime<Utc>>) -> Gateway {
        Gateway {
            id: GatewayId::parse("GW").expect("valid"),
            customer: None,
            site_name: "Site".into(),
            capacity_kwp: 5.0,
            token_hash: GatewayToken::generate().hash(),
            previous_token: None,
            last_seen,
            active: true,
            location: None,
            alerting: Default::default(),
        }
    }

    fn inverter(last: HourlyRollup) -> DeviceRollups {
        DeviceRollups {
            device: DeviceId::parse("inv-1").expect("valid"),
            kind: DeviceKind::Inverter,
            rollups: vec![last],
        }
    }

    #[test]
    fn a_site_silent_for_longer_than_the_threshold_is_offline_since_its_last_data() {
        let now = rollup(12).hour;
        let seen = now - TimeDelta::minutes(61);
        let status = site_status(&gateway(Some(seen)), &[], &[], now, TimeDelta::minutes(60));
        assert_eq!(status, SiteStatus::Offline { since: Some(seen) });
        assert_eq!(
            site_status(&gateway(None), &[], &[], now, TimeDelta::minutes(60)),
            SiteStatus::Offline { since: None }
        );
        let fresh =
            site_status(&gateway(Some(now - TimeDelta::minutes(5))), &[], &[], now, TimeDelta::minutes(60));
        assert_eq!(fresh, SiteStatus::Online);
    }

    #[test]
    fn a_fault_in_the_latest_hour_or_an_open_alert_marks_the_site_in_fault() {
        let now = rollup(12).hour + TimeDelta::minutes(30);
        let last =
            HourlyRollup { fault_samples: 2, last_at: Some(now - TimeDelta::minutes(1)), ..rollup(12) };
        let site = gateway(Some(now));
        let status = site_status(&site, &[inverter(last)], &[], now, TimeDelta::minutes(60));
        assert_eq!(status, SiteStatus::Fault { devices: vec![DeviceId::parse("inv-1").expect("valid")] });
        let alerted =
            site_status(&site, &[], &[DeviceId::parse("inv-2").expect("valid")], now, TimeDelta::minutes(60));
        assert_eq!(alerted.word(), "fault");
    }

    #[test]
    fn current_power_ignores_readings_older_than_the_threshold() {
        let now = rollup(12).hour + TimeDelta::minutes(30);
        let recent = HourlyRollup {
            last_power: Some(2500.0),
            last_at: Some(now - TimeDelta::minutes(2)),
            ..rollup(12)
        };
        let stale =
            HourlyRollup { last_power: Some(900.0), last_at: Some(now - TimeDelta::hours(3)), ..rollup(9) };
        assert_eq!(current_power(&[inverter(recent)], now, TimeDelta::minutes(60)), Some(2500.0));
        assert_eq!(current_power(&[inverter(stale)], now, TimeDelta::minutes(60)), None);
    }
}
