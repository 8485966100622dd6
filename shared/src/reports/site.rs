//! A site's report for one period: energy flows per bucket and in total, peak power, specific
//! yield and availability, computed from its devices' hourly rollups only.
//!
//! - **Production** is what the site's inverters made (devices of kind `other` stand in when a
//!   site has no inverter).
//! - Where a **meter** reports: grid import and export (from its import/export counters, else
//!   the positive and negative parts of its integrated power), consumption = production +
//!   import − export, self-consumption = production − export.
//! - **Peak power** is the highest hourly sum of the producers' peaks (exact with one inverter,
//!   an upper bound with several), at the time of the largest contributor's peak.
//! - **Availability** is the share of daylight minutes with data, daylight being the hours between
//!   sunrise and sunset where the site's location is known, else the local clock hours 06 to 20
//!   ([`DaylightRule`]), of hours already over and after the site's commissioning. A device's full
//!   hour is its best-covered hour of the same day, so a gateway reporting every five minutes is
//!   not 20 % available.
//! - **Performance ratio** where an irradiance sensor reports: final yield over reference yield
//!   over the hours in which both were measured ([`performance`]).
//! - Every bucket says whether its figures were measured ([`Coverage`]), so that an hour without
//!   readings, a day before the site existed or a month to come is never shown as a real zero.

use std::collections::BTreeMap;
use std::ops::Range;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::daylight::DaylightRule;
use super::energy::{self, Counter};
use super::performance::{self, PairedHours};
use super::period::{Bucket, Period, Resolution};
use super::rollup::{HourlyRollup, truncate_hour};
use crate::domain::{DeviceId, DeviceKind};

/// One device's rollups for a period and the history before it, in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRollups {
    /// The device.
    pub device: DeviceId,
    /// What it is (decides whether it produces or meters).
    pub kind: DeviceKind,
    /// Its rollups.
    pub rollups: Vec<HourlyRollup>,
}

/// Energy that flowed in a bucket or period, Wh. Grid figures only where a meter reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct EnergyFlows {
    /// Produced by the plant.
    pub production_wh: f64,
    /// Drawn from the grid.
    pub grid_import_wh: Option<f64>,
    /// Fed into the grid.
    pub grid_export_wh: Option<f64>,
    /// Used on site.
    pub consumption_wh: Option<f64>,
    /// Produced and used on site.
    pub self_consumption_wh: Option<f64>,
}

impl EnergyFlows {
    /// The flows from production and, where a meter reports, grid import and export.
    pub fn new(production_wh: f64, grid: Option<(f64, f64)>) -> Self {
        Self {
            production_wh,
            grid_import_wh: grid.map(|(import, _)| import),
            grid_export_wh: grid.map(|(_, export)| export),
            consumption_wh: grid.map(|(import, export)| consumption(production_wh, import, export)),
            self_consumption_wh: grid.map(|(_, export)| self_consumption(production_wh, export)),
        }
    }

    /// The sum of two flows (grid figures where both or either have them).
    pub fn add(&self, other: &Self) -> Self {
        let add = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        };
        Self {
            production_wh: self.production_wh + other.production_wh,
            grid_import_wh: add(self.grid_import_wh, other.grid_import_wh),
            grid_export_wh: add(self.grid_export_wh, other.grid_export_wh),
            consumption_wh: add(self.consumption_wh, other.consumption_wh),
            self_consumption_wh: add(self.self_consumption_wh, other.self_consumption_wh),
        }
    }
}

/// Energy used on site: production + import − export (never below zero).
pub fn consumption(production_wh: f64, import_wh: f64, export_wh: f64) -> f64 {
    (production_wh + import_wh - export_wh).max(0.0)
}

/// Produced energy used on site: production − export (never below zero).
pub fn self_consumption(production_wh: f64, export_wh: f64) -> f64 {
    (production_wh - export_wh).max(0.0)
}

/// kWh per installed kWp; none without a positive capacity.
pub fn specific_yield(production_wh: f64, capacity_kwp: f64) -> Option<f64> {
    (capacity_kwp.is_finite() && capacity_kwp > 0.0).then(|| production_wh / 1000.0 / capacity_kwp)
}

/// The highest power and when it was measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Peak {
    /// Power, W.
    pub watts: f64,
    /// When.
    pub at: DateTime<Utc>,
}

/// Whether a bucket's figures were measured, or why there are none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Coverage {
    /// A device reported in it: its figures are measured, a zero included.
    Data,
    /// It has begun and nothing was reported.
    NoData,
    /// It ended before the site's first data.
    BeforeCommissioning,
    /// It has not begun.
    Future,
}

