//! The daylight the offline alert watches: from sunrise to sunset where the site's location is
//! known, else what the monitor learns of the site from its reports, the local hours in which it
//! produces.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Timelike, Utc};
use chrono_tz::Tz;

use super::rules::Daylight;
use crate::domain::Gateway;
use crate::reports::comparable::devices_with_rollups;
use crate::reports::daylight::DaylightRule;
use crate::reports::site::{self, DeviceRollups};
use crate::store::{StoreError, TenantStore};

/// Days of production the learned daylight needs; with fewer the default hours are used.
const DAYLIGHT_MIN_DAYS: usize = 3;

/// Today's sunrise to sunset at the site when its location is known; else the local hours in
/// which it produced over the last week (its producers' peaks above zero), or the default hours
/// until it has produced on `DAYLIGHT_MIN_DAYS` days.
pub async fn daylight(
    tenant: &dyn TenantStore,
    gateway: &Gateway,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<Daylight, StoreError> {
    if let Some(location) = gateway.location {
        let today = now.with_timezone(&tz).date_naive();
        return Ok(Daylight::of_span(DaylightRule::Sun(location).span(today, tz), tz));
    }
    let loaded = devices_with_rollups(tenant, gateway, now - TimeDelta::days(7)..now).await?;
    let devices: Vec<DeviceRollups> = loaded.into_iter().map(|(_, d)| d).collect();
    let producing: Vec<DateTime<Tz>> = site::producers(&devices)
        .into_iter()
        .flat_map(|d| d.rollups.iter())
        .filter(|r| r.peak_power.is_some_and(|p| p > 0.0))
        .map(|r| r.hour.with_timezone(&tz))
        .collect();
    let days: std::collections::BTreeSet<NaiveDate> = producing.iter().map(|t| t.date_naive()).collect();
    if days.len() < DAYLIGHT_MIN_DAYS {
        return Ok(Daylight::DEFAULT);
    }
    let from = producing.iter().map(|t| t.hour()).min().unwrap_or(8);
    let to = producing.iter().map(|t| t.hour()).max().unwrap_or(17) + 1;
    let time = |h: u32| NaiveTime::from_hms_opt(h, 0, 0);
    Ok(match (time(from), time(to).or(NaiveTime::from_hms_opt(23, 59, 59))) {
        (Some(from), Some(to)) => Daylight { from, to },
        _ => Daylight::DEFAULT,
    })
}
