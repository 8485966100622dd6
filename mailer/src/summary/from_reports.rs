//! The only place that turns the shared report computation (`heliograph_shared::reports`, the
//! same code the web panel uses) into what the mailer says. Nothing here computes energy: it
//! loads rollups, asks [`SiteReport`] for each site and period, and copies the figures over.

use std::ops::Range;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeDelta, Timelike, Utc};
use chrono_tz::Tz;
use heliograph_shared::reports;
use heliograph_shared::reports::period::Period as ReportPeriod;
use heliograph_shared::reports::site::{self, DeviceRollups, EnergyFlows, SiteFacts, SiteReport};
use heliograph_shared::store::{StoreError, TenantStore};
use heliograph_shared::{Device, DeviceKind, Gateway};

use crate::alerts::rules::Daylight;
use crate::summary::figures::{ChartBar, DeviceSummary, EnergyTotals, Peak, SiteSummary, SummaryData};
use crate::summary::{Cadence, SummaryPeriod};

/// Why report data could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// The store failed while rollups were read; the delivery is retried.
    #[error("cannot read report data: {0}")]
    Store(#[from] StoreError),
}

/// A site's devices with their rollups for `range` and the history the report needs before it,
/// read through the shared report loader.
async fn load(
    tenant: &dyn TenantStore,
    gateway: &Gateway,
    range: Range<DateTime<Utc>>,
) -> Result<Vec<(Device, DeviceRollups)>, ContentError> {
    let devices = tenant.devices(&gateway.id).await?;
    let rollups = reports::device_rollups(tenant, &gateway.id, &devices, range).await?;
    Ok(devices.into_iter().zip(rollups).collect())
}

fn has_data(devices: &[DeviceRollups], range: &Range<DateTime<Utc>>) -> bool {
    devices.iter().any(|d| d.rollups.iter().any(|r| range.contains(&r.hour)))
}

fn totals(flows: &EnergyFlows) -> EnergyTotals {
    let kwh = |wh: f64| wh / 1000.0;
    EnergyTotals {
        produced_kwh: kwh(flows.production_wh),
        consumed_kwh: flows.consumption_wh.map(kwh),
        imported_kwh: flows.grid_import_wh.map(kwh),
        exported_kwh: flows.grid_export_wh.map(kwh),
        self_consumed_kwh: flows.self_consumption_wh.map(kwh),
    }
}

fn peak(p: Option<site::Peak>) -> Option<Peak> {
    p.map(|p| Peak { kw: p.watts / 1000.0, at: p.at })
}

/// Share of a period's daylight a comparison period must have data for: a month with data on
/// four days is no baseline to compare with.
const MIN_BASELINE_AVAILABILITY: f64 = 0.8;

/// Production of a site in a period, kWh, or `None` when it has too little data then to compare
/// with.
async fn production(
    tenant: &dyn TenantStore,
    gateway: &Gateway,
    period: ReportPeriod,
    facts: SiteFacts,
    now: DateTime<Utc>,
) -> Result<Option<f64>, ContentError> {
    let bounds = period.bounds(facts.timezone);
    let devices: Vec<DeviceRollups> =
        load(tenant, gateway, bounds.clone()).await?.into_iter().map(|(_, d)| d).collect();
    if !has_data(&devices, &bounds) {
        return Ok(None);
    }
    let report = SiteReport::compute(facts, &devices, period, now);
    if report.availability.is_none_or(|a| a < MIN_BASELINE_AVAILABILITY) {
        return Ok(None);
    }
    Ok(Some(report.total.production_wh / 1000.0))
}

fn chart_label(period: SummaryPeriod, index: usize, bucket_label: &str) -> String {
    match period.kind() {
        Cadence::Day => bucket_label.split(':').next().unwrap_or(bucket_label).to_owned(),
        Cadence::Week => {
            let date = period.start_date() + Days::new(index as u64);
            date.format("%a").to_string()
        }
        Cadence::Month => bucket_label.to_owned(),
    }
}

