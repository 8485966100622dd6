//! Day summaries: a site's figures for one local day, kept by the store so that month, year and
//! range reports add up a few hundred days instead of folding thousands of hourly rollups.
//!
//! A summary holds what the period report needs from a day and can add up exactly: production,
//! grid import and export, the peak, the daylight hours with their covered share, and the
//! paired hours' energy and insolation the performance ratio is the quotient of. It is the
//! day report of [`SiteReport::compute`], so a period built from summaries gives the figures the
//! period computed from hourly rollups gives (each day picks its own energy source, counter or
//! integrated power, where the two could differ for a device that reports a counter on some
//! days only).
//!
//! **Staleness.** A summary is stored only for a day that ended [`SETTLED_AFTER`] ago, so live
//! readings never fall into a summarised day. Readings older than [`LATE_AFTER`] when written (a
//! backfill, a replayed spool) make the store change the gateway's *history mark*; every summary records
//! the basis it was computed on (that mark and the site's devices), and one whose basis is not
//! the current one is computed again. Reports read the mark before the rollups, and the store
//! changes it either after each late document's rollups are written, or, for a writer that keeps
//! a session (an ingest connection on Cassandra, where the extra request per document halved
//! throughput), before its first late document and again every half [`MARK_LEASE`] while late
//! documents keep coming. Such a mark says until when it covers readings still arriving (a
//! [`MARK_LEASE`] after it was set), and until then reports neither trust nor store summaries.
//! Either way a summary computed while late readings arrive is never taken for current.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::daylight::DaylightRule;
use super::energy::{MAX_COUNTER_GAP, bucket_index};
use super::performance::{self, PairedHours};
use super::period::{Period, local_midnight};
use super::site::{BucketSums, Coverage, DeviceRollups, Peak, SiteFacts, SiteReport, daylight_hours};
use crate::domain::Device;

/// A summary is stored only for a day that ended at least this long ago.
pub const SETTLED_AFTER: TimeDelta = TimeDelta::hours(6);

/// Readings older than this change their gateway's history mark (half of [`SETTLED_AFTER`], so
/// that clocks of different processes may disagree by hours without harm).
pub const LATE_AFTER: TimeDelta = TimeDelta::hours(3);

/// How long after a history mark was set by a writer that changes it before its late readings
/// (see the module documentation) reports take more late readings to be possible under it. The
/// writer sets it again after half of this: the other half covers a write still in flight and
/// clocks of different processes that disagree by minutes.
pub const MARK_LEASE: TimeDelta = TimeDelta::minutes(30);

/// One site's figures for one local day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaySummary {
    /// The local date.
    pub date: NaiveDate,
    /// Produced, Wh.
    pub production_wh: f64,
    /// Grid import and export, Wh, when a meter reported that day.
    pub grid: Option<(f64, f64)>,
    /// Peak production power.
    pub peak: Option<Peak>,
    /// Daylight hours of the day that were over (0 where availability is undefined: no producer).
    pub daylight_hours: u32,
    /// Of those, the hours' worth with data (averaged over producers).
    pub covered_hours: f64,
    /// Energy and insolation of the hours in which production and irradiance were both
    /// measured, where the site has an irradiance sensor.
    pub paired: Option<PairedHours>,
}

/// The stored form of a summary written before it held the paired hours: still read, so that an
/// upgraded store answers at once; its basis is no longer current, so it is computed again.
#[derive(Deserialize)]
struct SummaryWithoutPaired {
    date: NaiveDate,
    production_wh: f64,
    grid: Option<(f64, f64)>,
    peak: Option<Peak>,
    daylight_hours: u32,
    covered_hours: f64,
}

/// Part of every basis: changes whenever [`DaySummary`] holds more, so that summaries stored by
/// an older build are computed again rather than read without the new figures.
const SUMMARY_FORM: u32 = 2;

