//! The performance ratio (PR) of a site with a plane-of-array irradiance sensor, per IEC 61724-1:
//! how much of what the sun offered the plant turned into AC energy, independent of the weather.
//!
//! - **Final yield** Yf = production energy (kWh) / installed capacity (kWp).
//! - **Reference yield** Yr = plane-of-array insolation H (kWh/m²) / G_ref, with G_ref = 1 kW/m²
//!   (the irradiance at which the capacity is rated).
//! - **PR** = Yf / Yr.
//!
//! Only hours in which both sides were measured count ("paired hours"): every producer reported
//! and an irradiance sensor reported. An hour whose counter step bridges a gap (energy made while
//! the gateway was silent, credited to the hour it came back) does not count either: that
//! energy's sunlight was never measured. IEC 61724-1 excludes such intervals because an hour of sun
//! without production data (or production without irradiance) would push PR down (or up) for
//! a reason that is the monitoring's, not the plant's. There is no PR for a site without an
//! irradiance sensor, without capacity, or with less than [`MIN_INSOLATION_WH_M2`] of paired
//! insolation (night, snow on the sensor): dividing by almost nothing is not a ratio.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::energy::{self, Counter, bucket_index};
use super::period::Bucket;
use super::rollup::{self, HourlyRollup};
use super::site::{DeviceRollups, producers};
use crate::domain::DeviceKind;

/// The reference irradiance the capacity is rated at, W/m² (G_ref).
pub const G_REF_W_M2: f64 = 1000.0;

/// Below this much paired insolation, Wh/m², a span has no PR: a few minutes of dawn light on
/// a 10 kWp plant would otherwise give a ratio of noise.
pub const MIN_INSOLATION_WH_M2: f64 = 20.0;

/// What the paired hours of a span add up to; sums of spans add up to the sum of their union.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PairedHours {
    /// Production in the paired hours, Wh.
    pub energy_wh: f64,
    /// Plane-of-array insolation in the paired hours, Wh/m².
    pub insolation_wh_m2: f64,
}

impl std::ops::Add for PairedHours {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            energy_wh: self.energy_wh + other.energy_wh,
            insolation_wh_m2: self.insolation_wh_m2 + other.insolation_wh_m2,
        }
    }
}

impl std::iter::Sum for PairedHours {
    fn sum<I: Iterator<Item = Self>>(spans: I) -> Self {
        spans.fold(Self::default(), |a, b| a + b)
    }
}

impl PairedHours {
    /// PR = Yf / Yr over these hours; none without capacity or with negligible insolation.
    pub fn ratio(self, capacity_kwp: f64) -> Option<f64> {
        performance_ratio(self.energy_wh, self.insolation_wh_m2, capacity_kwp)
    }
}

/// PR = (E / P0) / (H / G_ref) from production E (Wh), insolation H (Wh/m²) and capacity P0
/// (kWp); none without a positive capacity or below [`MIN_INSOLATION_WH_M2`].
pub fn performance_ratio(energy_wh: f64, insolation_wh_m2: f64, capacity_kwp: f64) -> Option<f64> {
    let rated = capacity_kwp.is_finite() && capacity_kwp > 0.0;
    let sunlit = insolation_wh_m2.is_finite() && insolation_wh_m2 >= MIN_INSOLATION_WH_M2;
    if !(rated && sunlit) {
        return None;
    }
    let final_yield = energy_wh / 1000.0 / capacity_kwp;
    let reference_yield = insolation_wh_m2 / G_REF_W_M2;
    Some(final_yield / reference_yield)
}

/// True when a device of the site measures irradiance.
pub fn has_irradiance_sensor(devices: &[DeviceRollups]) -> bool {
    devices.iter().any(|d| d.kind == DeviceKind::IrradianceSensor)
}

