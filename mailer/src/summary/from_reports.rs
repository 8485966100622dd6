//! The only place that turns the shared report computation (`heliograph_shared::reports`, the
//! same code the web panel uses) into what the mailer says. Nothing here computes energy: it
//! loads rollups, asks [`SiteReport`] for each site and period, and copies the figures over.

use chrono::{DateTime, Days, Utc};
use chrono_tz::Tz;
use heliograph_shared::reports::comparable;
use heliograph_shared::reports::site::{self, DeviceRollups, EnergyFlows, SiteFacts, SiteReport};
use heliograph_shared::store::{StoreError, TenantStore};
use heliograph_shared::{DeviceKind, Gateway};

use crate::summary::figures::{ChartBar, DeviceSummary, EnergyTotals, Peak, SiteSummary, SummaryData};
use crate::summary::{Cadence, SummaryPeriod};

/// Why report data could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// The store failed while rollups were read; the delivery is retried.
    #[error("cannot read report data: {0}")]
    Store(#[from] StoreError),
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
        let facts = SiteFacts::of(gateway, tz, None);
        let loaded = comparable::devices_with_rollups(tenant, gateway, bounds.clone()).await?;
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
        if let Some(previous) =
            comparable::production_kwh(tenant, gateway, reported.previous(), facts, now).await?
        {
            *summary.previous_kwh.get_or_insert(0.0) += previous;
        }
        if let Some(earlier) = period.a_year_earlier()
            && let Some(kwh) =
                comparable::production_kwh(tenant, gateway, earlier.report_period(), facts, now).await?
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
            has_irradiance: report.has_irradiance,
            performance_ratio: report.performance_ratio,
            peak: site_peak,
            devices,
        });
    }
    summary.totals = totals(&flows);
    summary.specific_yield = site::specific_yield(flows.production_wh, summary.capacity_kwp);
    summary.chart = chart.into_iter().map(|(label, kwh)| ChartBar { label, kwh }).collect();
    Ok(summary)
}