impl Coverage {
    /// The coverage of `start..end`, given whether anything was reported in it.
    pub fn of(
        span: Range<DateTime<Utc>>,
        has_data: bool,
        commissioned: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Self {
        if span.start >= now {
            Self::Future
        } else if has_data {
            Self::Data
        } else if commissioned.is_some_and(|c| span.end <= c) {
            Self::BeforeCommissioning
        } else {
            Self::NoData
        }
    }

    /// A period's coverage from its buckets': measured when any bucket is; otherwise future
    /// when all are, before commissioning when none is after it, else without data.
    pub fn of_period(buckets: impl IntoIterator<Item = Self>) -> Self {
        let (mut data, mut future, mut before, mut missing) = (false, true, false, false);
        for coverage in buckets {
            data |= coverage == Self::Data;
            future &= coverage == Self::Future;
            before |= coverage == Self::BeforeCommissioning;
            missing |= coverage == Self::NoData;
        }
        match () {
            () if data => Self::Data,
            () if future => Self::Future,
            () if before && !missing => Self::BeforeCommissioning,
            () => Self::NoData,
        }
    }

    /// True when the figures were measured.
    pub fn measured(self) -> bool {
        self == Self::Data
    }

    /// How a missing figure reads: "No data", "Not yet commissioned", "Future".
    pub fn words(self) -> &'static str {
        match self {
            Self::Data => "Measured",
            Self::NoData => "No data",
            Self::BeforeCommissioning => "Not yet commissioned",
            Self::Future => "Future",
        }
    }
}

/// One bucket's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketReport {
    /// Start, UTC.
    pub start: DateTime<Utc>,
    /// End, UTC, excluded.
    pub end: DateTime<Utc>,
    /// Local label ("14:00", "21", "Jun").
    pub label: String,
    /// Energy.
    pub flows: EnergyFlows,
    /// Peak production power in the bucket.
    pub peak: Option<Peak>,
    /// Whether the figures were measured; zeros stand in for those that were not.
    pub coverage: Coverage,
    /// Performance ratio (0-1), IEC 61724-1; none without an irradiance sensor, capacity or
    /// enough paired insolation (see [`performance`]).
    pub performance_ratio: Option<f64>,
}

/// What a site is, as far as its report cares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SiteFacts {
    /// Installed capacity, kWp.
    pub capacity_kwp: f64,
    /// The site's timezone (its customer's, else its provider's).
    pub timezone: Tz,
    /// When the site's first data arrived (the hour of its first rollup); none when unknown.
    pub commissioned: Option<DateTime<Utc>>,
    /// Which hours are daylight there.
    pub daylight: DaylightRule,
}

impl SiteFacts {
    /// What the reports take from `gateway`, read in `timezone`, commissioned when known.
    pub fn of(gateway: &crate::domain::Gateway, timezone: Tz, commissioned: Option<DateTime<Utc>>) -> Self {
        Self {
            capacity_kwp: gateway.capacity_kwp,
            timezone,
            commissioned,
            daylight: DaylightRule::of(gateway.location),
        }
    }
}

/// A site's report for one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteReport {
    /// The period.
    pub period: Period,
    /// The timezone the period is read in.
    pub timezone: Tz,
    /// Installed capacity, kWp.
    pub capacity_kwp: f64,
    /// True when a meter reports, so grid figures are known.
    pub has_meter: bool,
    /// Figures per hour, day or month.
    pub buckets: Vec<BucketReport>,
    /// Figures for the whole period.
    pub total: EnergyFlows,
    /// Peak production power in the period.
    pub peak: Option<Peak>,
    /// kWh per kWp.
    pub specific_yield: Option<f64>,
    /// Share of daylight minutes with data, 0-1, counted from commissioning; none before any
    /// such daylight hour is over.
    pub availability: Option<f64>,
    /// Whether the period's figures were measured, or why there are none.
    pub coverage: Coverage,
    /// True when an irradiance sensor belongs to the site, so a performance ratio can be known.
    pub has_irradiance: bool,
    /// Performance ratio (0-1) over the period's paired hours, IEC 61724-1 (see [`performance`]).
    pub performance_ratio: Option<f64>,
    /// When the site's first data arrived, when known.
    pub commissioned: Option<DateTime<Utc>>,
}

/// The devices whose energy is production: inverters, or when a site has none, devices of
/// kind `other`.
pub fn producers(devices: &[DeviceRollups]) -> Vec<&DeviceRollups> {
    let inverters: Vec<&DeviceRollups> = devices.iter().filter(|d| d.kind == DeviceKind::Inverter).collect();
    if inverters.is_empty() {
        devices.iter().filter(|d| d.kind == DeviceKind::Other).collect()
    } else {
        inverters
    }
}

