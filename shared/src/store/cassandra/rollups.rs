//! Hourly rollups on Cassandra: kept up to date by the write path and read by the reports.
//!
//! After a document's readings are written, every hour they touch (and the neighbouring hour
//! when a reading lies within the integration gap of the boundary, as the segment across it is
//! split there: [`touched_hours`]) is folded again from the stored readings and written back.
//! Recomputing from what is stored, rather than adding the document to the old rollup, makes a
//! rewrite harmless and keeps the rollup exactly what the readings say. A connection's later
//! documents that continue what it stored are folded on from its carry instead
//! (`store/carry.rs`), with the same result, and their rollups are written together with their
//! readings.
//!
//! Two connections of one gateway taking turns are told apart by the gap each finds before its
//! next document (`Carry::gap_before`), which sends that document down the fold-from-the-store
//! path when the other stored readings there. Two connections writing the same device's same
//! hour at the very same moment could still each fold without the other's readings in flight,
//! and the hour stays short until one of them folds it from the store (a document that does not
//! continue its carry, a new connection, a rewrite). A gateway's documents arrive on one
//! connection, one after the other, so in practice one connection writes a device at a time.

use std::collections::BTreeMap;
use std::ops::Range;

use chrono::{DateTime, Datelike, TimeDelta, Utc};
use futures::{StreamExt, TryStreamExt, stream};
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;

use super::error::ResultExt;
use super::query::{self, prepare};
use crate::domain::{DeviceId, GatewayId, Reading};
use crate::reports::HourlyRollup;
use crate::reports::rollup::{fold_window, hourly_rollups, touched_hours};
use crate::store::carry::Carry;
use crate::store::cassandra::KeyspaceName;
use crate::store::{StoreError, TenantStore};

/// Month partitions read concurrently for one device.
const READ_AHEAD_MONTHS: usize = 4;

/// The prepared statements of the rollups table.
pub(super) struct RollupStatements {
    upsert: PreparedStatement,
    delete: PreparedStatement,
    range: PreparedStatement,
}

impl RollupStatements {
    /// Prepares the statements against a provider keyspace (its tables must exist).
    pub(super) async fn prepare(session: &Session, ks: &KeyspaceName) -> Result<Self, StoreError> {
        Ok(Self {
            upsert: prepare(
                session,
                format!("INSERT INTO {ks}.hourly_rollups (gateway, device, month, hour, rollup) VALUES (?, ?, ?, ?, ?)"),
            )
            .await?,
            delete: prepare(
                session,
                format!("DELETE FROM {ks}.hourly_rollups WHERE gateway = ? AND device = ? AND month = ? AND hour = ?"),
            )
            .await?,
            range: prepare(
                session,
                format!(
                    "SELECT rollup FROM {ks}.hourly_rollups WHERE gateway = ? AND device = ? AND month = ?
                     AND hour >= ? AND hour < ?"
                ),
            )
            .await?,
        })
    }
}

/// The `month` partition key of an instant: `yyyymm` of its UTC date.
fn month(ts: DateTime<Utc>) -> i32 {
    ts.year() * 100 + i32::try_from(ts.month()).unwrap_or(1)
}

/// The month partitions holding hours that start in `range`, oldest first.
fn months(range: &Range<DateTime<Utc>>) -> Vec<i32> {
    let mut months = Vec::new();
    if range.start >= range.end {
        return months;
    }
    let last = month(range.end - TimeDelta::milliseconds(1));
    let mut at = month(range.start);
    while at <= last {
        months.push(at);
        at = if at % 100 == 12 { (at / 100 + 1) * 100 + 1 } else { at + 1 };
    }
    months
}

/// A rollup row's values: gateway, device, month, hour, the packed rollup.
pub(super) type RollupValues<'a> = (&'a str, &'a str, i32, DateTime<Utc>, Vec<u8>);