/// The paired hours of each bucket; none when the site has no irradiance sensor or nothing
/// produces. Several sensors are averaged over those that reported in the hour.
pub fn paired_hours(devices: &[DeviceRollups], buckets: &[Bucket]) -> Option<Vec<PairedHours>> {
    let producers = producers(devices);
    let sensors: Vec<&DeviceRollups> =
        devices.iter().filter(|d| d.kind == DeviceKind::IrradianceSensor).collect();
    if sensors.is_empty() || producers.is_empty() {
        return None;
    }
    // hour → (sum of insolation, sensors that reported)
    let mut insolation: BTreeMap<DateTime<Utc>, (f64, u32)> = BTreeMap::new();
    for sensor in &sensors {
        for r in &sensor.rollups {
            let entry = insolation.entry(r.hour).or_default();
            entry.0 += r.insolation.max(0.0);
            entry.1 += 1;
        }
    }
    // hour → (production, producers that reported)
    let mut production: BTreeMap<DateTime<Utc>, (f64, usize)> = BTreeMap::new();
    let mut bridged: BTreeSet<DateTime<Utc>> = BTreeSet::new();
    for device in &producers {
        bridged.extend(gap_bridging_hours(&device.rollups));
        for r in &device.rollups {
            production.entry(r.hour).or_default().1 += 1;
        }
        for hour in energy::energy(&device.rollups, Counter::Production, false) {
            if let Some(entry) = production.get_mut(&hour.hour) {
                entry.0 += hour.wh;
            }
        }
    }
    let mut sums = vec![PairedHours::default(); buckets.len()];
    for (hour, (wh, reported)) in production {
        let Some(&(h, sensors)) = insolation.get(&hour) else { continue };
        if reported < producers.len() || bridged.contains(&hour) {
            continue;
        }
        if let Some(i) = bucket_index(buckets, hour) {
            sums[i] = sums[i] + PairedHours { energy_wh: wh, insolation_wh_m2: h / f64::from(sensors) };
        }
    }
    Some(sums)
}