impl SiteReport {
    /// Computes the report of `period` from the devices' rollups (which may start up to
    /// [`energy::MAX_COUNTER_GAP`] before the period). `now` bounds availability.
    pub fn compute(site: SiteFacts, devices: &[DeviceRollups], period: Period, now: DateTime<Utc>) -> Self {
        let tz = site.timezone;
        let buckets = period.buckets(tz);
        let bounds = period.bounds(tz);
        let producers = producers(devices);
        let meters: Vec<&DeviceRollups> = devices.iter().filter(|d| d.kind == DeviceKind::Meter).collect();

        let mut production = vec![0.0; buckets.len()];
        for device in &producers {
            energy::into_buckets(
                &energy::energy(&device.rollups, Counter::Production, false),
                &buckets,
                &mut production,
            );
        }
        let has_meter = meters.iter().any(|m| m.rollups.iter().any(|r| r.hour >= bounds.start));
        let grid = has_meter.then(|| {
            let mut import = vec![0.0; buckets.len()];
            let mut export = vec![0.0; buckets.len()];
            for meter in &meters {
                energy::into_buckets(
                    &energy::energy(&meter.rollups, Counter::Import, false),
                    &buckets,
                    &mut import,
                );
                energy::into_buckets(
                    &energy::energy(&meter.rollups, Counter::Export, true),
                    &buckets,
                    &mut export,
                );
            }
            (import, export)
        });

        let peaks = bucket_peaks(&producers, &buckets);
        let coverage = buckets
            .iter()
            .map(|b| {
                let span = b.start..b.end;
                Coverage::of(
                    span.clone(),
                    reported(devices, &span, period, tz, site.daylight),
                    site.commissioned,
                    now,
                )
            })
            .collect();
        let counted =
            site.commissioned.map_or(bounds.start, |c| bounds.start.max(truncate_hour(c)))..bounds.end;
        let availability = availability(&producers, counted, tz, site.daylight, now);
        let paired = performance::paired_hours(devices, &buckets);
        let sums = BucketSums { production, grid, peaks, coverage, paired };
        Self::assemble(site, period, buckets, sums, availability)
    }

    /// The report from each bucket's sums: totals, the period's peak and specific yield follow.
    pub(super) fn assemble(
        site: SiteFacts,
        period: Period,
        buckets: Vec<Bucket>,
        sums: BucketSums,
        availability: Option<f64>,
    ) -> Self {
        let BucketSums { production, grid, peaks, coverage, paired } = sums;
        let ratio = |i: usize| paired.as_ref().and_then(|p| p[i].ratio(site.capacity_kwp));
        let reports: Vec<BucketReport> = buckets
            .into_iter()
            .enumerate()
            .map(|(i, bucket)| BucketReport {
                flows: EnergyFlows::new(production[i], grid.as_ref().map(|(im, ex)| (im[i], ex[i]))),
                peak: peaks[i],
                coverage: coverage[i],
                performance_ratio: ratio(i),
                start: bucket.start,
                end: bucket.end,
                label: bucket.label,
            })
            .collect();
        let sum = |values: &[f64]| values.iter().sum::<f64>();
        let total = EnergyFlows::new(sum(&production), grid.as_ref().map(|(im, ex)| (sum(im), sum(ex))));
        let peak = reports.iter().filter_map(|b| b.peak).fold(None, |best: Option<Peak>, p| match best {
            Some(b) if b.watts >= p.watts => Some(b),
            _ => Some(p),
        });
        Self {
            period,
            timezone: site.timezone,
            capacity_kwp: site.capacity_kwp,
            has_meter: grid.is_some(),
            specific_yield: specific_yield(total.production_wh, site.capacity_kwp),
            availability,
            coverage: Coverage::of_period(coverage),
            has_irradiance: paired.is_some(),
            performance_ratio: paired
                .as_ref()
                .and_then(|p| p.iter().copied().sum::<PairedHours>().ratio(site.capacity_kwp)),
            commissioned: site.commissioned,
            buckets: reports,
            total,
            peak,
        }
    }
}

/// A period's figures per bucket, before they become a [`SiteReport`].
pub(super) struct BucketSums {
    /// Production per bucket, Wh.
    pub(super) production: Vec<f64>,
    /// Grid import and export per bucket, Wh, where a meter reports.
    pub(super) grid: Option<(Vec<f64>, Vec<f64>)>,
    /// Peak production power per bucket.
    pub(super) peaks: Vec<Option<Peak>>,
    /// Whether each bucket was measured.
    pub(super) coverage: Vec<Coverage>,
    /// The paired hours of each bucket, where an irradiance sensor reports (performance ratio).
    pub(super) paired: Option<Vec<PairedHours>>,
}

