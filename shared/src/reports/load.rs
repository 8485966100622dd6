//! What reports read from a provider's store: for a day, each device's hourly rollups and the
//! [`MAX_COUNTER_GAP`] before them (for counter continuity); for longer periods, the stored day
//! summaries, computing (and storing) those missing or stale from hourly rollups; raw readings
//! only for the day view's curve. The web panel and the API come through here.

use std::collections::BTreeMap;
use std::ops::Range;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use futures::future::try_join_all;
use tracing::warn;

use super::curve::{CurveBuilder, DeviceCurve};
use super::daily::{self, DaySummary};
use super::energy::MAX_COUNTER_GAP;
use super::period::{Period, local_date, local_midnight};
use super::site::{DeviceRollups, SiteFacts, SiteReport};
use super::status::{SiteStatus, current_power, site_status};
use crate::domain::{Customer, Device, DeviceId, DeviceKind, Gateway, GatewayId, Provider};
use crate::store::{StoreError, TenantStore};

/// Raw readings read per request while building a day curve.
const CURVE_PAGE: usize = 10_000;

/// A site's timezone: its customer's, else its provider's.
pub fn site_timezone(customer: Option<&Customer>, provider: &Provider) -> Tz {
    customer.map_or(provider.timezone, |c| c.timezone)
}

/// Every device's rollups for the hours starting in `range`, plus the history before it that
/// counter continuity needs. One request per device, run concurrently.
pub async fn device_rollups(
    tenant: &dyn TenantStore,
    gateway: &GatewayId,
    devices: &[Device],
    range: Range<DateTime<Utc>>,
) -> Result<Vec<DeviceRollups>, StoreError> {
    let from = range.start - MAX_COUNTER_GAP;
    try_join_all(devices.iter().map(|device| async {
        let rollups = tenant.hourly_rollups(gateway, &device.id, from..range.end).await?;
        Ok::<_, StoreError>(DeviceRollups { device: device.id.clone(), kind: device.kind, rollups })
    }))
    .await
}

/// A site's report for `period`: a day from its hourly rollups, longer periods from the
/// summaries of their days.
pub async fn site_report(
    tenant: &dyn TenantStore,
    gateway: &Gateway,
    devices: &[Device],
    timezone: Tz,
    period: Period,
    now: DateTime<Utc>,
) -> Result<SiteReport, StoreError> {
    let commissioned = tenant.first_rollup_hour(&gateway.id).await?;
    let site = SiteFacts::of(gateway, timezone, commissioned);
    if let Period::Day { .. } = period {
        let rollups = device_rollups(tenant, &gateway.id, devices, period.bounds(timezone)).await?;
        return Ok(SiteReport::compute(site, &rollups, period, now));
    }
    let days = day_summaries(tenant, gateway, devices, site, period, now).await?;
    Ok(daily::report_from_days(site, period, &days, now))
}

