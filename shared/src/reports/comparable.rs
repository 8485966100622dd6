//! A site's production in a period when there is enough of it to compare with: what the
//! summary's "compared with last month" and the underperformance alert's own history and peers
//! both need, computed by the same [`SiteReport`] as every page.

use std::ops::Range;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use super::performance::{self, PairedHours};
use super::period::Period;
use super::site::{self, DeviceRollups, SiteFacts, SiteReport};
use crate::domain::{Device, Gateway};
use crate::store::{StoreError, TenantStore};

/// Share of a period's daylight a comparison period must have data for: a month with data on
/// four days is no baseline to compare with.
const MIN_BASELINE_AVAILABILITY: f64 = 0.8;

/// A site's devices with their rollups for `range` and the history the report needs before it.
pub async fn devices_with_rollups(
    tenant: &dyn TenantStore,
    gateway: &Gateway,
    range: Range<DateTime<Utc>>,
) -> Result<Vec<(Device, DeviceRollups)>, StoreError> {
    let devices = tenant.devices(&gateway.id).await?;
    let rollups = super::device_rollups(tenant, &gateway.id, &devices, range).await?;
    Ok(devices.into_iter().zip(rollups).collect())
}

/// Whether any device has a rollup of an hour in `range`.
pub fn has_data(devices: &[DeviceRollups], range: &Range<DateTime<Utc>>) -> bool {
    devices.iter().any(|d| d.rollups.iter().any(|r| range.contains(&r.hour)))
}

/// Production of a site in a period, kWh, or `None` when it has too little data then to compare
/// with.
pub async fn production_kwh(
    tenant: &dyn TenantStore,
    gateway: &Gateway,
    period: Period,
    facts: SiteFacts,
    now: DateTime<Utc>,
) -> Result<Option<f64>, StoreError> {
    let bounds = period.bounds(facts.timezone);
    let devices: Vec<DeviceRollups> =
        devices_with_rollups(tenant, gateway, bounds.clone()).await?.into_iter().map(|(_, d)| d).collect();
    if !has_data(&devices, &bounds) {
        return Ok(None);
    }
    let report = SiteReport::compute(facts, &devices, period, now);
    if report.availability.is_none_or(|a| a < MIN_BASELINE_AVAILABILITY) {
        return Ok(None);
    }
    Ok(Some(report.total.production_wh / 1000.0))
}

/// A site's specific yield (kWh/kWp) on one local day, or `None` without enough data or
/// capacity.
pub async fn day_yield(
    tenant: &dyn TenantStore,
    gateway: &Gateway,
    date: NaiveDate,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<Option<f64>, StoreError> {
    let facts = SiteFacts::of(gateway, tz, None);
    let kwh = production_kwh(tenant, gateway, Period::Day { date }, facts, now).await?;
    Ok(kwh.and_then(|kwh| site::specific_yield(kwh * 1000.0, gateway.capacity_kwp)))
}

/// A site's hours with both production and irradiance data on one local day, summed; none
/// without an irradiance sensor.
pub async fn day_irradiance(
    tenant: &dyn TenantStore,
    gateway: &Gateway,
    date: NaiveDate,
    tz: Tz,
) -> Result<Option<PairedHours>, StoreError> {
    let period = Period::Day { date };
    let devices: Vec<DeviceRollups> =
        devices_with_rollups(tenant, gateway, period.bounds(tz)).await?.into_iter().map(|(_, d)| d).collect();
    Ok(performance::paired_hours(&devices, &period.buckets(tz)).map(|hours| hours.into_iter().sum()))
}