/// Whether `span` holds data: for an hour, any rollup of a producer (of any device where none
/// produces); for a day or longer, one in a daylight hour, since production is what such a
/// bucket shows and a gateway that fell silent at dawn did not produce zero that day.
fn reported(
    devices: &[DeviceRollups],
    span: &Range<DateTime<Utc>>,
    period: Period,
    tz: Tz,
    daylight: DaylightRule,
) -> bool {
    let producers = producers(devices);
    let reporters: Vec<&DeviceRollups> =
        if producers.is_empty() { devices.iter().collect() } else { producers };
    let in_span = |d: &&DeviceRollups| d.rollups.iter().any(|r| span.contains(&r.hour));
    if period.resolution() == Resolution::Hour {
        return reporters.iter().any(in_span);
    }
    let in_daylight = reporters
        .iter()
        .any(|d| d.rollups.iter().any(|r| span.contains(&r.hour) && daylight.is_daylight_hour(r.hour, tz)));
    // A span without a daylight hour (a polar night) was measured if anything reported in it.
    in_daylight || (!has_daylight_hour(span, tz, daylight) && reporters.iter().any(in_span))
}

/// Whether any hour of `span` is daylight.
fn has_daylight_hour(span: &Range<DateTime<Utc>>, tz: Tz, daylight: DaylightRule) -> bool {
    let mut hour = truncate_hour(span.start);
    while hour < span.end {
        if daylight.is_daylight_hour(hour, tz) {
            return true;
        }
        hour += TimeDelta::hours(1);
    }
    false
}

/// Each bucket's peak: the highest hourly sum of the producers' peaks.
fn bucket_peaks(producers: &[&DeviceRollups], buckets: &[Bucket]) -> Vec<Option<Peak>> {
    // hour → (sum of peaks, largest single peak, its time)
    let mut hours: BTreeMap<DateTime<Utc>, (f64, f64, DateTime<Utc>)> = BTreeMap::new();
    for device in producers {
        for r in &device.rollups {
            let (Some(watts), Some(at)) = (r.peak_power, r.peak_at) else { continue };
            let entry = hours.entry(r.hour).or_insert((0.0, f64::MIN, at));
            entry.0 += watts;
            if watts > entry.1 {
                (entry.1, entry.2) = (watts, at);
            }
        }
    }
    let mut peaks: Vec<Option<Peak>> = vec![None; buckets.len()];
    // A bucket where nothing produced has no peak (not a peak of 0 W at midnight).
    for (hour, (sum, _, at)) in hours.into_iter().filter(|(_, (sum, _, _))| *sum > 0.0) {
        if let Some(index) = energy::bucket_index(buckets, hour)
            && peaks[index].is_none_or(|p| sum > p.watts)
        {
            peaks[index] = Some(Peak { watts: sum, at });
        }
    }
    peaks
}

/// Share of the daylight minutes in `bounds` (hours over by `now`) in which the producers
/// reported, averaged over producers; none when no daylight hour is over or nothing produces.
///
/// A device's full hour is its best-covered hour of the same local day, so its reporting
/// interval may change from one day to the next (five minutes, then one) without skewing
/// the figure; a day without any data counts as fully unavailable.
pub fn availability(
    producers: &[&DeviceRollups],
    bounds: Range<DateTime<Utc>>,
    tz: Tz,
    rule: DaylightRule,
    now: DateTime<Utc>,
) -> Option<f64> {
    if producers.is_empty() {
        return None;
    }
    let days = daylight(&bounds, tz, rule, now);
    let daylight_hours: usize = days.values().map(Vec::len).sum();
    if daylight_hours == 0 {
        return None;
    }
    let shares = producers.iter().map(|device| {
        let minutes: BTreeMap<DateTime<Utc>, u32> = device
            .rollups
            .iter()
            .filter(|r| bounds.contains(&r.hour))
            .map(|r| (r.hour, r.minutes_with_data.min(60)))
            .collect();
        let mut full_hour: BTreeMap<NaiveDate, u32> = BTreeMap::new();
        for (hour, m) in &minutes {
            let best = full_hour.entry(hour.with_timezone(&tz).date_naive()).or_default();
            *best = (*best).max(*m);
        }
        let covered: f64 = days
            .iter()
            .map(|(day, hours)| match full_hour.get(day).copied().unwrap_or(0) {
                0 => 0.0,
                full => {
                    let got: u32 = hours.iter().map(|h| minutes.get(h).copied().unwrap_or(0).min(full)).sum();
                    f64::from(got) / f64::from(full)
                }
            })
            .sum();
        covered / daylight_hours as f64
    });
    Some(shares.sum::<f64>() / producers.len() as f64)
}