/// Rollup rows grouped by their partition (gateway, device, month).
pub(super) fn partitions(rollups: &[HourlyRollup]) -> Vec<Vec<RollupValues<'_>>> {
    let mut partitions: BTreeMap<(&str, &str, i32), Vec<RollupValues<'_>>> = BTreeMap::new();
    for r in rollups {
        let key = (r.gateway.as_str(), r.device.as_str(), month(r.hour));
        partitions.entry(key).or_default().push((key.0, key.1, key.2, r.hour, r.to_bytes()));
    }
    partitions.into_values().collect()
}

impl RollupStatements {
    /// The upsert of one rollup row.
    pub(super) fn upsert(&self) -> &PreparedStatement {
        &self.upsert
    }
}

/// Folds again, from the stored readings, every hour `readings` touch, and writes the rollups.
/// One read per device covers all its touched hours and their margins, and `ahead` more: what
/// it finds seeds each device's carry (returned), which then knows the store holds nothing
/// else up to the end of that read.
pub(super) async fn refresh(
    tenant: &dyn TenantStore,
    session: &Session,
    st: &RollupStatements,
    readings: &[Reading],
    ahead: TimeDelta,
) -> Result<Vec<((GatewayId, DeviceId), Carry)>, StoreError> {
    let mut carries = Vec::new();
    for ((gateway, device), hours) in touched_hours(readings) {
        let (Some(first), Some(last)) = (hours.first().copied(), hours.last().copied()) else { continue };
        let mut window = fold_window(first, last);
        window.end += ahead;
        let known_end = window.end;
        let stored = tenant.readings(gateway, device, window, usize::MAX).await?;
        let mut folded: BTreeMap<DateTime<Utc>, HourlyRollup> =
            hourly_rollups(&stored).into_iter().map(|r| (r.hour, r)).collect();
        stream::iter(hours)
            .map(|h| {
                let (gateway, device) = (gateway.as_str(), device.as_str());
                let rollup = folded.remove(&h);
                async move {
                    match rollup {
                        Some(rollup) => {
                            let values = (gateway, device, month(h), h, rollup.to_bytes());
                            session.execute_unpaged(&st.upsert, values).await.store()
                        }
                        None => {
                            session.execute_unpaged(&st.delete, (gateway, device, month(h), h)).await.store()
                        }
                    }
                }
            })
            .buffer_unordered(8)
            .try_collect::<Vec<_>>()
            .await?;
        if let Some(carry) = Carry::seed(&stored, known_end) {
            carries.push(((gateway.clone(), device.clone()), carry));
        }
    }
    Ok(carries)
}

/// One device's rollups for the hours starting in `range`, in order.
pub(super) async fn read(
    session: &Session,
    st: &RollupStatements,
    gateway: &GatewayId,
    device: &DeviceId,
    range: Range<DateTime<Utc>>,
) -> Result<Vec<HourlyRollup>, StoreError> {
    let (gateway, device) = (gateway.as_str(), device.as_str());
    let partitions = stream::iter(months(&range))
        .map(|m| {
            query::all_rows::<(Vec<u8>,)>(session, &st.range, (gateway, device, m, range.start, range.end))
        })
        .buffered(READ_AHEAD_MONTHS)
        .try_collect::<Vec<_>>()
        .await?;
    partitions
        .into_iter()
        .flatten()
        .map(|(bytes,)| {
            HourlyRollup::from_bytes(&bytes).map_err(|e| StoreError::Corrupt(e.to_string().into()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn utc(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).single().expect("valid")
    }

    #[test]
    fn month_partitions_cover_a_range_across_a_new_year() {
        assert_eq!(months(&(utc(2025, 11, 30, 0)..utc(2026, 2, 1, 0))), vec![202511, 202512, 202601]);
        assert_eq!(months(&(utc(2026, 3, 1, 0)..utc(2026, 3, 1, 0))), Vec::<i32>::new());
        assert_eq!(months(&(utc(2026, 3, 31, 23)..utc(2026, 4, 1, 0))), vec![202603]);
    }
}