/// The hours whose counter energy includes a step across a silence of more than an hour.
fn gap_bridging_hours(rollups: &[HourlyRollup]) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let mut previous: Option<(DateTime<Utc>, f64)> = None;
    for r in rollups {
        let (Some(first), Some(last)) = (r.energy_first, r.energy_last) else { continue };
        if let Some((hour, value)) = previous
            && r.hour - hour > TimeDelta::hours(1)
            && rollup::step(value, first) > 0.0
        {
            out.push(r.hour);
        }
        previous = Some((r.hour, last));
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};
    use chrono_tz::Tz;

    use super::*;
    use crate::domain::DeviceId;
    use crate::reports::daylight::DaylightRule;
    use crate::reports::energy::tests::{counted, rollup};
    use crate::reports::period::Period;
    use crate::reports::site::{SiteFacts, SiteReport};

    fn device(id: &str, kind: DeviceKind, rollups: Vec<HourlyRollup>) -> DeviceRollups {
        DeviceRollups { device: DeviceId::parse(id).expect("valid"), kind, rollups }
    }

    fn produced(hour: i64, wh: f64) -> HourlyRollup {
        HourlyRollup { power_integral: wh, ..rollup(hour) }
    }

    fn sunlight(hour: i64, wh_m2: f64) -> HourlyRollup {
        HourlyRollup { insolation: wh_m2, ..rollup(hour) }
    }

    fn june_first() -> Period {
        Period::Day { date: NaiveDate::from_ymd_opt(2026, 6, 1).expect("valid") }
    }

    fn report(devices: &[DeviceRollups], capacity_kwp: f64) -> SiteReport {
        let site =
            SiteFacts { capacity_kwp, timezone: Tz::UTC, commissioned: None, daylight: DaylightRule::Clock };
        let now = Utc.with_ymd_and_hms(2026, 6, 2, 0, 0, 0).single().expect("valid");
        SiteReport::compute(site, devices, june_first(), now)
    }

    #[test]
    fn pr_is_final_yield_over_reference_yield_as_computed_by_hand() {
        // 10 kWp. 10:00: 600 Wh/m², 5.0 kWh; 11:00: 800 Wh/m², 6.5 kWh; 12:00: 900 Wh/m², 7.2 kWh.
        // Yf = (5.0 + 6.5 + 7.2) kWh / 10 kWp = 1.87 h; Yr = (0.6 + 0.8 + 0.9) kWh/m² / 1 kW/m²
        // = 2.3 h; PR = 1.87 / 2.3 = 0.813 043…
        let inverter = device(
            "inv",
            DeviceKind::Inverter,
            vec![produced(10, 5000.0), produced(11, 6500.0), produced(12, 7200.0)],
        );
        let sensor = device(
            "poa",
            DeviceKind::IrradianceSensor,
            vec![sunlight(10, 600.0), sunlight(11, 800.0), sunlight(12, 900.0)],
        );
        let report = report(&[inverter, sensor], 10.0);
        let pr = report.performance_ratio.expect("a PR with a sensor and sunlight");
        assert!((pr - 1.87 / 2.3).abs() < 1e-12, "{pr}");
        assert!((pr - 0.813).abs() < 0.001);
        // Each hour has its own: 11:00 is 0.65 / 0.8.
        let hour = report.buckets[11].performance_ratio.expect("a PR at 11:00");
        assert!((hour - 0.8125).abs() < 1e-12, "{hour}");
        assert_eq!(report.buckets[9].performance_ratio, None, "no PR without paired hours");
    }

    #[test]
    fn hours_missing_production_or_irradiance_do_not_count() {
        // The sensor also reports at 09:00 (sun, no production data) and the inverter at 13:00
        // (production, no irradiance data): PR stays 1.87 / 2.3 over the three paired hours.
        let inverter = device(
            "inv",
            DeviceKind::Inverter,
            vec![produced(10, 5000.0), produced(11, 6500.0), produced(12, 7200.0), produced(13, 6000.0)],
        );
        let sensor = device(
            "poa",
            DeviceKind::IrradianceSensor,
            vec![sunlight(9, 400.0), sunlight(10, 600.0), sunlight(11, 800.0), sunlight(12, 900.0)],
        );
        let pr = report(&[inverter, sensor], 10.0).performance_ratio.expect("a PR");
        assert!((pr - 1.87 / 2.3).abs() < 1e-12, "{pr}");
    }

    #[test]
    fn energy_made_while_the_gateway_was_silent_does_not_count() {
        // The gateway (inverter and sensor) is silent at 11:00. At 12:00 the counter has risen
        // by 6.5 kWh since 10:59 (11:00's production, unmeasured sunlight) before 7.2 kWh more:
        // 12:00 is left out, as is 11:00; PR is 10:00's, 5 kWh / 10 kWp / 0.6 h.
        let inverter = device(
            "inv",
            DeviceKind::Inverter,
            vec![counted(10, 0.0, 5000.0, 5000.0), counted(12, 11_500.0, 18_700.0, 7200.0)],
        );
        let sensor =
            device("poa", DeviceKind::IrradianceSensor, vec![sunlight(10, 600.0), sunlight(12, 900.0)]);
        let pr = report(&[inverter, sensor], 10.0).performance_ratio.expect("a PR");
        assert!((pr - 0.5 / 0.6).abs() < 1e-12, "{pr}");
    }

    #[test]
    fn an_hour_in_which_one_of_two_inverters_is_silent_does_not_count() {
        let a = device("a", DeviceKind::Inverter, vec![produced(10, 2500.0), produced(11, 3000.0)]);
        let b = device("b", DeviceKind::Inverter, vec![produced(10, 2500.0)]);
        let sensor =
            device("poa", DeviceKind::IrradianceSensor, vec![sunlight(10, 600.0), sunlight(11, 800.0)]);
        // Only 10:00 pairs: 5 kWh / 10 kWp / 0.6 h.
        let pr = report(&[a, b, sensor], 10.0).performance_ratio.expect("a PR");
        assert!((pr - 0.5 / 0.6).abs() < 1e-12, "{pr}");
    }

    #[test]
    fn no_pr_without_a_sensor_a_capacity_or_enough_sunlight() {
        let inverter = || device("inv", DeviceKind::Inverter, vec![produced(10, 5000.0)]);
        let sensor = |wh_m2| device("poa", DeviceKind::IrradianceSensor, vec![sunlight(10, wh_m2)]);
        let without_sensor = report(&[inverter()], 10.0);
        assert_eq!(without_sensor.performance_ratio, None);
        assert!(without_sensor.buckets.iter().all(|b| b.performance_ratio.is_none()));
        assert_eq!(report(&[inverter(), sensor(600.0)], 0.0).performance_ratio, None);
        assert_eq!(report(&[inverter(), sensor(5.0)], 10.0).performance_ratio, None);
        assert!(report(&[inverter(), sensor(600.0)], 10.0).performance_ratio.is_some());
    }

    #[test]
    fn the_ratio_needs_a_capacity_and_insolation() {
        assert_eq!(performance_ratio(8000.0, 1000.0, 10.0), Some(0.8));
        assert_eq!(performance_ratio(8000.0, 1000.0, 0.0), None);
        assert_eq!(performance_ratio(10.0, MIN_INSOLATION_WH_M2 - 1.0, 10.0), None);
    }
}