/// The daylight hours in `bounds` that are over by `now`, grouped by local day.
fn daylight(
    bounds: &Range<DateTime<Utc>>,
    tz: Tz,
    rule: DaylightRule,
    now: DateTime<Utc>,
) -> BTreeMap<NaiveDate, Vec<DateTime<Utc>>> {
    let mut days: BTreeMap<NaiveDate, Vec<DateTime<Utc>>> = BTreeMap::new();
    let mut hour = truncate_hour(bounds.start);
    while hour < bounds.end && hour + TimeDelta::hours(1) <= now {
        let local = hour.with_timezone(&tz);
        if hour >= bounds.start && rule.is_daylight_hour(hour, tz) {
            days.entry(local.date_naive()).or_default().push(hour);
        }
        hour += TimeDelta::hours(1);
    }
    days
}

/// How many daylight hours of `bounds` are over by `now`: what [`availability`] divides by.
pub fn daylight_hours(
    bounds: &Range<DateTime<Utc>>,
    tz: Tz,
    rule: DaylightRule,
    now: DateTime<Utc>,
) -> usize {
    daylight(bounds, tz, rule, now).values().map(Vec::len).sum()
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};

    use super::*;
    use crate::reports::energy::tests::{counted, rollup};

    fn utc(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).single().expect("valid")
    }

    fn at_hour(start: DateTime<Utc>, r: HourlyRollup, offset: i64) -> HourlyRollup {
        HourlyRollup { hour: start + TimeDelta::hours(offset), ..r }
    }

    fn device(kind: DeviceKind, rollups: Vec<HourlyRollup>) -> DeviceRollups {
        DeviceRollups { device: DeviceId::parse("d").expect("valid"), kind, rollups }
    }

    fn berlin() -> Tz {
        "Europe/Berlin".parse().expect("known zone")
    }

    #[test]
    fn daily_energy_adds_gains_and_steps_and_handles_a_reset_on_a_twenty_three_hour_day() {
        // 29 March 2026 in Berlin runs from 28 March 23:00 UTC to 29 March 22:00 UTC.
        let start = utc(2026, 3, 28, 23);
        let r = |offset, first, last, gain| at_hour(start, counted(0, first, last, gain), offset);
        let rollups = vec![
            // The evening before (history): the counter stood at 10 000 Wh.
            r(-3, 10_000.0, 10_000.0, 0.0),
            // 08:00 local (06:00 UTC): 10 020 → 10 500 (20 Wh made before the first reading).
            r(7, 10_020.0, 10_500.0, 480.0),
            // 09:00: 10 500 → 11 000, then the inverter is replaced: 11 000 → reset 0 → 300.
            r(8, 10_500.0, 300.0, 500.0 + 300.0),
            // 10:00: 320 → 900.
            r(9, 320.0, 900.0, 580.0),
            // Next local day (22:00 UTC): not in the period.
            r(23, 2_000.0, 2_000.0, 0.0),
        ];
        let site = SiteFacts {
            capacity_kwp: 5.0,
            timezone: berlin(),
            commissioned: None,
            daylight: DaylightRule::Clock,
        };
        let period = Period::Day { date: NaiveDate::from_ymd_opt(2026, 3, 29).expect("valid") };
        let report =
            SiteReport::compute(site, &[device(DeviceKind::Inverter, rollups)], period, utc(2026, 4, 1, 0));
        assert_eq!(report.buckets.len(), 23);
        // Buckets run 00:00, 01:00, 03:00, …: 06:00 UTC is the eighth, labelled 08:00.
        assert_eq!(report.buckets[7].label, "08:00");
        assert_eq!(report.buckets[7].flows.production_wh, 20.0 + 480.0);
        assert_eq!(report.buckets[8].flows.production_wh, 800.0);
        assert_eq!(report.buckets[9].flows.production_wh, 20.0 + 580.0);
        // 500 + 800 + 600 = 1900 Wh; 1.9 kWh on 5 kWp = 0.38 kWh/kWp.
        assert_eq!(report.total.production_wh, 1900.0);
        assert!(report.specific_yield.is_some_and(|y| (y - 0.38).abs() < 1e-12));
        assert!(!report.has_meter);
        assert_eq!(report.total.grid_import_wh, None);
    }

    #[test]
    fn a_twenty_five_hour_day_counts_both_two_o_clocks() {
        // 25 October 2026 in Berlin runs from 24 October 22:00 UTC to 25 October 23:00 UTC.
        let start = utc(2026, 10, 24, 22);
        let rollups: Vec<HourlyRollup> = (0..25)
            .map(|h| at_hour(start, counted(0, 100.0 * h as f64, 100.0 * h as f64 + 100.0, 100.0), h))
            .collect();
        let site = SiteFacts {
            capacity_kwp: 10.0,
            timezone: berlin(),
            commissioned: None,
            daylight: DaylightRule::Clock,
        };
        let period = Period::Day { date: NaiveDate::from_ymd_opt(2026, 10, 25).expect("valid") };
        let report =
            SiteReport::compute(site, &[device(DeviceKind::Inverter, rollups)], period, utc(2026, 11, 1, 0));
        assert_eq!(report.buckets.len(), 25);
        assert_eq!(report.total.production_wh, 2500.0);
        assert_eq!(report.buckets[2].label, "02:00");
        assert_eq!(report.buckets[3].label, "02:00");
    }

    #[test]
    fn a_month_splits_energy_at_local_midnights() {
        // Two hours either side of local midnight 1→2 June (22:00 UTC on 1 June).
        let rollups = vec![
            at_hour(utc(2026, 6, 1, 21), counted(0, 0.0, 100.0, 100.0), 0),
            at_hour(utc(2026, 6, 1, 22), counted(0, 100.0, 250.0, 150.0), 0),
        ];
        let site = SiteFacts {
            capacity_kwp: 1.0,
            timezone: berlin(),
            commissioned: None,
            daylight: DaylightRule::Clock,
        };
        let report = SiteReport::compute(
            site,
            &[device(DeviceKind::Inverter, rollups)],
            Period::Month { year: 2026, month: 6 },
            utc(2026, 7, 1, 0),
        );
        assert_eq!(report.buckets.len(), 30);
        assert_eq!(report.buckets[0].flows.production_wh, 100.0);
        assert_eq!(report.buckets[1].flows.production_wh, 150.0);
        assert_eq!(report.buckets[1].label, "2");
    }

    #[test]
    fn a_meter_gives_import_export_consumption_and_self_consumption() {
        let inverter = device(DeviceKind::Inverter, vec![counted(10, 0.0, 3000.0, 3000.0)]);
        let meter = device(
            DeviceKind::Meter,
            vec![HourlyRollup {
                import_first: Some(500.0),
                import_last: Some(700.0),
                import_gain: 200.0,
                export_first: Some(1000.0),
                export_last: Some(2200.0),
                export_gain: 1200.0,
                ..rollup(10)
            }],
        );
        let site = SiteFacts {
            capacity_kwp: 3.0,
            timezone: Tz::UTC,
            commissioned: None,
            daylight: DaylightRule::Clock,
        };
        let period = Period::Day { date: NaiveDate::from_ymd_opt(2026, 6, 1).expect("valid") };
        let report = SiteReport::compute(site, &[inverter, meter], period, utc(2026, 6, 2, 0));
        // Production 3000; import 200, export 1200 → consumption 3000 + 200 − 1200 = 2000;
        // self-consumption 3000 − 1200 = 1800.
        assert!(report.has_meter);
        let expected = EnergyFlows {
            production_wh: 3000.0,
            grid_import_wh: Some(200.0),
            grid_export_wh: Some(1200.0),
            consumption_wh: Some(2000.0),
            self_consumption_wh: Some(1800.0),
        };
        assert_eq!(report.total, expected);
        assert_eq!(report.buckets[10].flows, expected);
    }

    #[test]
    fn a_meter_without_counters_splits_its_integrated_power_into_import_and_export() {
        let meter = device(
            DeviceKind::Meter,
            vec![
                HourlyRollup { power_integral: 400.0, ..rollup(7) },
                HourlyRollup { power_integral: -900.0, ..rollup(12) },
            ],
        );
        let inverter =
            device(DeviceKind::Inverter, vec![HourlyRollup { power_integral: 2500.0, ..rollup(12) }]);
        let site = SiteFacts {
            capacity_kwp: 3.0,
            timezone: Tz::UTC,
            commissioned: None,
            daylight: DaylightRule::Clock,
        };
        let period = Period::Day { date: NaiveDate::from_ymd_opt(2026, 6, 1).expect("valid") };
        let report = SiteReport::compute(site, &[inverter, meter], period, utc(2026, 6, 2, 0));
        assert_eq!(report.total.grid_import_wh, Some(400.0));
        assert_eq!(report.total.grid_export_wh, Some(900.0));
        assert_eq!(report.total.consumption_wh, Some(2500.0 + 400.0 - 900.0));
        assert_eq!(report.total.self_consumption_wh, Some(1600.0));
    }

    #[test]
    fn peak_power_is_the_highest_hourly_sum_at_the_largest_contributors_time() {
        let peak = |hour, watts, minute| HourlyRollup {
            peak_power: Some(watts),
            peak_at: Some(rollup(hour).hour + TimeDelta::minutes(minute)),
            ..rollup(hour)
        };
        let a = device(DeviceKind::Inverter, vec![peak(11, 4000.0, 10), peak(12, 5000.0, 20)]);
        let b = device(DeviceKind::Inverter, vec![peak(11, 3000.0, 40), peak(12, 1000.0, 50)]);
        let site = SiteFacts {
            capacity_kwp: 10.0,
            timezone: Tz::UTC,
            commissioned: None,
            daylight: DaylightRule::Clock,
        };
        let period = Period::Day { date: NaiveDate::from_ymd_opt(2026, 6, 1).expect("valid") };
        let report = SiteReport::compute(site, &[a, b], period, utc(2026, 6, 2, 0));
        assert_eq!(
            report.peak,
            Some(Peak { watts: 7000.0, at: utc(2026, 6, 1, 11) + TimeDelta::minutes(10) })
        );
        assert_eq!(report.buckets[12].peak.map(|p| p.watts), Some(6000.0));
    }

    #[test]
    fn availability_is_the_share_of_daylight_minutes_with_data() {
        // UTC site, 14 daylight hours (06-19). Five-minute data: a full hour has 12 minutes
        // with data. Hours 06-12 full, 13 half (6 minutes), 14-19 missing, a night hour full.
        let mut rollups: Vec<HourlyRollup> =
            (6..13).map(|h| HourlyRollup { minutes_with_data: 12, ..rollup(h) }).collect();
        rollups.push(HourlyRollup { minutes_with_data: 6, ..rollup(13) });
        rollups.push(HourlyRollup { minutes_with_data: 12, ..rollup(22) });
        let inverter = device(DeviceKind::Inverter, rollups);
        let period = Period::Day { date: NaiveDate::from_ymd_opt(2026, 6, 1).expect("valid") };
        let site = SiteFacts {
            capacity_kwp: 1.0,
            timezone: Tz::UTC,
            commissioned: None,
            daylight: DaylightRule::Clock,
        };
        // (7 × 12 + 6) / (14 × 12) = 90 / 168.
        let report = SiteReport::compute(site, std::slice::from_ref(&inverter), period, utc(2026, 6, 2, 0));
        assert_eq!(report.availability, Some(90.0 / 168.0));
        // At 10:30 only 06-09 are over: 4 full hours of 4.
        let early = SiteReport::compute(
            site,
            std::slice::from_ref(&inverter),
            period,
            utc(2026, 6, 1, 10) + TimeDelta::minutes(30),
        );
        assert_eq!(early.availability, Some(1.0));
        let before_dawn = SiteReport::compute(site, &[inverter], period, utc(2026, 6, 1, 5));
        assert_eq!(before_dawn.availability, None);
    }

    #[test]
    fn availability_follows_a_change_of_reporting_interval_from_one_day_to_the_next() {
        // Day one (UTC): every daylight hour at 15-minute data (4 minutes with data a full hour).
        // Day two: 5-minute data (12 a full hour), but only 06-12 (7 of 14 hours). Day three:
        // nothing. (14 + 7 + 0) / 42 = 0.5.
        let mut rollups: Vec<HourlyRollup> =
            (6..20).map(|h| HourlyRollup { minutes_with_data: 4, ..rollup(h) }).collect();
        rollups.extend((30..37).map(|h| HourlyRollup { minutes_with_data: 12, ..rollup(h) }));
        let inverter = device(DeviceKind::Inverter, rollups);
        let first = NaiveDate::from_ymd_opt(2026, 6, 1).expect("valid");
        let last = NaiveDate::from_ymd_opt(2026, 6, 3).expect("valid");
        let period = Period::range(first, last).expect("valid range");
        let site = SiteFacts {
            capacity_kwp: 1.0,
            timezone: Tz::UTC,
            commissioned: None,
            daylight: DaylightRule::Clock,
        };
        let report = SiteReport::compute(site, &[inverter], period, utc(2026, 6, 10, 0));
        assert_eq!(report.availability, Some(0.5));
    }

    #[test]
    fn a_silent_site_is_zero_percent_available() {
        let inverter = device(DeviceKind::Inverter, vec![]);
        let period = Period::Day { date: NaiveDate::from_ymd_opt(2026, 6, 1).expect("valid") };
        let site = SiteFacts {
            capacity_kwp: 1.0,
            timezone: Tz::UTC,
            commissioned: None,
            daylight: DaylightRule::Clock,
        };
        let report = SiteReport::compute(site, &[inverter], period, utc(2026, 6, 2, 0));
        assert_eq!(report.availability, Some(0.0));
        assert_eq!(report.total.production_wh, 0.0);
        assert_eq!(report.peak, None);
    }

    #[test]
    fn hours_before_commissioning_without_data_and_to_come_are_told_apart_from_a_measured_zero() {
        // UTC site commissioned at 09:00 on 1 June; it reports every hour from then, producing
        // nothing at 09:00 (a measured zero), except at 12:00 (silent). Seen at 15:30.
        let rollups: Vec<HourlyRollup> = (9..16)
            .filter(|h| *h != 12)
            .map(|h| if h == 9 { rollup(h) } else { counted(h, 0.0, 100.0, 100.0) })
            .collect();
        let inverter = device(DeviceKind::Inverter, rollups);
        let site = SiteFacts {
            capacity_kwp: 1.0,
            timezone: Tz::UTC,
            commissioned: Some(utc(2026, 6, 1, 9)),
            daylight: DaylightRule::Clock,
        };
        let period = Period::Day { date: NaiveDate::from_ymd_opt(2026, 6, 1).expect("valid") };
        let now = utc(2026, 6, 1, 15) + TimeDelta::minutes(30);
        let report = SiteReport::compute(site, &[inverter], period, now);
        let coverage: Vec<Coverage> = report.buckets.iter().map(|b| b.coverage).collect();
        assert_eq!(coverage[8], Coverage::BeforeCommissioning);
        assert_eq!(coverage[9], Coverage::Data);
        assert_eq!(report.buckets[9].flows.production_wh, 0.0, "a measured zero stays a zero");
        assert_eq!(coverage[12], Coverage::NoData);
        assert_eq!(coverage[15], Coverage::Data, "the hour under way has data");
        assert_eq!(coverage[16], Coverage::Future);
        assert_eq!(report.coverage, Coverage::Data);
        // Daylight hours over since commissioning: 09-14, six, of which 12 is missing.
        assert_eq!(report.availability, Some(5.0 / 6.0));
    }

    #[test]
    fn a_day_before_commissioning_or_to_come_has_no_figures_nor_availability() {
        let inverter = device(DeviceKind::Inverter, vec![counted(10, 0.0, 100.0, 100.0)]);
        let site = SiteFacts {
            capacity_kwp: 1.0,
            timezone: Tz::UTC,
            commissioned: Some(utc(2026, 6, 1, 10)),
            daylight: DaylightRule::Clock,
        };
        let now = utc(2026, 6, 3, 12);
        let before = Period::Day { date: NaiveDate::from_ymd_opt(2026, 5, 31).expect("valid") };
        let report = SiteReport::compute(site, std::slice::from_ref(&inverter), before, now);
        assert_eq!(report.coverage, Coverage::BeforeCommissioning);
        assert_eq!(report.availability, None, "not 0 %: the site did not exist");
        let future = Period::Day { date: NaiveDate::from_ymd_opt(2026, 6, 4).expect("valid") };
        let report = SiteReport::compute(site, std::slice::from_ref(&inverter), future, now);
        assert_eq!(report.coverage, Coverage::Future);
        assert!(report.buckets.iter().all(|b| b.coverage == Coverage::Future));
        assert_eq!(report.availability, None);
        let silent = Period::Day { date: NaiveDate::from_ymd_opt(2026, 6, 2).expect("valid") };
        let report = SiteReport::compute(site, &[inverter], silent, now);
        assert_eq!(report.coverage, Coverage::NoData);
        assert_eq!(report.availability, Some(0.0), "a silent day after commissioning is unavailable");
    }

    #[test]
    fn a_day_whose_producers_fell_silent_before_dawn_has_no_data_but_a_dull_day_is_zero() {
        // UTC. 1 June: readings all day. 2 June: only 00-04 (silent from before dawn).
        // 3 June: daylight readings that produced nothing (snow).
        let mut rollups: Vec<HourlyRollup> = (0..24).map(|h| counted(h, 0.0, 10.0, 10.0)).collect();
        rollups.extend((24..29).map(rollup));
        rollups.extend((54..62).map(rollup));
        let inverter = device(DeviceKind::Inverter, rollups);
        let site = SiteFacts {
            capacity_kwp: 1.0,
            timezone: Tz::UTC,
            commissioned: Some(utc(2026, 6, 1, 0)),
            daylight: DaylightRule::Clock,
        };
        let first = NaiveDate::from_ymd_opt(2026, 6, 1).expect("valid");
        let period = Period::range(first, first + TimeDelta::days(2)).expect("valid range");
        let report = SiteReport::compute(site, &[inverter], period, utc(2026, 6, 4, 0));
        let coverage: Vec<Coverage> = report.buckets.iter().map(|b| b.coverage).collect();
        assert_eq!(coverage, [Coverage::Data, Coverage::NoData, Coverage::Data]);
        assert_eq!(report.buckets[2].flows.production_wh, 0.0);
    }

    #[test]
    fn a_period_is_measured_when_any_bucket_is() {
        use Coverage::*;
        assert_eq!(Coverage::of_period([BeforeCommissioning, Data, Future]), Data);
        assert_eq!(Coverage::of_period([Future, Future]), Future);
        assert_eq!(Coverage::of_period([BeforeCommissioning, Future]), BeforeCommissioning);
        assert_eq!(Coverage::of_period([BeforeCommissioning, NoData, Future]), NoData);
    }

    #[test]
    fn specific_yield_needs_a_capacity() {
        assert_eq!(specific_yield(25_000.0, 5.0), Some(5.0));
        assert_eq!(specific_yield(25_000.0, 0.0), None);
    }
}
