//! Hourly rollups: what one device did in one UTC hour, folded from its raw readings.
//!
//! Energy comes from the lifetime counter where the device reports one: the sum of the positive
//! steps between consecutive readings (a counter that drops is taken to have been reset, and its
//! new value is what it produced since). Where no counter is reported, the trapezoidal integral
//! of AC power stands in. Steps across hour boundaries are attributed by the report, which sees
//! the neighbouring hours' first and last counter values.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{DeviceId, DeviceStatus, GatewayId, Metric, Reading};

/// Readings further apart than this are a gap: power is not integrated across it.
pub const MAX_INTEGRATION_GAP: TimeDelta = TimeDelta::minutes(15);

/// One device's hour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HourlyRollup {
    /// Gateway.
    pub gateway: GatewayId,
    /// Device.
    pub device: DeviceId,
    /// Start of the UTC hour.
    pub hour: DateTime<Utc>,
    /// Readings in the hour.
    pub samples: u32,
    /// Minutes of the hour with at least one reading (availability).
    pub minutes_with_data: u32,
    /// First and last lifetime energy counter values in the hour, Wh.
    pub energy_first: Option<f64>,
    /// Last counter value, Wh.
    pub energy_last: Option<f64>,
    /// Positive counter steps inside the hour (resets handled), Wh.
    pub energy_gain: f64,
    /// Trapezoidal integral of AC power over the hour's readings, Wh (negative for net export
    /// on a meter).
    pub power_integral: f64,
    /// Highest AC power, W, and when.
    pub peak_power: Option<f64>,
    /// When the peak was measured.
    pub peak_at: Option<DateTime<Utc>>,
    /// Import counter first/last, Wh.
    pub import_first: Option<f64>,
    /// Import counter last, Wh.
    pub import_last: Option<f64>,
    /// Positive import counter steps, Wh.
    pub import_gain: f64,
    /// Export counter first, Wh.
    pub export_first: Option<f64>,
    /// Export counter last, Wh.
    pub export_last: Option<f64>,
    /// Positive export counter steps, Wh.
    pub export_gain: f64,
    /// Integral of irradiance, Wh/m² (insolation).
    pub insolation: f64,
    /// Readings reporting a fault.
    pub fault_samples: u32,
    /// The last AC power in the hour, W (for "current power").
    pub last_power: Option<f64>,
    /// Time of the last reading.
    pub last_at: Option<DateTime<Utc>>,
}

/// Counter bookkeeping shared by energy, import and export.
#[derive(Debug, Clone, Default)]
struct Counter {
    first: Option<f64>,
    last: Option<f64>,
    gain: f64,
}

impl Counter {
    fn push(&mut self, value: Option<f64>) {
        let Some(value) = value else { return };
        if self.first.is_none() {
            self.first = Some(value);
        }
        if let Some(previous) = self.last {
            self.gain += step(previous, value);
        }
        self.last = Some(value);
    }
}

/// The energy a counter step stands for: the increase, or after a reset the new value.
pub fn step(previous: f64, current: f64) -> f64 {
    if current >= previous { current - previous } else { current.max(0.0) }
}

/// Folds one device's readings (sorted by time, any span) into hourly rollups, in order.
pub fn hourly_rollups(readings: &[Reading]) -> Vec<HourlyRollup> {
    let mut out: Vec<HourlyRollup> = Vec::new();
    let mut group_start = 0;
    while group_start < readings.len() {
        let hour = truncate_hour(readings[group_start].ts);
        let mut end = group_start;
        while end < readings.len() && truncate_hour(readings[end].ts) == hour {
            end += 1;
        }
        let previous = group_start.checked_sub(1).map(|i| &readings[i]);
        let next = readings.get(end);
        out.extend(fold_hour(hour, previous, &readings[group_start..end], next));
        group_start = end;
    }
    out
}

/// The start of the hour `ts` lies in.
pub(crate) fn truncate_hour(ts: DateTime<Utc>) -> DateTime<Utc> {
    ts.duration_trunc(TimeDelta::hours(1)).unwrap_or(ts)
}

/// The hours, per device, whose rollups `readings` change: each reading's own hour, and the
/// neighbouring one when the reading lies within [`MAX_INTEGRATION_GAP`] of the boundary (the
/// segment across it is split there). Both stores fold these hours again after a write.
pub(crate) fn touched_hours(
    readings: &[Reading],
) -> BTreeMap<(&GatewayId, &DeviceId), BTreeSet<DateTime<Utc>>> {
    let mut touched: BTreeMap<(&GatewayId, &DeviceId), BTreeSet<DateTime<Utc>>> = BTreeMap::new();
    for reading in readings {
        let h = truncate_hour(reading.ts);
        let hours = touched.entry((&reading.gateway, &reading.device)).or_default();
        hours.insert(h);
        if reading.ts - h < MAX_INTEGRATION_GAP {
            hours.insert(h - TimeDelta::hours(1));
        }
        if h + TimeDelta::hours(1) - reading.ts <= MAX_INTEGRATION_GAP {
            hours.insert(h + TimeDelta::hours(1));
        }
    }
    touched
}