impl DaySummary {
    /// The summary of `date` from the devices' rollups (which must cover the day and the
    /// [`MAX_COUNTER_GAP`] before it; more is ignored).
    pub fn compute(site: SiteFacts, devices: &[DeviceRollups], date: NaiveDate, now: DateTime<Utc>) -> Self {
        let period = Period::Day { date };
        let bounds = period.bounds(site.timezone);
        let window = bounds.start - MAX_COUNTER_GAP..bounds.end;
        let day: Vec<DeviceRollups> = devices
            .iter()
            .map(|d| {
                let from = d.rollups.partition_point(|r| r.hour < window.start);
                let to = d.rollups.partition_point(|r| r.hour < window.end);
                DeviceRollups {
                    device: d.device.clone(),
                    kind: d.kind,
                    rollups: d.rollups[from..to].to_vec(),
                }
            })
            .collect();
        let report = SiteReport::compute(site, &day, period, now);
        let paired = performance::paired_hours(&day, &period.buckets(site.timezone))
            .map(|hours| hours.into_iter().sum());
        let daylight =
            report.availability.map_or(0, |_| daylight_hours(&bounds, site.timezone, site.daylight, now));
        let hours = u32::try_from(daylight).unwrap_or(u32::MAX);
        Self {
            date,
            production_wh: report.total.production_wh,
            grid: report.has_meter.then(|| {
                (report.total.grid_import_wh.unwrap_or(0.0), report.total.grid_export_wh.unwrap_or(0.0))
            }),
            peak: report.peak,
            daylight_hours: hours,
            covered_hours: report.availability.unwrap_or(0.0) * f64::from(hours),
            paired,
        }
    }

    /// True when the day's production was measured: something produced, or a producer reported
    /// in daylight (a site without producers: its meter reported). A day whose producers fell
    /// silent before dawn reads as a day without data, not as a day of zero production.
    pub fn has_data(&self) -> bool {
        self.production_wh != 0.0
            || self.peak.is_some()
            || self.covered_hours > 0.0
            || (self.daylight_hours == 0 && self.grid.is_some())
    }

    /// The stored form.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain numbers, dates and options cannot fail.
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Reads the stored form back.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DaySummaryDecodeError> {
        postcard::from_bytes(bytes)
            .or_else(|e| {
                let old: SummaryWithoutPaired = postcard::from_bytes(bytes).map_err(|_| e)?;
                Ok(Self {
                    date: old.date,
                    production_wh: old.production_wh,
                    grid: old.grid,
                    peak: old.peak,
                    daylight_hours: old.daylight_hours,
                    covered_hours: old.covered_hours,
                    paired: None,
                })
            })
            .map_err(|e: postcard::Error| DaySummaryDecodeError(e.to_string()))
    }
}

/// A stored day summary could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("unreadable day summary: {0}")]
pub struct DaySummaryDecodeError(String);

/// What a summary was computed on: the gateway's history mark, its devices (a device that
/// changes kind changes what counts as production), its commissioning (which availability
/// counts from) and its daylight (a location set or moved changes which hours count).
pub fn basis(
    mark: Option<i64>,
    devices: &[Device],
    commissioned: Option<DateTime<Utc>>,
    daylight: DaylightRule,
) -> i64 {
    // SipHash with fixed keys: the same inputs give the same basis in every process of a build
    // (another build may differ, which only makes its summaries computed again).
    let mut hasher = DefaultHasher::new();
    SUMMARY_FORM.hash(&mut hasher);
    mark.hash(&mut hasher);
    let mut kinds: Vec<(&str, &str)> = devices.iter().map(|d| (d.id.as_str(), d.kind.as_str())).collect();
    kinds.sort_unstable();
    kinds.hash(&mut hasher);
    commissioned.map(|c| c.timestamp()).hash(&mut hasher);
    match daylight {
        DaylightRule::Clock => None,
        DaylightRule::Sun(at) => Some((at.latitude().to_bits(), at.longitude().to_bits())),
    }
    .hash(&mut hasher);
    i64::from_ne_bytes(hasher.finish().to_ne_bytes())
}

/// Whether the summary of `date` may be stored at `now`: the day ended [`SETTLED_AFTER`] ago.
pub fn settled(tz: Tz, date: NaiveDate, now: DateTime<Utc>) -> bool {
    date.succ_opt().is_some_and(|next| local_midnight(tz, next) + SETTLED_AFTER <= now)
}

