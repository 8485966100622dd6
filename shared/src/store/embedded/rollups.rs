//! The hourly rollups a write touches, recomputed inside the writer's transaction from the
//! readings stored around them, so that they are exactly as durable as the readings and equal to a
//! fold of everything stored, whoever wrote it and in whatever order. (A document that continues
//! its writer's carry is folded on from it instead, with the same result: `write.rs`.)

use std::ops::Range;

use chrono::{DateTime, TimeDelta, Utc};
use rusqlite::{Connection, Row, params};

use super::rows::{from_millis, millis};
use super::writer::backend;
use crate::domain::{DeviceId, DeviceStatus, GatewayId, Metric, Metrics, Reading};
use crate::reports::HourlyRollup;
use crate::reports::rollup::{fold_window, hourly_rollups, touched_hours};
use crate::store::StoreError;
use crate::store::carry::{Carry, DeviceKey};

/// What a fold reads of a stored reading, in this order: its time and operating state, then
/// the metrics of [`FOLDED`].
const FOLD_SELECT: &str = "SELECT ts, status, ac_power, irradiance, energy, import_energy, export_energy
    FROM readings WHERE gateway = ?1 AND device = ?2 AND ts >= ?3 AND ts < ?4 ORDER BY ts";

/// The metrics an hourly rollup folds (power and irradiance integrals, the energy counters),
/// in the order [`FOLD_SELECT`] reads them after `ts` and `status`.
const FOLDED: [Metric; 5] =
    [Metric::AcPower, Metric::Irradiance, Metric::Energy, Metric::ImportEnergy, Metric::ExportEnergy];

/// Recomputes the hourly rollups that `readings` touch. A reading near an hour boundary also
/// changes the neighbouring hour (the segment between them is split at the boundary).
///
/// Each device's touched hours are read in runs of consecutive hours, one query per run, and
/// only the columns a fold uses are decoded: the rows read are the run's hours with the
/// integration gap on both sides, which is all a fold of those hours looks at. A device's last
/// run is read `ahead` further, and what it finds seeds the device's carry (returned), which
/// then knows the store holds nothing else up to the end of that read.
pub(super) fn refresh_rollups(
    c: &Connection,
    readings: &[Reading],
    ahead: TimeDelta,
) -> Result<Vec<(DeviceKey, Carry)>, StoreError> {
    let mut query = c.prepare_cached(FOLD_SELECT).map_err(backend)?;
    let mut delete = c
        .prepare_cached("DELETE FROM hourly_rollups WHERE gateway = ?1 AND device = ?2 AND hour = ?3")
        .map_err(backend)?;
    let runs = touched_runs(readings);
    let mut carries = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let (gateway, device) = (run.gateway.as_str(), run.device.as_str());
        let last_of_device =
            runs.get(i + 1).is_none_or(|next| (next.gateway, next.device) != (run.gateway, run.device));
        let mut window = fold_window(run.first, run.last);
        if last_of_device {
            window.end += ahead;
        }
        let (from, to) = (millis(window.start), millis(window.end));
        let stored = query
            .query_map(params![gateway, device, from, to], |row| folded_reading(row, run.gateway, run.device))
            .map_err(backend)?
            .map(|r| r.map_err(backend)?)
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut rollups = hourly_rollups(&stored).into_iter().peekable();
        let mut hour = run.first;
        while hour <= run.last {
            // Rollups come in hour order; the window's margins may add one before the run.
            while rollups.next_if(|r| r.hour < hour).is_some() {}
            match rollups.next_if(|r| r.hour == hour) {
                Some(rollup) => upsert(c, &rollup)?,
                None => {
                    delete.execute(params![gateway, device, millis(hour)]).map_err(backend)?;
                }
            }
            hour += TimeDelta::hours(1);
        }
        if last_of_device && let Some(carry) = Carry::seed(&stored, window.end) {
            carries.push(((run.gateway.clone(), run.device.clone()), carry));
        }
    }
    Ok(carries)
}