/// The stored readings a fold of the hours from `first` to `last` (both included) looks at:
/// those hours, and [`MAX_INTEGRATION_GAP`] on either side (a reading further away adds
/// nothing to them).
pub(crate) fn fold_window(first: DateTime<Utc>, last: DateTime<Utc>) -> Range<DateTime<Utc>> {
    first - MAX_INTEGRATION_GAP..last + TimeDelta::hours(1) + MAX_INTEGRATION_GAP
}

/// Integrates `value` linearly between two points, over the part of the segment inside
/// `[from, to)`; nothing across a gap.
fn segment(
    (t0, v0): (DateTime<Utc>, Option<f64>),
    (t1, v1): (DateTime<Utc>, Option<f64>),
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> f64 {
    let (Some(v0), Some(v1)) = (v0, v1) else {
        return 0.0;
    };
    let gap = t1 - t0;
    if gap <= TimeDelta::zero() || gap > MAX_INTEGRATION_GAP {
        return 0.0;
    }
    let (a, b) = (t0.max(from), t1.min(to));
    if b <= a {
        return 0.0;
    }
    let full = gap.num_milliseconds() as f64;
    let at = |t: DateTime<Utc>| v0 + (v1 - v0) * ((t - t0).num_milliseconds() as f64 / full);
    (at(a) + at(b)) / 2.0 * ((b - a).num_milliseconds() as f64 / 3_600_000.0)
}

fn fold_hour(
    hour: DateTime<Utc>,
    previous: Option<&Reading>,
    readings: &[Reading],
    next: Option<&Reading>,
) -> Option<HourlyRollup> {
    let first = readings.first()?;
    let mut fold = HourFold::start(hour, &first.gateway, &first.device, previous.map(FoldPoint::of));
    for reading in readings {
        fold.push(reading);
    }
    fold.rollup(next.map(FoldPoint::of))
}

/// What the integrals need of a reading: when, and its power and irradiance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FoldPoint {
    at: DateTime<Utc>,
    power: Option<f64>,
    irradiance: Option<f64>,
}

impl FoldPoint {
    /// The point of a reading.
    pub fn of(reading: &Reading) -> Self {
        Self {
            at: reading.ts,
            power: reading.metrics.get(Metric::AcPower),
            irradiance: reading.metrics.get(Metric::Irradiance),
        }
    }
}

/// One device's hour folded reading by reading, in time order. [`hourly_rollups`] folds whole
/// hours with it, and the Cassandra write path folds a connection's new readings onto it, so
/// both give the same rollup to the last bit.
#[derive(Debug, Clone)]
pub struct HourFold {
    gateway: GatewayId,
    device: DeviceId,
    hour: DateTime<Utc>,
    samples: u32,
    /// Bit `m` set: a reading in minute `m` of the hour.
    minutes: u64,
    energy: Counter,
    import: Counter,
    export: Counter,
    power_integral: f64,
    insolation: f64,
    peak: Option<(f64, DateTime<Utc>)>,
    faults: u32,
    /// The last reading folded, or before the first one the previous hour's last reading:
    /// integration starts from it, clipped to this hour's start, so an hour's integral covers
    /// the hour and nothing else.
    last: Option<FoldPoint>,
}

impl HourFold {
    /// An hour with no reading folded yet; `previous` is the device's reading before it.
    pub fn start(
        hour: DateTime<Utc>,
        gateway: &GatewayId,
        device: &DeviceId,
        previous: Option<FoldPoint>,
    ) -> Self {
        Self {
            gateway: gateway.clone(),
            device: device.clone(),
            hour,
            samples: 0,
            minutes: 0,
            energy: Counter::default(),
            import: Counter::default(),
            export: Counter::default(),
            power_integral: 0.0,
            insolation: 0.0,
            peak: None,
            faults: 0,
            last: previous,
        }
    }

    /// The hour.
    pub fn hour(&self) -> DateTime<Utc> {
        self.hour
    }

    /// The last reading folded (or the previous hour's, before any).
    pub fn last(&self) -> Option<FoldPoint> {
        self.last
    }

    /// Folds the next reading of the hour (later than every one before).
    pub fn push(&mut self, reading: &Reading) {
        let m = &reading.metrics;
        self.samples = self.samples.saturating_add(1);
        self.energy.push(m.get(Metric::Energy));
        self.import.push(m.get(Metric::ImportEnergy));
        self.export.push(m.get(Metric::ExportEnergy));
        if let Ok(minute @ 0..64) = u32::try_from((reading.ts - self.hour).num_minutes()) {
            self.minutes |= 1 << minute;
        }
        let point = FoldPoint::of(reading);
        if let Some(p) = point.power
            && self.peak.is_none_or(|(best, _)| p > best)
        {
            self.peak = Some((p, reading.ts));
        }
        if reading.status.as_ref().is_some_and(DeviceStatus::is_fault) {
            self.faults += 1;
        }
        if let Some(last) = self.last {
            let (power, irradiance) = self.integrals(last, point);
            self.power_integral += power;
            self.insolation += irradiance;
        }
        self.last = Some(point);
    }

