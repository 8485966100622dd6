//! Energy per hour from one device's hourly rollups, and its sum into a period's buckets.
//!
//! A lifetime counter gives the most trustworthy energy: an hour is credited with the counter's
//! gain inside it plus the step from the previous hour-with-data's last value to its own first
//! value ([`rollup::step`], so a reset counts the new value). That step covers gaps too: energy
//! produced while a gateway was silent lands in the hour it came back, so months and years add
//! up to the counter's difference. A step across a gap longer than [`MAX_COUNTER_GAP`] is not
//! credited: a gateway back after days would otherwise show a fabricated record hour.
//! A device that reports no counter has its trapezoidal power integral used instead.

use chrono::{DateTime, TimeDelta, Utc};

use super::period::Bucket;
use super::rollup::{self, HourlyRollup};

/// Counter steps across longer gaps are not credited; readers fetch this much history before a
/// period so that a step into its first hour is seen.
pub const MAX_COUNTER_GAP: TimeDelta = TimeDelta::hours(24);

/// Which lifetime counter of a rollup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// Produced energy (`energy`).
    Production,
    /// Energy drawn from the grid (`import_energy`).
    Import,
    /// Energy fed into the grid (`export_energy`).
    Export,
}

impl Counter {
    fn first(self, r: &HourlyRollup) -> Option<f64> {
        match self {
            Self::Production => r.energy_first,
            Self::Import => r.import_first,
            Self::Export => r.export_first,
        }
    }

    fn last(self, r: &HourlyRollup) -> Option<f64> {
        match self {
            Self::Production => r.energy_last,
            Self::Import => r.import_last,
            Self::Export => r.export_last,
        }
    }

    fn gain(self, r: &HourlyRollup) -> f64 {
        match self {
            Self::Production => r.energy_gain,
            Self::Import => r.import_gain,
            Self::Export => r.export_gain,
        }
    }
}

/// Energy of one hour, Wh.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HourEnergy {
    /// Start of the UTC hour.
    pub hour: DateTime<Utc>,
    /// Energy, Wh.
    pub wh: f64,
}

/// True when any rollup carries the counter.
pub fn has_counter(rollups: &[HourlyRollup], counter: Counter) -> bool {
    rollups.iter().any(|r| counter.first(r).is_some())
}

/// Energy per hour from a lifetime counter (rollups in time order; hours without the counter
/// are skipped and bridged by the next step).
pub fn counter_energy(rollups: &[HourlyRollup], counter: Counter) -> Vec<HourEnergy> {
    let mut out = Vec::with_capacity(rollups.len());
    let mut previous: Option<(DateTime<Utc>, f64)> = None;
    for r in rollups {
        let (Some(first), Some(last)) = (counter.first(r), counter.last(r)) else { continue };
        let bridge = match previous {
            Some((hour, value)) if r.hour - hour <= MAX_COUNTER_GAP => rollup::step(value, first),
            _ => 0.0,
        };
        out.push(HourEnergy { hour: r.hour, wh: bridge + counter.gain(r) });
        previous = Some((r.hour, last));
    }
    out
}

/// Energy per hour from integrated AC power, counting only what flowed forwards (production on
/// an inverter, import on a meter).
pub fn integrated_energy(rollups: &[HourlyRollup]) -> Vec<HourEnergy> {
    rollups.iter().map(|r| HourEnergy { hour: r.hour, wh: r.power_integral.max(0.0) }).collect()
}

/// Energy per hour that flowed backwards through a meter (export), from integrated power.
pub fn integrated_reverse_energy(rollups: &[HourlyRollup]) -> Vec<HourEnergy> {
    rollups.iter().map(|r| HourEnergy { hour: r.hour, wh: (-r.power_integral).max(0.0) }).collect()
}

/// Energy per hour from the counter when the device reports one, else from integrated power
/// (`reverse` picks the backwards direction of the integral, for export).
pub fn energy(rollups: &[HourlyRollup], counter: Counter, reverse: bool) -> Vec<HourEnergy> {
    if has_counter(rollups, counter) {
        counter_energy(rollups, counter)
    } else if reverse {
        integrated_reverse_energy(rollups)
    } else {
        integrated_energy(rollups)
    }
}

/// Adds hourly energy into buckets by the hour's start; hours outside every bucket (the
/// history read for continuity) are left out.
pub fn into_buckets(hours: &[HourEnergy], buckets: &[Bucket], totals: &mut [f64]) {
    for h in hours {
        if let Some(index) = bucket_index(buckets, h.hour) {
            totals[index] += h.wh;
        }
    }
}

