//! What one writer knows of a device's stored readings between its documents, so that the hours
//! a new document touches are folded on from there instead of read back from the store.
//!
//! A carry holds the fold of the device's newest hour with readings, up to its newest stored
//! reading, and how far past that reading the store is known to hold nothing. A document whose
//! readings all come after that reading, with nothing stored within an integration gap after
//! them, continues the fold exactly as folding the stored readings would ([`HourFold`] is the
//! same code). Anything else (a rewrite, a backfill behind the carry, readings stored ahead of
//! it by another writer) is folded from the store as before, and the carry starts again from
//! what that read found. So is a document that comes later than the device's cadence after the
//! carry when the store holds readings in between: another writer (a second connection of the
//! same gateway) stored them, and they belong in the fold.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;

use chrono::{DateTime, TimeDelta, Utc};

use crate::domain::{DeviceId, GatewayId, Reading};
use crate::reports::HourlyRollup;
use crate::reports::rollup::{FoldPoint, HourFold, MAX_INTEGRATION_GAP, truncate_hour};

/// How far past a writer's newest reading of a device the store is read (or checked to hold
/// nothing) when its carry starts or runs out: once a day for a live gateway, once every 24
/// documents of an hour each for one catching up.
pub(crate) const CARRY_AHEAD: TimeDelta = TimeDelta::days(1);

/// A device, by its gateway.
pub(crate) type DeviceKey = (GatewayId, DeviceId);

/// A document's readings by device, each device's in document order (borrowed when the document
/// has one device, as nearly all have).
pub(crate) fn by_device(readings: &[Reading]) -> Vec<(DeviceKey, Cow<'_, [Reading]>)> {
    let Some(first) = readings.first() else { return Vec::new() };
    let key = |r: &Reading| (r.gateway.clone(), r.device.clone());
    if readings.iter().all(|r| r.gateway == first.gateway && r.device == first.device) {
        return vec![(key(first), Cow::Borrowed(readings))];
    }
    let mut devices: BTreeMap<DeviceKey, Vec<Reading>> = BTreeMap::new();
    for reading in readings {
        devices.entry(key(reading)).or_default().push(reading.clone());
    }
    devices.into_iter().map(|(key, readings)| (key, Cow::Owned(readings))).collect()
}

/// One device's carry.
#[derive(Debug, Clone)]
pub(crate) struct Carry {
    /// The newest hour with readings, folded up to `newest`.
    open: HourFold,
    /// The device's newest stored reading.
    newest: DateTime<Utc>,
    /// The time from the reading before it to `newest`: the device's cadence, when known.
    interval: Option<TimeDelta>,
    /// Nothing is stored after `newest` and before this.
    clear_until: DateTime<Utc>,
}

impl Carry {
    /// The carry of one device whose stored readings in a range ending at `known_end` are
    /// `stored` (oldest first). The range must begin at least [`MAX_INTEGRATION_GAP`] before
    /// the hour of the newest reading, so that the reading before that hour is there when it
    /// counts. `None` when nothing is stored.
    pub(crate) fn seed(stored: &[Reading], known_end: DateTime<Utc>) -> Option<Self> {
        let newest = stored.last()?;
        let hour = truncate_hour(newest.ts);
        let first_in_hour = stored.partition_point(|r| r.ts < hour);
        let previous = first_in_hour.checked_sub(1).map(|i| FoldPoint::of(&stored[i]));
        let mut open = HourFold::start(hour, &newest.gateway, &newest.device, previous);
        for reading in &stored[first_in_hour..] {
            open.push(reading);
        }
        let interval = stored.len().checked_sub(2).map(|before| newest.ts - stored[before].ts);
        Some(Self { open, newest: newest.ts, interval, clear_until: known_end.max(newest.ts) })
    }

    /// Whether `readings` (one device's, in the order given) continue the carry: all after its
    /// newest reading, in strictly increasing time.
    pub(crate) fn continues(&self, readings: &[Reading]) -> bool {
        let mut after = self.newest;
        readings.iter().all(|r| {
            let later = r.ts > after;
            after = r.ts;
            later
        })
    }

