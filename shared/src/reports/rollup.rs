//! Hourly rollups: what one device did in one UTC hour, folded from its raw readings.
//!
//! Energy comes from the lifetime counter where the device reports one: the sum of the positive
//! steps between consecutive readings (a counter that drops is taken to have been reset, and its
//! new value is what it produced since). Where no counter is reported, the trapezoidal integral
//! of AC power stands in. Steps across hour boundaries are attributed by the report, which sees
//! the neighbouring hours' first and last counter values.

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
#[derive(Default)]
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
        out.push(fold_hour(hour, previous, &readings[group_start..end], next));
        group_start = end;
    }
    out
}

fn truncate_hour(ts: DateTime<Utc>) -> DateTime<Utc> {
    ts.duration_trunc(TimeDelta::hours(1)).unwrap_or(ts)
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
) -> HourlyRollup {
    let hour_end = hour + TimeDelta::hours(1);
    let first = &readings[0];
    let mut energy = Counter::default();
    let mut import = Counter::default();
    let mut export = Counter::default();
    let mut minutes = std::collections::BTreeSet::new();
    let mut power_integral = 0.0;
    let mut insolation = 0.0;
    let mut peak: Option<(f64, DateTime<Utc>)> = None;
    let mut faults = 0;
    // Integration starts from the previous hour's last reading, clipped to this hour's start,
    // so an hour's integral covers the hour and nothing else.
    let mut last_point =
        previous.map(|p| (p.ts, p.metrics.get(Metric::AcPower), p.metrics.get(Metric::Irradiance)));
    for reading in readings {
        let m = &reading.metrics;
        energy.push(m.get(Metric::Energy));
        import.push(m.get(Metric::ImportEnergy));
        export.push(m.get(Metric::ExportEnergy));
        minutes.insert((reading.ts - hour).num_minutes());
        let power = m.get(Metric::AcPower);
        let irradiance = m.get(Metric::Irradiance);
        if let Some(p) = power
            && peak.is_none_or(|(best, _)| p > best)
        {
            peak = Some((p, reading.ts));
        }
        if reading.status.as_ref().is_some_and(DeviceStatus::is_fault) {
            faults += 1;
        }
        if let Some((at, previous_power, previous_irradiance)) = last_point {
            power_integral += segment((at, previous_power), (reading.ts, power), hour, hour_end);
            insolation += segment((at, previous_irradiance), (reading.ts, irradiance), hour, hour_end);
        }
        last_point = Some((reading.ts, power, irradiance));
    }
    let last = &readings[readings.len() - 1];
    if let (Some(next), Some((at, power, irradiance))) = (next, last_point) {
        // The segment to the next hour's first reading, up to this hour's end.
        let m = &next.metrics;
        power_integral += segment((at, power), (next.ts, m.get(Metric::AcPower)), hour, hour_end);
        insolation += segment((at, irradiance), (next.ts, m.get(Metric::Irradiance)), hour, hour_end);
    }
    HourlyRollup {
        gateway: first.gateway.clone(),
        device: first.device.clone(),
        hour,
        samples: u32::try_from(readings.len()).unwrap_or(u32::MAX),
        minutes_with_data: u32::try_from(minutes.len()).unwrap_or(60),
        energy_first: energy.first,
        energy_last: energy.last,
        energy_gain: energy.gain,
        power_integral,
        peak_power: peak.map(|(p, _)| p),
        peak_at: peak.map(|(_, at)| at),
        import_first: import.first,
        import_last: import.last,
        import_gain: import.gain,
        export_first: export.first,
        export_last: export.last,
        export_gain: export.gain,
        insolation,
        fault_samples: faults,
        last_power: last.metrics.get(Metric::AcPower),
        last_at: Some(last.ts),
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
