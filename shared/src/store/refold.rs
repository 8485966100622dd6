//! Which hourly rollups a write changes and what they become, written once for both stores.
//!
//! After a document's readings are stored, every hour they touch ([`touched_hours`]: a reading
//! near a boundary changes the neighbouring hour too, as the segment across it is split there) is
//! folded again from the stored readings around it. Recomputing from what is stored, rather than
//! adding the document to the old rollup, makes a rewrite harmless and keeps each rollup exactly
//! what the readings say, whoever wrote them and in whatever order.
//!
//! This module plans the reads and decides the writes; it does no I/O. A store reads each
//! [`Refold::window`], hands what it found to [`Refold::apply`] and writes the [`HourChange`]s
//! with the guarantees it has: the embedded store inside the transaction that stores the readings,
//! Cassandra as of the time of its read (`store/cassandra/rollups.rs`).

use std::ops::Range;

use chrono::{DateTime, TimeDelta, Utc};

use crate::domain::{DeviceId, GatewayId, Reading};
use crate::reports::HourlyRollup;
use crate::reports::rollup::{fold_window, hourly_rollups, touched_hours};
use crate::store::carry::{Carry, DeviceKey};

/// One read of one device's stored readings and the consecutive hours folded from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refold<'a> {
    /// The device's gateway.
    pub(crate) gateway: &'a GatewayId,
    /// The device.
    pub(crate) device: &'a DeviceId,
    /// The first and last hour folded again (both included).
    hours: (DateTime<Utc>, DateTime<Utc>),
    /// The stored readings to read: the hours with an integration gap on either side, which is
    /// all a fold of them looks at, and for a device's last run `ahead` further.
    pub(crate) window: Range<DateTime<Utc>>,
    /// Whether what the read finds seeds the device's carry (its last run only).
    seeds_carry: bool,
}

/// What a fold of the stored readings changes.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "nearly every change is a Write: boxing would allocate once more per hour written"
)]
pub(crate) enum HourChange {
    /// The hour's rollup, replacing whatever is stored for it.
    Write(HourlyRollup),
    /// The hour holds no reading any more (a rewrite moved them): its rollup goes.
    Clear(DateTime<Utc>),
}

/// The outcome of one [`Refold`].
#[derive(Debug, Clone)]
pub(crate) struct Refolded {
    /// One change per hour of the refold, oldest first.
    pub(crate) changes: Vec<HourChange>,
    /// The earliest hour with a stored reading in the window (Cassandra marks a gateway's first
    /// hour with it).
    pub(crate) earliest_hour: Option<DateTime<Utc>>,
    /// The device's carry, when this was its last run and the window held readings: it then
    /// knows that the store holds nothing else up to the end of the window.
    pub(crate) carry: Option<(DeviceKey, Carry)>,
}

/// The refolds `readings` need: per device, one for each run of consecutive touched hours (hours
/// far apart are read apart, not as one span of everything between them). Each device's last run
/// reads `ahead` further, to seed the device's carry.
pub(crate) fn refolds(readings: &[Reading], ahead: TimeDelta) -> Vec<Refold<'_>> {
    let mut refolds: Vec<Refold<'_>> = Vec::new();
    for ((gateway, device), hours) in touched_hours(readings) {
        let device_runs = refolds.len();
        for hour in hours {
            match refolds[device_runs..].last_mut() {
                Some(run) if run.hours.1 + TimeDelta::hours(1) == hour => run.hours.1 = hour,
                _ => refolds.push(Refold {
                    gateway,
                    device,
                    hours: (hour, hour),
                    window: hour..hour,
                    seeds_carry: false,
                }),
            }
        }
        let device_refolds = &mut refolds[device_runs..];
        for run in device_refolds.iter_mut() {
            run.window = fold_window(run.hours.0, run.hours.1);
        }
        if let Some(last) = device_refolds.last_mut() {
            last.window.end += ahead;
            last.seeds_carry = true;
        }
    }
    refolds
}