/// The report of `period` (a month, year or range: periods of whole days) from the summaries of
/// its days; days without a summary count as days without data, and those not begun by `now`
/// as future.
pub fn report_from_days(
    site: SiteFacts,
    period: Period,
    days: &BTreeMap<NaiveDate, DaySummary>,
    now: DateTime<Utc>,
) -> SiteReport {
    let tz = site.timezone;
    let buckets = period.buckets(tz);
    let mut production = vec![0.0; buckets.len()];
    let mut import = vec![0.0; buckets.len()];
    let mut export = vec![0.0; buckets.len()];
    let mut peaks: Vec<Option<Peak>> = vec![None; buckets.len()];
    let (mut daylight, mut covered) = (0u64, 0.0);
    let mut has_meter = false;
    let mut reported = vec![false; buckets.len()];
    let mut paired: Option<Vec<PairedHours>> = None;
    for summary in days.range(period.first_day()..period.end_day()).map(|(_, s)| s) {
        let Some(i) = bucket_index(&buckets, local_midnight(tz, summary.date)) else { continue };
        production[i] += summary.production_wh;
        reported[i] |= summary.has_data();
        if let Some((im, ex)) = summary.grid {
            has_meter = true;
            import[i] += im;
            export[i] += ex;
        }
        if let Some(peak) = summary.peak
            && peaks[i].is_none_or(|p| peak.watts > p.watts)
        {
            peaks[i] = Some(peak);
        }
        if let Some(hours) = summary.paired {
            let sums = paired.get_or_insert_with(|| vec![PairedHours::default(); buckets.len()]);
            sums[i] = sums[i] + hours;
        }
        daylight += u64::from(summary.daylight_hours);
        covered += summary.covered_hours;
    }
    let coverage = buckets
        .iter()
        .zip(reported)
        .map(|(b, reported)| Coverage::of(b.start..b.end, reported, site.commissioned, now))
        .collect();
    let sums =
        BucketSums { production, grid: has_meter.then_some((import, export)), peaks, coverage, paired };
    let availability = (daylight > 0).then(|| covered / daylight as f64);
    SiteReport::assemble(site, period, buckets, sums, availability)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Timelike};

    use super::*;
    use crate::domain::{DeviceId, DeviceKind};
    use crate::reports::HourlyRollup;
    use crate::reports::daylight::CLOCK_DAYLIGHT;
    use crate::reports::energy::tests::rollup;

    fn utc(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).single().expect("valid")
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    /// An inverter, a meter and an irradiance sensor over `days` days from 2026-05-20: a
    /// counter with a reset on day 12 and a silent gap of 30 hours, sunshine by the hour, partial
    /// hours, a meter that imports at night and exports at noon, a sensor that misses some hours.
    fn site_rollups(days: i64) -> Vec<DeviceRollups> {
        let start = utc(2026, 5, 20, 0);
        let (mut energy, mut import, mut export) = (10_000.0, 500.0, 100.0);
        let (mut inverter, mut meter, mut sensor) = (Vec::new(), Vec::new(), Vec::new());
        for h in 0..days * 24 {
            let hour = start + TimeDelta::hours(h);
            if (300..330).contains(&h) {
                continue; // the gateway was silent
            }
            if h == 12 * 24 + 7 {
                energy = 0.0; // the inverter was replaced
            }
            let local = hour.hour();
            let sun =
                if (5..20).contains(&local) { 1.0 - (f64::from(local) - 12.5).abs() / 8.0 } else { 0.0 };
            let made = 4_000.0 * sun * (1.0 + (h % 7) as f64 / 10.0);
            if h % 11 != 3 {
                sensor.push(HourlyRollup {
                    hour,
                    device: DeviceId::parse("poa").expect("valid"),
                    insolation: 500.0 * sun,
                    ..rollup(0)
                });
            }
            let first = energy + 3.0;
            energy = first + made;
            inverter.push(HourlyRollup {
                hour,
                minutes_with_data: if h % 5 == 0 { 40 } else { 60 },
                energy_first: Some(first),
                energy_last: Some(energy),
                energy_gain: made,
                peak_power: (made > 0.0).then_some(made * 1.3),
                peak_at: (made > 0.0).then_some(hour + TimeDelta::minutes(h % 60)),
                ..rollup(0)
            });
            let (im, ex) = if made > 2_000.0 { (0.0, made - 2_000.0) } else { (300.0, 0.0) };
            let (import_first, export_first) = (import, export);
            (import, export) = (import + im, export + ex);
            meter.push(HourlyRollup {
                hour,
                device: DeviceId::parse("meter").expect("valid"),
                import_first: Some(import_first),
                import_last: Some(import),
                import_gain: im,
                export_first: Some(export_first),
                export_last: Some(export),
                export_gain: ex,
                ..rollup(0)
            });
        }
        vec![
            DeviceRollups {
                device: DeviceId::parse("inv").expect("valid"),
                kind: DeviceKind::Inverter,
                rollups: inverter,
            },
            DeviceRollups {
                device: DeviceId::parse("meter").expect("valid"),
                kind: DeviceKind::Meter,
                rollups: meter,
            },
            DeviceRollups {
                device: DeviceId::parse("poa").expect("valid"),
                kind: DeviceKind::IrradianceSensor,
                rollups: sensor,
            },
        ]
    }

    fn from_days(
        site: SiteFacts,
        devices: &[DeviceRollups],
        period: Period,
        now: DateTime<Utc>,
    ) -> SiteReport {
        let days = period
            .first_day()
            .iter_days()
            .take_while(|d| *d < period.end_day())
            .map(|d| (d, DaySummary::compute(site, devices, d, now)))
            .collect();
        report_from_days(site, period, &days, now)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
    }

    fn assert_same(direct: &SiteReport, summed: &SiteReport) {
        assert_eq!(direct.buckets.len(), summed.buckets.len());
        assert_eq!(direct.has_meter, summed.has_meter);
        for (a, b) in direct.buckets.iter().zip(&summed.buckets) {
            assert_eq!((a.start, a.end, &a.label), (b.start, b.end, &b.label));
            let (fa, fb) = (a.flows, b.flows);
            for (x, y) in [
                (Some(fa.production_wh), Some(fb.production_wh)),
                (fa.grid_import_wh, fb.grid_import_wh),
                (fa.grid_export_wh, fb.grid_export_wh),
                (fa.consumption_wh, fb.consumption_wh),
                (fa.self_consumption_wh, fb.self_consumption_wh),
            ] {
                assert!(
                    x.zip(y).is_some_and(|(x, y)| close(x, y)) || x == y,
                    "bucket {}: {x:?} vs {y:?}",
                    a.label
                );
            }
            assert_eq!(a.peak, b.peak, "bucket {}", a.label);
            assert!(
                a.performance_ratio.zip(b.performance_ratio).is_some_and(|(x, y)| close(x, y))
                    || a.performance_ratio == b.performance_ratio,
                "bucket {}: PR {:?} vs {:?}",
                a.label,
                a.performance_ratio,
                b.performance_ratio
            );
        }
        assert_eq!(direct.has_irradiance, summed.has_irradiance);
        let (a, b) = (direct.performance_ratio.expect("a PR"), summed.performance_ratio.expect("a PR"));
        assert!(close(a, b), "PR {a} vs {b}");
        assert!(close(direct.total.production_wh, summed.total.production_wh));
        assert_eq!(direct.peak, summed.peak);
        assert!(direct.specific_yield.zip(summed.specific_yield).is_some_and(|(a, b)| close(a, b)));
        let (a, b) =
            (direct.availability.expect("daylight is over"), summed.availability.expect("daylight is over"));
        assert!(close(a, b), "availability {a} vs {b}");
    }

    #[test]
    fn a_month_from_day_summaries_is_the_month_from_hourly_rollups() {
        let devices = site_rollups(45);
        let site = SiteFacts {
            capacity_kwp: 9.5,
            timezone: chrono_tz::Europe::Berlin,
            commissioned: None,
            daylight: DaylightRule::Clock,
        };
        let now = utc(2026, 7, 15, 0);
        for period in [Period::Month { year: 2026, month: 6 }, Period::Month { year: 2026, month: 5 }] {
            assert_same(
                &SiteReport::compute(site, &devices, period, now),
                &from_days(site, &devices, period, now),
            );
        }
    }

    #[test]
    fn a_year_and_a_range_from_day_summaries_are_the_same_as_from_hourly_rollups() {
        let devices = site_rollups(45);
        let now = utc(2026, 6, 30, 9); // in the middle of the data: the last day is partial
        for tz in [chrono_tz::Europe::Berlin, chrono_tz::America::New_York, chrono_tz::Asia::Kolkata] {
            let site = SiteFacts {
                capacity_kwp: 9.5,
                timezone: tz,
                commissioned: None,
                daylight: DaylightRule::Clock,
            };
            for period in [
                Period::Year { year: 2026 },
                Period::Range { first: date(2026, 5, 18), last: date(2026, 6, 29) },
            ] {
                let direct = SiteReport::compute(site, &devices, period, now);
                assert!(direct.total.production_wh > 1e5, "the data lies in the period");
                assert_same(&direct, &from_days(site, &devices, period, now));
            }
        }
    }

    #[test]
    fn a_day_settles_six_hours_after_its_local_midnight_and_not_before() {
        let tz = chrono_tz::Europe::Berlin; // 2026-06-01 ends at 2026-06-01 22:00 UTC
        assert!(!settled(tz, date(2026, 6, 1), utc(2026, 6, 2, 3)));
        assert!(settled(tz, date(2026, 6, 1), utc(2026, 6, 2, 4)));
        assert!(LATE_AFTER < SETTLED_AFTER);
        assert_eq!(CLOCK_DAYLIGHT, 6..20);
    }

    #[test]
    fn the_basis_changes_with_the_mark_a_device_kind_and_the_daylight_only() {
        let device = |id: &str, kind| Device {
            gateway: crate::domain::GatewayId::parse("GW").expect("valid"),
            id: DeviceId::parse(id).expect("valid"),
            kind,
            manufacturer: None,
            model: None,
            serial: None,
            last_seen: None,
        };
        let devices = [device("inv", DeviceKind::Inverter), device("meter", DeviceKind::Meter)];
        let reversed = [device("meter", DeviceKind::Meter), device("inv", DeviceKind::Inverter)];
        let clock = DaylightRule::Clock;
        assert_eq!(basis(None, &devices, None, clock), basis(None, &reversed, None, clock));
        assert_ne!(basis(None, &devices, None, clock), basis(Some(7), &devices, None, clock));
        assert_ne!(basis(Some(7), &devices, None, clock), basis(Some(8), &devices, None, clock));
        let munich = DaylightRule::Sun(crate::domain::SiteLocation::new(48.1, 11.6).expect("on the earth"));
        assert_ne!(
            basis(Some(7), &devices, None, clock),
            basis(Some(7), &devices, None, munich),
            "a location set"
        );
        let changed = [device("inv", DeviceKind::Other), device("meter", DeviceKind::Meter)];
        assert_ne!(basis(Some(7), &devices, None, clock), basis(Some(7), &changed, None, clock));
    }

    #[test]
    fn a_summary_reads_back_as_stored() {
        let devices = site_rollups(3);
        let site = SiteFacts {
            capacity_kwp: 5.0,
            timezone: chrono_tz::Europe::Berlin,
            commissioned: None,
            daylight: DaylightRule::Clock,
        };
        let summary = DaySummary::compute(site, &devices, date(2026, 5, 21), utc(2026, 6, 1, 0));
        assert!(summary.production_wh > 0.0 && summary.grid.is_some() && summary.peak.is_some());
        assert!(summary.paired.is_some_and(|p| p.energy_wh > 0.0 && p.insolation_wh_m2 > 0.0));
        assert_eq!(DaySummary::from_bytes(&summary.to_bytes()).expect("reads back"), summary);
        assert!(DaySummary::from_bytes(b"\xff\xff").is_err());
    }

    #[test]
    fn a_summary_stored_before_the_performance_ratio_still_reads_and_is_computed_again() {
        #[derive(Serialize)]
        struct Older {
            date: NaiveDate,
            production_wh: f64,
            grid: Option<(f64, f64)>,
            peak: Option<Peak>,
            daylight_hours: u32,
            covered_hours: f64,
        }
        let older = Older {
            date: date(2026, 5, 21),
            production_wh: 1234.0,
            grid: None,
            peak: None,
            daylight_hours: 14,
            covered_hours: 13.0,
        };
        let bytes = postcard::to_allocvec(&older).expect("plain data serialises");
        let read = DaySummary::from_bytes(&bytes).expect("an older summary reads");
        assert_eq!((read.production_wh, read.covered_hours, read.paired), (1234.0, 13.0, None));
        // Its basis (computed without SUMMARY_FORM) is not the current one, so it is replaced.
        let mut hasher = DefaultHasher::new();
        None::<i64>.hash(&mut hasher);
        Vec::<(&str, &str)>::new().hash(&mut hasher);
        None::<i64>.hash(&mut hasher);
        assert_ne!(
            i64::from_ne_bytes(hasher.finish().to_ne_bytes()),
            basis(None, &[], None, DaylightRule::Clock)
        );
    }

    #[test]
    fn a_month_counts_availability_from_commissioning_and_marks_days_before_it_and_to_come() {
        // Berlin site commissioned on 10 June at 04:00 UTC (06:00 local), reporting every
        // daylight hour since; seen on 20 June at noon.
        let tz = chrono_tz::Europe::Berlin;
        let commissioned = utc(2026, 6, 10, 4);
        let rollups: Vec<HourlyRollup> = (0..11 * 24)
            .map(|h| commissioned + TimeDelta::hours(h))
            .filter(|hour| hour.with_timezone(&tz).hour() >= 6 && hour.with_timezone(&tz).hour() < 20)
            .map(|hour| HourlyRollup { hour, minutes_with_data: 60, ..rollup(0) })
            .collect();
        let devices = vec![DeviceRollups {
            device: DeviceId::parse("inv").expect("valid"),
            kind: DeviceKind::Inverter,
            rollups,
        }];
        let site = SiteFacts {
            capacity_kwp: 5.0,
            timezone: tz,
            commissioned: Some(commissioned),
            daylight: DaylightRule::Clock,
        };
        let now = utc(2026, 6, 20, 10);
        let period = Period::Month { year: 2026, month: 6 };
        let days = period
            .first_day()
            .iter_days()
            .take_while(|d| *d <= date(2026, 6, 20))
            .map(|d| (d, DaySummary::compute(site, &devices, d, now)))
            .collect();
        let report = report_from_days(site, period, &days, now);
        let coverage = |day: usize| report.buckets[day - 1].coverage;
        assert_eq!(coverage(9), Coverage::BeforeCommissioning);
        assert_eq!(coverage(10), Coverage::Data);
        assert_eq!(coverage(20), Coverage::Data);
        assert_eq!(coverage(21), Coverage::Future);
        assert_eq!(report.availability, Some(1.0), "up every daylight hour it existed");
    }

    #[test]
    fn with_a_location_a_december_day_is_daylight_from_sunrise_to_sunset_and_not_by_the_clock() {
        // A Munich site whose inverter reports only while the sun is up, as inverters do: on 21
        // December from 08:00 to 16:00 local (the sun: about 08:02 to 16:22).
        let tz = chrono_tz::Europe::Berlin;
        let munich = crate::domain::SiteLocation::new(48.137, 11.575).expect("on the earth");
        let rollups: Vec<HourlyRollup> = (7..15)
            .map(|h| HourlyRollup { hour: utc(2026, 12, 21, h), minutes_with_data: 60, ..rollup(0) })
            .collect();
        let devices = vec![DeviceRollups {
            device: DeviceId::parse("inv").expect("valid"),
            kind: DeviceKind::Inverter,
            rollups,
        }];
        let now = utc(2026, 12, 22, 0);
        let day = |daylight| {
            let site = SiteFacts { capacity_kwp: 5.0, timezone: tz, commissioned: None, daylight };
            DaySummary::compute(site, &devices, date(2026, 12, 21), now)
        };
        let by_the_sun = day(DaylightRule::Sun(munich));
        assert_eq!(by_the_sun.daylight_hours, 8, "08:00 to 16:00: each hour's middle is in sunlight");
        let by_the_clock = day(DaylightRule::Clock);
        assert_eq!(by_the_clock.daylight_hours, 14, "06:00 to 20:00");
        let site = |daylight| SiteFacts { capacity_kwp: 5.0, timezone: tz, commissioned: None, daylight };
        let period = Period::Day { date: date(2026, 12, 21) };
        let sun_report = SiteReport::compute(site(DaylightRule::Sun(munich)), &devices, period, now);
        let clock_report = SiteReport::compute(site(DaylightRule::Clock), &devices, period, now);
        assert_eq!(sun_report.availability, Some(1.0), "up all the time the sun was");
        assert!(clock_report.availability.is_some_and(|a| (a - 8.0 / 14.0).abs() < 1e-9));
    }
}