    /// The time between the carry's newest reading and the first of `readings` (which continue
    /// it) when it is longer than the device's cadence, give or take half of it (a logger's
    /// clock jitters): another writer may have stored readings there since, and then `readings`
    /// cannot be folded on. `None` when they follow at once. (Another writer's readings between
    /// two of this one's, closer than its cadence, are not looked for.)
    fn gap_before(&self, readings: &[Reading]) -> Option<Range<DateTime<Utc>>> {
        let first = readings.first()?.ts;
        let follows = self.interval.is_some_and(|interval| first - self.newest <= interval * 3 / 2);
        (!follows).then(|| self.newest + TimeDelta::milliseconds(1)..first)
    }

    /// How far past `readings`' newest the store must be known to hold nothing for them to be
    /// folded on: a reading stored within an integration gap would change their last hour.
    fn needed(readings: &[Reading]) -> Option<DateTime<Utc>> {
        readings.last().map(|r| r.ts + MAX_INTEGRATION_GAP + TimeDelta::milliseconds(1))
    }

    /// The ranges of the store that must hold no reading of the device before `readings`
    /// (which continue the carry) are folded on, in the order to look: the gap before them
    /// ([`Self::gap_before`]), then, when the carry does not know far enough past them
    /// ([`Self::needed`]), from where its knowledge ends to `ahead` past that. Once all are
    /// found empty, [`Self::found_empty`] records them. Empty when nothing is to be looked at.
    pub(crate) fn probes(&self, readings: &[Reading], ahead: TimeDelta) -> Vec<Range<DateTime<Utc>>> {
        let mut probes: Vec<_> = self.gap_before(readings).into_iter().collect();
        if let Some(needed) = Self::needed(readings)
            && self.clear_until < needed
        {
            probes.push(self.clear_until..needed + ahead);
        }
        probes
    }

    /// The store was found to hold nothing in `probes` (from [`Self::probes`]).
    pub(crate) fn found_empty(&mut self, probes: &[Range<DateTime<Utc>>]) {
        for probe in probes {
            self.clear_until = self.clear_until.max(probe.end);
        }
    }

