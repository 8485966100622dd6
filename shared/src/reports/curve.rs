//! The day view's power curve: one device's raw readings averaged into short slots, so a chart
//! of a day of one-second data stays a few hundred points.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{DeviceId, DeviceKind, Metric, Reading};

/// Width of a curve slot.
pub const CURVE_SLOT: TimeDelta = TimeDelta::minutes(5);

/// The mean AC power of one slot.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Start of the slot.
    pub at: DateTime<Utc>,
    /// Mean AC power, W (negative on a meter: export).
    pub watts: f64,
}

/// One device's curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceCurve {
    /// The device.
    pub device: DeviceId,
    /// What it is.
    pub kind: DeviceKind,
    /// Points in time order; slots without readings are absent (charts break the line there).
    pub points: Vec<CurvePoint>,
}

/// Accumulates readings (in time order, in any number of chunks) into slot means.
#[derive(Debug, Default)]
pub struct CurveBuilder {
    points: Vec<CurvePoint>,
    slot: Option<(DateTime<Utc>, f64, u32)>,
}

impl CurveBuilder {
    /// Adds readings that follow those already added.
    pub fn extend(&mut self, readings: &[Reading]) {
        for reading in readings {
            let Some(watts) = reading.metrics.get(Metric::AcPower) else { continue };
            let start = reading.ts.duration_trunc(CURVE_SLOT).unwrap_or(reading.ts);
            match &mut self.slot {
                Some((slot, sum, count)) if *slot == start => {
                    *sum += watts;
                    *count += 1;
                }
                _ => {
                    self.flush();
                    self.slot = Some((start, watts, 1));
                }
            }
        }
    }

    fn flush(&mut self) {
        if let Some((at, sum, count)) = self.slot.take() {
            self.points.push(CurvePoint { at, watts: sum / f64::from(count) });
        }
    }

    /// The points.
    pub fn finish(mut self) -> Vec<CurvePoint> {
        self.flush();
        self.points
    }
}

/// The curve of one device's readings (in time order).
pub fn power_curve(readings: &[Reading]) -> Vec<CurvePoint> {
    let mut builder = CurveBuilder::default();
    builder.extend(readings);
    builder.finish()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::{GatewayId, Metrics};

    fn reading(second: i64, watts: Option<f64>) -> Reading {
        let mut metrics = Metrics::default();
        if let Some(w) = watts {
            metrics.set(Metric::AcPower, w).expect("valid");
        }
        Reading {
            gateway: GatewayId::parse("GW").expect("valid"),
            device: DeviceId::parse("inv").expect("valid"),
            ts: Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).single().expect("valid")
                + TimeDelta::seconds(second),
            status: None,
            metrics,
        }
    }

    #[test]
    fn readings_are_averaged_per_five_minute_slot_and_empty_slots_are_left_out() {
        let points = power_curve(&[
            reading(0, Some(1000.0)),
            reading(60, Some(2000.0)),
            reading(120, None),
            reading(299, Some(3000.0)),
            reading(900, Some(500.0)),
        ]);
        let start = reading(0, None).ts;
        assert_eq!(
            points,
            [
                CurvePoint { at: start, watts: 2000.0 },
                CurvePoint { at: start + TimeDelta::minutes(15), watts: 500.0 }
            ]
        );
    }
}
