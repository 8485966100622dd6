//! The hourly rollups a write touches, folded again inside the writer's transaction from the
//! readings stored around them (which hours and what they become: `store/refold.rs`), so that
//! they are exactly as durable as the readings. (A document that continues its writer's carry is
//! folded on from it instead, with the same result: `write.rs`.)

use std::ops::Range;

use chrono::{DateTime, TimeDelta, Utc};
use rusqlite::{Connection, Row, params};

use super::rows::{from_millis, millis};
use super::writer::backend;
use crate::domain::{DeviceId, DeviceStatus, GatewayId, Metric, Metrics, Reading};
use crate::reports::HourlyRollup;
use crate::store::StoreError;
use crate::store::carry::{Carry, DeviceKey};
use crate::store::refold::{HourChange, refolds};

/// What a fold reads of a stored reading, in this order: its time and operating state, then
/// the metrics of [`FOLDED`].
const FOLD_SELECT: &str = "SELECT ts, status, ac_power, irradiance, energy, import_energy, export_energy
    FROM readings WHERE gateway = ?1 AND device = ?2 AND ts >= ?3 AND ts < ?4 ORDER BY ts";

/// The metrics an hourly rollup folds (power and irradiance integrals, the energy counters),
/// in the order [`FOLD_SELECT`] reads them after `ts` and `status`.
const FOLDED: [Metric; 5] =
    [Metric::AcPower, Metric::Irradiance, Metric::Energy, Metric::ImportEnergy, Metric::ExportEnergy];

/// Folds again, inside the writer's transaction, the hours `readings` touch ([`refolds`]): one
/// query per run of a device's consecutive hours, decoding only the columns a fold uses. Returns
/// the carries the devices' last runs seed.
pub(super) fn refresh_rollups(
    c: &Connection,
    readings: &[Reading],
    ahead: TimeDelta,
) -> Result<Vec<(DeviceKey, Carry)>, StoreError> {
    let mut query = c.prepare_cached(FOLD_SELECT).map_err(backend)?;
    let mut delete = c
        .prepare_cached("DELETE FROM hourly_rollups WHERE gateway = ?1 AND device = ?2 AND hour = ?3")
        .map_err(backend)?;
    let mut carries = Vec::new();
    for refold in refolds(readings, ahead) {
        let (gateway, device) = (refold.gateway, refold.device);
        let (from, to) = (millis(refold.window.start), millis(refold.window.end));
        let stored = query
            .query_map(params![gateway.as_str(), device.as_str(), from, to], |row| {
                folded_reading(row, gateway, device)
            })
            .map_err(backend)?
            .map(|r| r.map_err(backend)?)
            .collect::<Result<Vec<_>, StoreError>>()?;
        let refolded = refold.apply(&stored);
        for change in &refolded.changes {
            match change {
                HourChange::Write(rollup) => upsert(c, rollup)?,
                HourChange::Clear(hour) => {
                    delete
                        .execute(params![gateway.as_str(), device.as_str(), millis(*hour)])
                        .map_err(backend)?;
                }
            }
        }
        carries.extend(refolded.carry);
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