impl Refold<'_> {
    /// The changes a fold of `stored` (the device's readings in [`Self::window`], oldest first)
    /// makes to this refold's hours, and the device's carry when this refold seeds it.
    pub(crate) fn apply(&self, stored: &[Reading]) -> Refolded {
        let rollups = hourly_rollups(stored);
        let earliest_hour = rollups.first().map(|r| r.hour);
        let mut rollups = rollups.into_iter().peekable();
        let (mut hour, last) = self.hours;
        let mut changes = Vec::new();
        while hour <= last {
            // Rollups come in hour order; the window's margins may add one before the run.
            while rollups.next_if(|r| r.hour < hour).is_some() {}
            changes.push(match rollups.next_if(|r| r.hour == hour) {
                Some(rollup) => HourChange::Write(rollup),
                None => HourChange::Clear(hour),
            });
            hour += TimeDelta::hours(1);
        }
        let carry = self
            .seeds_carry
            .then(|| Carry::seed(stored, self.window.end))
            .flatten()
            .map(|carry| ((self.gateway.clone(), self.device.clone()), carry));
        Refolded { changes, earliest_hour, carry }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Timelike};

    use super::*;
    use crate::domain::{Metric, Metrics};
    use crate::reports::rollup::MAX_INTEGRATION_GAP;

    fn reading(device: &str, ts: DateTime<Utc>) -> Reading {
        let mut metrics = Metrics::default();
        metrics.set(Metric::AcPower, 1000.0).expect("a valid power");
        Reading {
            gateway: GatewayId::parse("GW-1").expect("valid id"),
            device: DeviceId::parse(device).expect("valid id"),
            ts,
            status: None,
            metrics,
        }
    }

    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, hour, minute, 0).single().expect("valid time")
    }

    fn spans(refolds: &[Refold<'_>]) -> Vec<(String, u32, u32, bool)> {
        refolds
            .iter()
            .map(|r| (r.device.as_str().to_owned(), r.hours.0.hour(), r.hours.1.hour(), r.seeds_carry))
            .collect()
    }

    #[test]
    fn a_document_of_one_hour_touches_its_neighbours_as_one_run_that_reads_ahead() {
        let readings: Vec<_> = (0..60).map(|m| reading("inv-1", at(10, m))).collect();
        let refolds = refolds(&readings, TimeDelta::days(1));
        assert_eq!(spans(&refolds), [("inv-1".to_owned(), 9, 11, true)]);
        let window = &refolds[0].window;
        assert_eq!(window.start, at(9, 0) - MAX_INTEGRATION_GAP);
        assert_eq!(window.end, at(12, 0) + MAX_INTEGRATION_GAP + TimeDelta::days(1));
    }

    #[test]
    fn hours_apart_make_runs_apart_and_only_a_devices_last_run_seeds_its_carry() {
        let readings = [
            reading("inv-1", at(10, 30)),
            reading("inv-1", at(13, 30)),
            reading("inv-1", at(14, 20)),
            reading("meter-1", at(13, 30)),
        ];
        let refolds = refolds(&readings, TimeDelta::hours(2));
        assert_eq!(
            spans(&refolds),
            [
                ("inv-1".to_owned(), 10, 10, false),
                ("inv-1".to_owned(), 13, 14, true),
                ("meter-1".to_owned(), 13, 13, true)
            ]
        );
        assert_eq!(refolds[0].window.end, at(11, 0) + MAX_INTEGRATION_GAP, "not read ahead");
    }

    #[test]
    fn each_hour_is_written_as_the_stored_readings_fold_or_cleared_when_none_are_left() {
        // A rewrite moved the readings of 10 and 11 o'clock to 12: those hours are cleared, 12 is
        // written as a fold of what is stored.
        let written =
            [reading("inv-1", at(10, 30)), reading("inv-1", at(11, 30)), reading("inv-1", at(12, 30))];
        let stored = [reading("inv-1", at(12, 30)), reading("inv-1", at(12, 31))];
        let refold = refolds(&written, TimeDelta::zero()).remove(0);
        let refolded = refold.apply(&stored);
        assert_eq!(
            refolded.changes,
            [
                HourChange::Clear(at(10, 0)),
                HourChange::Clear(at(11, 0)),
                HourChange::Write(hourly_rollups(&stored).remove(0))
            ]
        );
        assert_eq!(refolded.earliest_hour, Some(at(12, 0)));
        let (key, _) = refolded.carry.expect("the last run seeds the carry");
        assert_eq!(key.1.as_str(), "inv-1");
        assert!(refold.apply(&[]).carry.is_none(), "nothing stored, nothing carried");
    }
}
