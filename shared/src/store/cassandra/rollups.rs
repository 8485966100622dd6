//! Hourly rollups on Cassandra: kept up to date by the write path and read by the reports.
//!
//! After a document's readings are written, every hour they touch is folded again from the
//! stored readings and written back (which hours and what they become: `store/refold.rs`). A
//! connection's later documents that continue what it stored are folded on from its carry
//! instead (`store/carry.rs`), with the same result, and their rollups are written together with
//! their readings.
//!
//! A fold from the store is written with the time of its read as its write timestamp, so that of
//! two folds of one hour the one that read later wins, whichever is written last: it saw every
//! reading the other saw. Without that, a process paused between its read and its write (a
//! SIGSTOP, a long GC of the node it talks to) wrote back a fold older than one another process
//! had written meanwhile (a SunSpec upload retried on the other ingest), and the hour stayed
//! short. The nemesis found it.
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
use crate::store::carry::Carry;
use crate::store::cassandra::KeyspaceName;
use crate::store::refold::{HourChange, Refolded, refolds};
use crate::store::{ReadingsLog, StoreError};

/// Month partitions read concurrently for one device.
const READ_AHEAD_MONTHS: usize = 4;

/// The write timestamp of a gateway's first hour is this less the hour (in microseconds), so
/// that an earlier hour always has the later timestamp and wins, in whatever order two writers'
/// marks arrive: Cassandra keeps the minimum with plain writes, no read or lightweight
/// transaction. No other write touches that cell, and gateways are never deleted.
const FIRST_HOUR_CLOCK: i64 = 1 << 61;

/// The prepared statements of the rollups table.
pub(super) struct RollupStatements {
    upsert: PreparedStatement,
    upsert_as_of: PreparedStatement,
    delete_as_of: PreparedStatement,
    range: PreparedStatement,
    mark_first_hour: PreparedStatement,
    first_hour: PreparedStatement,
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
            upsert_as_of: prepare(
                session,
                format!(
                    "INSERT INTO {ks}.hourly_rollups (gateway, device, month, hour, rollup) VALUES (?, ?, ?, ?, ?)
                     USING TIMESTAMP ?"
                ),
            )
            .await?,
            delete_as_of: prepare(
                session,
                format!(
                    "DELETE FROM {ks}.hourly_rollups USING TIMESTAMP ?
                     WHERE gateway = ? AND device = ? AND month = ? AND hour = ?"
                ),
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
            mark_first_hour: prepare(
                session,
                format!("UPDATE {ks}.gateways USING TIMESTAMP ? SET first_hour = ? WHERE id = ?"),
            )
            .await?,
            first_hour: prepare(session, format!("SELECT first_hour FROM {ks}.gateways WHERE id = ?")).await?,
        })
    }
}

/// The hour of the gateway's first rollup ever written (none before its first reading).
pub(super) async fn first_hour(
    session: &Session,
    st: &RollupStatements,
    gateway: &GatewayId,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let row: Option<(Option<DateTime<Utc>>,)> =
        query::first_row(session, &st.first_hour, (gateway.as_str(),)).await?;
    Ok(row.and_then(|(hour,)| hour))
}