/// The bucket an instant falls in, if any (buckets in order and contiguous).
pub fn bucket_index(buckets: &[Bucket], at: DateTime<Utc>) -> Option<usize> {
    let index = buckets.partition_point(|b| b.end <= at);
    buckets.get(index).filter(|b| b.start <= at).map(|_| index)
}

#[cfg(test)]
pub(crate) mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::{DeviceId, GatewayId};

    /// An empty rollup for `hour` hours after 2026-06-01 00:00 UTC.
    pub(crate) fn rollup(hour: i64) -> HourlyRollup {
        HourlyRollup {
            gateway: GatewayId::parse("GW").expect("valid"),
            device: DeviceId::parse("inv").expect("valid"),
            hour: Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).single().expect("valid") + TimeDelta::hours(hour),
            samples: 60,
            minutes_with_data: 60,
            energy_first: None,
            energy_last: None,
            energy_gain: 0.0,
            power_integral: 0.0,
            peak_power: None,
            peak_at: None,
            import_first: None,
            import_last: None,
            import_gain: 0.0,
            export_first: None,
            export_last: None,
            export_gain: 0.0,
            insolation: 0.0,
            fault_samples: 0,
            last_power: None,
            last_at: None,
        }
    }

    /// A rollup whose production counter runs from `first` to `last` with `gain` inside.
    pub(crate) fn counted(hour: i64, first: f64, last: f64, gain: f64) -> HourlyRollup {
        HourlyRollup { energy_first: Some(first), energy_last: Some(last), energy_gain: gain, ..rollup(hour) }
    }

    fn wh(hours: &[HourEnergy]) -> Vec<f64> {
        hours.iter().map(|h| h.wh).collect()
    }

    #[test]
    fn steps_between_hours_are_credited_to_the_later_hour() {
        // 10:00-10:59 counter 1000 → 1400; 11:00 first reading 1450 (50 Wh made between
        // 10:59 and 11:00), last 1900.
        let hours = counter_energy(
            &[counted(10, 1000.0, 1400.0, 400.0), counted(11, 1450.0, 1900.0, 450.0)],
            Counter::Production,
        );
        assert_eq!(wh(&hours), [400.0, 50.0 + 450.0]);
    }

    #[test]
    fn a_counter_reset_between_hours_counts_the_new_value() {
        // The inverter was replaced: last 5000 Wh at 10:59, first 30 Wh at 11:00 (made since the
        // reset), 80 Wh at 11:59.
        let hours = counter_energy(
            &[counted(10, 4900.0, 5000.0, 100.0), counted(11, 30.0, 80.0, 50.0)],
            Counter::Production,
        );
        assert_eq!(wh(&hours), [100.0, 30.0 + 50.0]);
    }

    #[test]
    fn a_gap_is_bridged_by_the_counter_but_not_one_longer_than_a_day() {
        // Silent from 11:00 to 13:59: 600 Wh made meanwhile land at 14:00.
        let short = counter_energy(
            &[counted(10, 0.0, 100.0, 100.0), counted(14, 700.0, 750.0, 50.0)],
            Counter::Production,
        );
        assert_eq!(wh(&short), [100.0, 650.0]);
        // Silent for two days: the jump is not credited to one hour.
        let long = counter_energy(
            &[counted(10, 0.0, 100.0, 100.0), counted(58, 90_000.0, 90_050.0, 50.0)],
            Counter::Production,
        );
        assert_eq!(wh(&long), [100.0, 50.0]);
    }

    #[test]
    fn without_a_counter_the_power_integral_stands_in() {
        let with_power = |hour, integral| HourlyRollup { power_integral: integral, ..rollup(hour) };
        let hours = energy(&[with_power(10, 1200.0), with_power(11, -3.0)], Counter::Production, false);
        assert_eq!(wh(&hours), [1200.0, 0.0], "inverters do not produce negative energy");
        let export = energy(&[with_power(10, 250.0), with_power(11, -400.0)], Counter::Export, true);
        assert_eq!(wh(&export), [0.0, 400.0], "a meter's negative integral is export");
    }

    #[test]
    fn bucket_lookup_finds_the_bucket_holding_an_instant() {
        let at = |h| rollup(h).hour;
        let buckets: Vec<Bucket> =
            (0..3).map(|i| Bucket { start: at(i * 2), end: at(i * 2 + 2), label: String::new() }).collect();
        assert_eq!(bucket_index(&buckets, at(0)), Some(0));
        assert_eq!(bucket_index(&buckets, at(3)), Some(1));
        assert_eq!(bucket_index(&buckets, at(5)), Some(2));
        assert_eq!(bucket_index(&buckets, at(6)), None);
        assert_eq!(bucket_index(&buckets, at(-1)), None);
    }
}