/// The summary of every day of `period` that has begun: the stored ones that are current, the
/// others computed from hourly rollups (and stored once their day has settled).
async fn day_summaries(
    tenant: &dyn TenantStore,
    gateway: &Gateway,
    devices: &[Device],
    site: SiteFacts,
    period: Period,
    now: DateTime<Utc>,
) -> Result<BTreeMap<NaiveDate, DaySummary>, StoreError> {
    let tz = site.timezone;
    // The mark before the summaries and the rollups (see `daily`).
    let mark = tenant.history_mark(&gateway.id).await?;
    let basis = daily::basis(mark.map(|m| m.value), devices, site.commissioned, site.daylight);
    // Late readings may still be arriving under a young mark: nothing stored is trusted or kept.
    let settling = mark.is_some_and(|m| m.settling(now));
    let (first, end) = (period.first_day(), period.end_day());
    let stored =
        if settling { Vec::new() } else { tenant.day_summaries(&gateway.id, tz, first..end).await? };
    let mut days: BTreeMap<NaiveDate, DaySummary> = stored
        .into_iter()
        .filter(|(_, stored_on)| *stored_on == basis)
        .map(|(summary, _)| (summary.date, summary))
        .collect();
    let today = local_date(tz, now);
    let missing: Vec<NaiveDate> =
        first.iter_days().take_while(|d| *d < end && *d <= today).filter(|d| !days.contains_key(d)).collect();
    let (Some(&from), Some(&to)) = (missing.first(), missing.last()) else { return Ok(days) };
    let range = local_midnight(tz, from)..local_midnight(tz, to.succ_opt().unwrap_or(to));
    let rollups = device_rollups(tenant, &gateway.id, devices, range).await?;
    let mut settled = Vec::new();
    for date in missing {
        let summary = DaySummary::compute(site, &rollups, date, now);
        if daily::settled(tz, date, now) && !settling {
            settled.push(summary.clone());
        }
        days.insert(date, summary);
    }
    if !settled.is_empty()
        && let Err(e) = tenant.put_day_summaries(&gateway.id, tz, basis, &settled).await
    {
        // The report stands; the summaries are computed again next time.
        warn!(gateway = %gateway.id, error = %e, "could not store day summaries");
    }
    Ok(days)
}

/// A site at a glance: today's report, its state and its current power.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteSnapshot {
    /// Today's report (local day).
    pub today: SiteReport,
    /// Online, offline or in fault.
    pub status: SiteStatus,
    /// Producers' current AC power, W.
    pub current_power: Option<f64>,
}

/// Today's report, state and current power of a site, from one read of today's rollups.
/// `faulty` lists devices with an open fault alert.
pub async fn site_snapshot(
    tenant: &dyn TenantStore,
    gateway: &Gateway,
    devices: &[Device],
    timezone: Tz,
    faulty: &[DeviceId],
    now: DateTime<Utc>,
    offline_after: TimeDelta,
) -> Result<SiteSnapshot, StoreError> {
    let period = Period::Day { date: local_date(timezone, now) };
    let (rollups, commissioned) = futures::try_join!(
        device_rollups(tenant, &gateway.id, devices, period.bounds(timezone)),
        tenant.first_rollup_hour(&gateway.id)
    )?;
    let site = SiteFacts::of(gateway, timezone, commissioned);
    Ok(SiteSnapshot {
        today: SiteReport::compute(site, &rollups, period, now),
        status: site_status(gateway, &rollups, faulty, now, offline_after),
        current_power: current_power(&rollups, now, offline_after),
    })
}

/// True for devices whose AC power belongs on the power chart (not sensors or string monitors).
pub fn has_power_curve(kind: DeviceKind) -> bool {
    matches!(kind, DeviceKind::Inverter | DeviceKind::Meter | DeviceKind::Other)
}

/// The power curves of a local day, one per device with power readings, from raw readings.
pub async fn day_curves(
    tenant: &dyn TenantStore,
    gateway: &GatewayId,
    devices: &[Device],
    date: NaiveDate,
    timezone: Tz,
) -> Result<Vec<DeviceCurve>, StoreError> {
    let bounds = Period::Day { date }.bounds(timezone);
    let curves = try_join_all(devices.iter().filter(|d| has_power_curve(d.kind)).map(|device| {
        let bounds = bounds.clone();
        async move {
            let mut builder = CurveBuilder::default();
            let mut from = bounds.start;
            loop {
                let page = tenant.readings(gateway, &device.id, from..bounds.end, CURVE_PAGE).await?;
                builder.extend(&page);
                match page.last() {
                    Some(last) if page.len() == CURVE_PAGE => from = last.ts + TimeDelta::milliseconds(1),
                    _ => break,
                }
            }
            Ok::<_, StoreError>(DeviceCurve {
                device: device.id.clone(),
                kind: device.kind,
                points: builder.finish(),
            })
        }
    }))
    .await?;
    Ok(curves.into_iter().filter(|c| !c.points.is_empty()).collect())
}