/// Writes one hourly rollup, replacing the hour's old one.
pub(super) fn upsert(c: &Connection, rollup: &HourlyRollup) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT OR REPLACE INTO hourly_rollups (gateway, device, hour, rollup) VALUES (?1, ?2, ?3, ?4)",
    )
    .map_err(backend)?
    .execute(params![rollup.gateway.as_str(), rollup.device.as_str(), millis(rollup.hour), rollup.to_bytes()])
    .map_err(backend)?;
    Ok(())
}

/// Whether any reading of the device is stored in one of `ranges`: one index lookup each, in
/// order until one is found.
pub(super) fn holds_readings_in(
    c: &Connection,
    (gateway, device): &DeviceKey,
    ranges: &[Range<DateTime<Utc>>],
) -> Result<bool, StoreError> {
    let mut probe = c
        .prepare_cached(
            "SELECT 1 FROM readings WHERE gateway = ?1 AND device = ?2 AND ts >= ?3 AND ts < ?4 LIMIT 1",
        )
        .map_err(backend)?;
    for range in ranges {
        let params = params![gateway.as_str(), device.as_str(), millis(range.start), millis(range.end)];
        if probe.exists(params).map_err(backend)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Consecutive hours of one device that a write touched.
#[derive(Debug)]
struct TouchedRun<'a> {
    gateway: &'a GatewayId,
    device: &'a DeviceId,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
}

/// The hours `readings` touch ([`touched_hours`]), per device, as runs of consecutive hours.
fn touched_runs(readings: &[Reading]) -> Vec<TouchedRun<'_>> {
    let mut runs: Vec<TouchedRun<'_>> = Vec::new();
    for ((gateway, device), hours) in touched_hours(readings) {
        let device_runs = runs.len();
        for hour in hours {
            match runs[device_runs..].last_mut() {
                Some(run) if run.last + TimeDelta::hours(1) == hour => run.last = hour,
                _ => runs.push(TouchedRun { gateway, device, first: hour, last: hour }),
            }
        }
    }
    runs
}

/// A stored reading as far as a fold needs it (see [`FOLD_SELECT`]): the other metrics and the
/// extras are left out, and the ids are the ones asked for rather than read and parsed again.
fn folded_reading(
    row: &Row<'_>,
    gateway: &GatewayId,
    device: &DeviceId,
) -> rusqlite::Result<Result<Reading, StoreError>> {
    let ts: i64 = row.get(0)?;
    let status: Option<String> = row.get(1)?;
    let mut metrics = Metrics::default();
    for (i, metric) in FOLDED.iter().enumerate() {
        metrics.set_unchecked(*metric, row.get(2 + i)?);
    }
    Ok(from_millis(ts).map(|ts| Reading {
        gateway: gateway.clone(),
        device: device.clone(),
        ts,
        status: status.map(|s| DeviceStatus::from_word(&s)),
        metrics,
    }))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn reading(device: &str, ts: DateTime<Utc>) -> Reading {
        Reading {
            gateway: GatewayId::parse("GW-1").expect("valid id"),
            device: DeviceId::parse(device).expect("valid id"),
            ts,
            status: None,
            metrics: Metrics::default(),
        }
    }

    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, hour, minute, 0).single().expect("valid time")
    }

    fn spans(runs: &[TouchedRun<'_>]) -> Vec<(String, u32, u32)> {
        use chrono::Timelike;
        runs.iter().map(|r| (r.device.as_str().to_owned(), r.first.hour(), r.last.hour())).collect()
    }

    #[test]
    fn a_document_of_one_hour_touches_its_neighbours_as_one_run() {
        let readings: Vec<_> = (0..60).map(|m| reading("inv-1", at(10, m))).collect();
        assert_eq!(spans(&touched_runs(&readings)), [("inv-1".to_owned(), 9, 11)]);
    }

    #[test]
    fn readings_away_from_a_boundary_touch_only_their_hour_and_hours_apart_make_runs_apart() {
        let readings = [
            reading("inv-1", at(10, 30)),
            reading("inv-1", at(13, 30)),
            reading("inv-1", at(14, 20)),
            reading("meter-1", at(13, 30)),
        ];
        assert_eq!(
            spans(&touched_runs(&readings)),
            [("inv-1".to_owned(), 10, 10), ("inv-1".to_owned(), 13, 14), ("meter-1".to_owned(), 13, 13)]
        );
    }
}