/// A customer's summary of `period` over `sites`, read in `tz`.
pub async fn summary_data(
    tenant: &dyn TenantStore,
    sites: &[Gateway],
    period: SummaryPeriod,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<SummaryData, ContentError> {
    let reported = period.report_period();
    let bounds = reported.bounds(tz);
    let mut summary = SummaryData {
        period,
        totals: EnergyTotals::default(),
        previous_kwh: None,
        last_year_kwh: None,
        peak: None,
        specific_yield: None,
        capacity_kwp: 0.0,
        sites: Vec::new(),
        chart: Vec::new(),
    };
    let mut flows = EnergyFlows::default();
    let mut chart: Vec<(String, f64)> = Vec::new();
    for gateway in sites {
        let facts = SiteFacts { capacity_kwp: gateway.capacity_kwp, timezone: tz, commissioned: None };
        let loaded = load(tenant, gateway, bounds.clone()).await?;
        let all: Vec<DeviceRollups> = loaded.iter().map(|(_, d)| d.clone()).collect();
        let report = SiteReport::compute(facts, &all, reported, now);
        for (i, bucket) in report.buckets.iter().enumerate() {
            if chart.len() <= i {
                chart.push((chart_label(period, i, &bucket.label), 0.0));
            }
            chart[i].1 += bucket.flows.production_wh / 1000.0;
        }
        let mut devices = Vec::new();
        for (device, rollups) in &loaded {
            let alone = SiteReport::compute(facts, std::slice::from_ref(rollups), reported, now);
            let producing = !site::producers(std::slice::from_ref(rollups)).is_empty();
            devices.push(DeviceSummary {
                id: device.id.clone(),
                kind: device.kind,
                model: match (&device.manufacturer, &device.model) {
                    (Some(m), Some(model)) => Some(format!("{m} {model}")),
                    (None, Some(model)) => Some(model.clone()),
                    (Some(m), None) => Some(m.clone()),
                    (None, None) => None,
                },
                energy_kwh: producing.then_some(alone.total.production_wh / 1000.0),
                grid_kwh: match (alone.total.grid_import_wh, alone.total.grid_export_wh) {
                    (Some(import), Some(export)) if device.kind == DeviceKind::Meter => {
                        Some((import / 1000.0, export / 1000.0))
                    }
                    _ => None,
                },
                peak: if producing { peak(alone.peak) } else { None },
            });
        }
        if let Some(previous) = production(tenant, gateway, reported.previous(), facts, now).await? {
            *summary.previous_kwh.get_or_insert(0.0) += previous;
        }
        if let Some(earlier) = period.a_year_earlier()
            && let Some(kwh) = production(tenant, gateway, earlier.report_period(), facts, now).await?
        {
            *summary.last_year_kwh.get_or_insert(0.0) += kwh;
        }
        flows = flows.add(&report.total);
        summary.capacity_kwp += gateway.capacity_kwp;
        let site_peak = peak(report.peak);
        if let Some(p) = &site_peak
            && summary.peak.as_ref().is_none_or(|best| p.kw > best.kw)
        {
            summary.peak = Some(p.clone());
        }
        summary.sites.push(SiteSummary {
            gateway: gateway.id.clone(),
            name: gateway.site_name.clone(),
            capacity_kwp: gateway.capacity_kwp,
            totals: totals(&report.total),
            specific_yield: report.specific_yield,
            peak: site_peak,
            devices,
        });
    }
    summary.totals = totals(&flows);
    summary.specific_yield = site::specific_yield(flows.production_wh, summary.capacity_kwp);
    summary.chart = chart.into_iter().map(|(label, kwh)| ChartBar { label, kwh }).collect();
    Ok(summary)
}

/// A site's specific yield (kWh/kWp) on one local day, or `None` without data or capacity.
pub async fn day_yield(
    tenant: &dyn TenantStore,
    gateway: &Gateway,
    date: NaiveDate,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<Option<f64>, ContentError> {
    let facts = SiteFacts { capacity_kwp: gateway.capacity_kwp, timezone: tz, commissioned: None };
    let kwh = production(tenant, gateway, ReportPeriod::Day { date }, facts, now).await?;
    Ok(kwh.and_then(|kwh| site::specific_yield(kwh * 1000.0, gateway.capacity_kwp)))
}

/// Days of production the learned daylight needs; with fewer the default hours are used.
const DAYLIGHT_MIN_DAYS: usize = 3;

/// The local hours in which a site produced over the last week (its producers' peaks above
/// zero), as the daylight the offline alert watches; the default hours until it has produced on
/// `DAYLIGHT_MIN_DAYS` days.
pub async fn daylight(
    tenant: &dyn TenantStore,
    gateway: &Gateway,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<Daylight, ContentError> {
    let loaded = load(tenant, gateway, now - TimeDelta::days(7)..now).await?;
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