    /// The power and irradiance integrals of the segment from `from` to `to`, the part of it
    /// inside the hour.
    fn integrals(&self, from: FoldPoint, to: FoldPoint) -> (f64, f64) {
        let hour_end = self.hour + TimeDelta::hours(1);
        (
            segment((from.at, from.power), (to.at, to.power), self.hour, hour_end),
            segment((from.at, from.irradiance), (to.at, to.irradiance), self.hour, hour_end),
        )
    }

    /// The hour's rollup, with `next` the device's first reading after the hour (the segment
    /// to it counts up to the hour's end). `None` before any reading was folded.
    pub fn rollup(&self, next: Option<FoldPoint>) -> Option<HourlyRollup> {
        let last = self.last.filter(|_| self.samples > 0)?;
        let (mut power_integral, mut insolation) = (self.power_integral, self.insolation);
        if let Some(next) = next {
            let (power, irradiance) = self.integrals(last, next);
            power_integral += power;
            insolation += irradiance;
        }
        Some(HourlyRollup {
            gateway: self.gateway.clone(),
            device: self.device.clone(),
            hour: self.hour,
            samples: self.samples,
            minutes_with_data: self.minutes.count_ones(),
            energy_first: self.energy.first,
            energy_last: self.energy.last,
            energy_gain: self.energy.gain,
            power_integral,
            peak_power: self.peak.map(|(p, _)| p),
            peak_at: self.peak.map(|(_, at)| at),
            import_first: self.import.first,
            import_last: self.import.last,
            import_gain: self.import.gain,
            export_first: self.export.first,
            export_last: self.export.last,
            export_gain: self.export.gain,
            insolation,
            fault_samples: self.faults,
            last_power: last.power,
            last_at: Some(last.at),
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::Metrics;

    fn reading(minute: i64, power: Option<f64>, energy: Option<f64>) -> Reading {
        let mut metrics = Metrics::default();
        if let Some(p) = power {
            metrics.set(Metric::AcPower, p).expect("valid");
        }
        if let Some(e) = energy {
            metrics.set(Metric::Energy, e).expect("valid");
        }
        Reading {
            gateway: GatewayId::parse("GW").expect("valid"),
            device: DeviceId::parse("inv").expect("valid"),
            ts: Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).single().expect("valid")
                + TimeDelta::minutes(minute),
            status: None,
            metrics,
        }
    }

    #[test]
    fn counter_steps_are_summed_per_hour_and_a_reset_counts_its_new_value() {
        // 10:00 1000 Wh, 10:30 1500, 10:45 reset to 20, 11:10 220.
        let rollups = hourly_rollups(&[
            reading(0, None, Some(1000.0)),
            reading(30, None, Some(1500.0)),
            reading(45, None, Some(20.0)),
            reading(70, None, Some(220.0)),
        ]);
        assert_eq!(rollups.len(), 2);
        assert_eq!(rollups[0].energy_gain, 500.0 + 20.0);
        assert_eq!((rollups[0].energy_first, rollups[0].energy_last), (Some(1000.0), Some(20.0)));
        assert_eq!(rollups[1].energy_gain, 0.0, "one reading in the hour: no step inside it");
        assert_eq!(rollups[1].energy_first, Some(220.0));
    }

    #[test]
    fn power_is_integrated_with_trapezoids_and_not_across_gaps() {
        // 1000 W at 10:00, 2000 W at 10:10 -> 1500 W for 1/6 h = 250 Wh; then a 30-minute gap
        // (not integrated); 2000 W at 10:40 and 10:50 -> 333.33 Wh.
        let rollups = hourly_rollups(&[
            reading(0, Some(1000.0), None),
            reading(10, Some(2000.0), None),
            reading(40, Some(2000.0), None),
            reading(50, Some(2000.0), None),
        ]);
        assert!((rollups[0].power_integral - (250.0 + 2000.0 / 6.0)).abs() < 1e-9);
        assert_eq!(rollups[0].peak_power, Some(2000.0));
        assert_eq!(rollups[0].minutes_with_data, 4);
    }

    #[test]
    fn a_segment_crossing_the_hour_is_split_at_the_hour() {
        // 10:54 0 W -> 11:06 1200 W: power at 11:00 is 600 W. 10:54-11:00: 300 W avg × 0.1 h = 30 Wh;
        // 11:00-11:06: 900 W avg × 0.1 h = 90 Wh. Together the 120 Wh of the whole segment.
        let rollups = hourly_rollups(&[reading(54, Some(0.0), None), reading(66, Some(1200.0), None)]);
        assert_eq!(rollups.len(), 2);
        assert!((rollups[0].power_integral - 30.0).abs() < 1e-9, "{}", rollups[0].power_integral);
        assert!((rollups[1].power_integral - 90.0).abs() < 1e-9, "{}", rollups[1].power_integral);
    }
}