    /// Folds `readings` on (see [`Self::continues`]); returns the rollups of the hours they
    /// change: the carry's open hour and every hour they reach, the last one as it stands.
    pub(crate) fn advance(&mut self, readings: &[Reading]) -> Vec<HourlyRollup> {
        let mut changed = Vec::new();
        for reading in readings {
            let hour = truncate_hour(reading.ts);
            if hour != self.open.hour() {
                changed.extend(self.open.rollup(Some(FoldPoint::of(reading))));
                self.open = HourFold::start(hour, &reading.gateway, &reading.device, self.open.last());
            }
            self.open.push(reading);
            self.interval = Some(reading.ts - self.newest);
            self.newest = reading.ts;
        }
        changed.extend(self.open.rollup(None));
        changed
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::TimeZone;

    use super::*;
    use crate::domain::{DeviceId, DeviceStatus, GatewayId, Metric, Metrics};
    use crate::reports::rollup::hourly_rollups;

    /// Pseudo-random one-device readings: steps of 20 s to 40 min, so that some hours are
    /// empty and some segments are gaps; a counter that resets; some faults.
    fn readings(count: usize, mut state: u64) -> Vec<Reading> {
        let mut ts = Utc.with_ymd_and_hms(2026, 3, 1, 22, 50, 0).single().expect("valid date");
        let mut counter = 5_000.0;
        (0..count)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let step = match state % 10 {
                    0 => 40 * 60,
                    1 => 16 * 60,
                    _ => 20 + (state >> 8) % 300,
                };
                ts += TimeDelta::seconds(i64::try_from(step).expect("small"));
                counter = if state.is_multiple_of(97) { 3.0 } else { counter + (state >> 16) as f64 % 50.0 };
                let mut metrics = Metrics::default();
                metrics.set(Metric::AcPower, ((state >> 20) % 5000) as f64 + 0.25).expect("valid");
                metrics.set(Metric::Energy, counter).expect("valid");
                if state.is_multiple_of(3) {
                    metrics.set(Metric::Irradiance, ((state >> 30) % 1000) as f64).expect("valid");
                }
                Reading {
                    gateway: GatewayId::parse("GW-1").expect("valid"),
                    device: DeviceId::parse("inv-1").expect("valid"),
                    ts,
                    status: state.is_multiple_of(11).then_some(DeviceStatus::Fault),
                    metrics,
                }
            })
            .collect()
    }

    #[test]
    fn folding_document_after_document_writes_what_folding_everything_stored_gives() {
        for seed in 1..40_u64 {
            let all = readings(400, seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            // The first document is folded from the store, the rest carried, in documents of
            // 1 to 90 readings; each hour's last written rollup is what stays stored.
            let first = 1 + (seed as usize * 7) % 50;
            let mut written: BTreeMap<DateTime<Utc>, Vec<u8>> =
                hourly_rollups(&all[..first]).into_iter().map(|r| (r.hour, r.to_bytes())).collect();
            let mut carry =
                Carry::seed(&all[..first], all[first - 1].ts + TimeDelta::days(1)).expect("readings");
            let mut at = first;
            while at < all.len() {
                let end = (at + 1 + (at * 31 + seed as usize) % 90).min(all.len());
                let document = &all[at..end];
                assert!(carry.continues(document));
                for rollup in carry.advance(document) {
                    written.insert(rollup.hour, rollup.to_bytes());
                }
                at = end;
            }
            let expected: BTreeMap<_, _> =
                hourly_rollups(&all).into_iter().map(|r| (r.hour, r.to_bytes())).collect();
            assert_eq!(written, expected, "seed {seed}");
        }
    }

    #[test]
    fn only_readings_after_the_newest_in_increasing_time_continue_a_carry() {
        let all = readings(10, 7);
        let carry = Carry::seed(&all[..5], all[4].ts + TimeDelta::hours(1)).expect("readings");
        assert!(carry.continues(&all[5..]));
        assert!(!carry.continues(&all[4..]), "a rewrite of the newest reading");
        assert!(!carry.continues(&[all[6].clone(), all[5].clone()]), "out of order");
        assert!(!carry.continues(&[all[6].clone(), all[6].clone()]), "repeated");
        assert!(Carry::seed(&[], Utc::now()).is_none());
    }

    #[test]
    fn readings_later_than_the_devices_cadence_leave_a_gap_to_look_into() {
        let minute = |m: i64| {
            let mut reading = readings(1, 3).remove(0);
            reading.ts = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).single().expect("valid date")
                + TimeDelta::minutes(m);
            reading
        };
        let lone = Carry::seed(&[minute(0)], minute(0).ts).expect("a reading");
        assert_eq!(
            lone.gap_before(&[minute(1)]),
            Some(minute(0).ts + TimeDelta::milliseconds(1)..minute(1).ts)
        );
        let mut carry = Carry::seed(&[minute(0), minute(1)], minute(1).ts).expect("readings");
        assert_eq!(carry.gap_before(&[minute(2), minute(3)]), None, "the next minute follows at once");
        carry.advance(&[minute(2), minute(3)]);
        let mut late = minute(4);
        late.ts += TimeDelta::seconds(30);
        assert_eq!(carry.gap_before(&[late]), None, "half a cadence late still follows");
        assert!(carry.gap_before(&[minute(5)]).is_some(), "a reading could lie in between");
        let gap = carry.gap_before(&[minute(34), minute(35)]).expect("half an hour later");
        assert_eq!(gap, minute(3).ts + TimeDelta::milliseconds(1)..minute(34).ts);
        carry.advance(&[minute(34), minute(35)]);
        assert_eq!(carry.gap_before(&[minute(36)]), None, "the cadence is the newest two readings'");
        assert_eq!(carry.gap_before(&[]), None);
    }
}