/// Records `hour` as the gateway's first unless an earlier one is recorded (see
/// [`FIRST_HOUR_CLOCK`]).
async fn mark_first_hour(
    session: &Session,
    st: &RollupStatements,
    gateway: &GatewayId,
    hour: DateTime<Utc>,
) -> Result<(), StoreError> {
    let timestamp = FIRST_HOUR_CLOCK - hour.timestamp_micros();
    session.execute_unpaged(&st.mark_first_hour, (timestamp, hour, gateway.as_str())).await.store().map(drop)
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

/// Folds again, from the stored readings, every hour `readings` touch ([`refolds`]), and writes
/// the rollups, each run's as of the time its read began (see the module's notes). Returns the
/// carries the devices' last runs seed: each read reaches `ahead` past a device's last hour.
pub(super) async fn refresh(
    tenant: &dyn ReadingsLog,
    session: &Session,
    st: &RollupStatements,
    readings: &[Reading],
    ahead: TimeDelta,
) -> Result<Vec<((GatewayId, DeviceId), Carry)>, StoreError> {
    let mut carries = Vec::new();
    for refold in refolds(readings, ahead) {
        let (gateway, device) = (refold.gateway, refold.device);
        let read_at = Utc::now().timestamp_micros();
        let stored = tenant.readings(gateway, device, refold.window.clone(), usize::MAX).await?;
        let Refolded { changes, earliest_hour, carry } = refold.apply(&stored);
        if let Some(earliest) = earliest_hour
            && let Err(e) = mark_first_hour(session, st, gateway, earliest).await
        {
            // Only the reports' "not yet commissioned" reads it: a document is not refused for it,
            // and the next fold from the store marks the hour again.
            tracing::warn!(%gateway, error = %e, "could not record the gateway's first hour");
        }
        let (gateway, device) = (gateway.as_str(), device.as_str());
        stream::iter(changes)
            .map(|change| async move {
                match change {
                    HourChange::Write(rollup) => {
                        let h = rollup.hour;
                        let values = (gateway, device, month(h), h, rollup.to_bytes(), read_at);
                        session.execute_unpaged(&st.upsert_as_of, values).await.store()
                    }
                    HourChange::Clear(h) => {
                        let values = (read_at, gateway, device, month(h), h);
                        session.execute_unpaged(&st.delete_as_of, values).await.store()
                    }
                }
            })
            .buffer_unordered(8)
            .try_collect::<Vec<_>>()
            .await?;
        carries.extend(carry);
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
            HourlyRollup::from_bytes(&bytes).map_err(|e| {
                StoreError::Corrupt(crate::store::Failure::caused_by("a stored hourly rollup", e))
            })
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

#[cfg(test)]
mod stale_fold_tests {
    #![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

    use std::sync::Arc;

    use async_trait::async_trait;
    use chrono::TimeZone;
    use tokio::sync::Notify;

    use super::*;
    use crate::domain::{Metric, Metrics, Provider, ProviderSlug, QuarantinedReading, RefusedGateway};
    use crate::reports::rollup::hourly_rollups;
    use crate::store::cassandra::{CassandraStore, CassandraTenant};
    use crate::store::{
        BatchWriter, CassandraSettings, ConsistencySetting, ProviderRegistry, ReportCache, WriteBatch,
    };

    /// A fold's view of the store that was read, then held up: `readings` answers with what the
    /// store held before, once `go` is told; `reading` says the read has begun.
    struct Stalled {
        inner: Arc<CassandraTenant>,
        before: Vec<Reading>,
        reading: Arc<Notify>,
        go: Arc<Notify>,
    }

    #[async_trait]
    impl ReadingsLog for Stalled {
        async fn write_batch(&self, batch: WriteBatch) -> Result<(), StoreError> {
            self.inner.write_batch(batch).await
        }
        fn writer(self: Arc<Self>) -> Box<dyn BatchWriter> {
            Arc::clone(&self.inner).writer()
        }
        async fn readings(
            &self,
            _: &GatewayId,
            _: &DeviceId,
            _: Range<DateTime<Utc>>,
            _: usize,
        ) -> Result<Vec<Reading>, StoreError> {
            self.reading.notify_one();
            self.go.notified().await;
            Ok(self.before.clone())
        }
        async fn quarantined(
            &self,
            range: Range<DateTime<Utc>>,
            limit: usize,
        ) -> Result<Vec<QuarantinedReading>, StoreError> {
            self.inner.quarantined(range, limit).await
        }
        async fn record_refused_gateway(&self, refusal: &RefusedGateway) -> Result<(), StoreError> {
            self.inner.record_refused_gateway(refusal).await
        }
        async fn refused_gateways(&self, limit: usize) -> Result<Vec<RefusedGateway>, StoreError> {
            self.inner.refused_gateways(limit).await
        }
    }

    fn reading(ts: DateTime<Utc>, energy_wh: f64) -> Reading {
        let mut metrics = Metrics::default();
        metrics.set(Metric::AcPower, 1000.0).unwrap();
        metrics.set(Metric::Energy, energy_wh).unwrap();
        Reading {
            gateway: GatewayId::parse("GW-1").unwrap(),
            device: DeviceId::parse("inv-1").unwrap(),
            ts,
            status: None,
            metrics,
        }
    }

    /// The nemesis's finding, without the nemesis: a fold that read the hour, stalled, and wrote
    /// after another writer had folded the hour with a later reading, must not take its place.
    #[tokio::test]
    async fn a_fold_written_late_does_not_replace_one_that_read_more() {
        let node =
            std::env::var("HELIOGRAPH_CASSANDRA").expect("HELIOGRAPH_CASSANDRA names a Cassandra node");
        let token = format!("{:08x}", rand::random::<u32>());
        let settings = CassandraSettings {
            nodes: vec![node],
            registry_keyspace: KeyspaceName::parse(&format!("stale_{token}")).unwrap(),
            consistency: ConsistencySetting::One,
            request_timeout_ms: 20_000,
            ..CassandraSettings::default()
        };
        let store = CassandraStore::connect(&settings).await.unwrap();
        let provider = Provider::new(ProviderSlug::parse(&format!("stale{token}")).unwrap(), "Stale");
        store.create_provider(&provider).await.unwrap();
        let tenant = store.open_tenant(&provider).await.unwrap();

        let hour = Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).single().unwrap();
        let first = reading(hour + TimeDelta::minutes(5), 1_000.0);
        let second = reading(hour + TimeDelta::minutes(35), 1_500.0);
        let mut batch = WriteBatch::new(first.gateway.clone(), Utc::now());
        batch.readings.push(first.clone());
        tenant.write_batch(batch).await.unwrap();

        let stalled = Stalled {
            inner: Arc::clone(&tenant),
            before: vec![first.clone()],
            reading: Arc::new(Notify::new()),
            go: Arc::new(Notify::new()),
        };
        let late_fold = refresh(
            &stalled,
            tenant.session(),
            &tenant.statements.rollups,
            std::slice::from_ref(&first),
            TimeDelta::zero(),
        );
        let meanwhile = async {
            stalled.reading.notified().await;
            let mut batch = WriteBatch::new(second.gateway.clone(), Utc::now());
            batch.readings.push(second.clone());
            tenant.write_batch(batch).await.unwrap();
            stalled.go.notify_one();
        };
        let (late, ()) = tokio::join!(late_fold, meanwhile);
        late.unwrap();

        let stored = tenant
            .hourly_rollups(&first.gateway, &first.device, hour..hour + TimeDelta::hours(1))
            .await
            .unwrap();
        assert_eq!(stored, hourly_rollups(&[first, second]), "the hour holds both readings");
        for keyspace in [KeyspaceName::of_provider(&provider.slug), settings.registry_keyspace] {
            let drop = format!("DROP KEYSPACE IF EXISTS {keyspace}");
            tenant.session().query_unpaged(drop, ()).await.unwrap();
        }
    }
}
