//! A document's writes: readings grouped by partition (gateway, device, day) into unlogged
//! batches, quarantined readings by day, devices by gateway, the gateway's last-seen time (when
//! due) and the hourly rollups already folded (a connection's carried ones, by month partition),
//! all sent concurrently (bounded). The call returns once every write is acknowledged at the
//! configured consistency. Every write is idempotent, so a retried document changes nothing.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt, stream};
use scylla::client::session::Session;
use scylla::serialize::SerializationError;
use scylla::serialize::row::{RowSerializationContext, SerializeRow};
use scylla::serialize::writers::RowWriter;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;

use super::error::ResultExt;
use super::keys;
use super::query::{MAX_BATCH_ROWS, write_partition};
use super::rollups::{self as rollup_rows, RollupValues};
use super::rows::{self, ReadingValues};
use super::statements::TenantStatements;
use crate::domain::{Device, Reading};
use crate::reports::HourlyRollup;
use crate::store::{StoreError, WriteBatch};

/// Writes of one document in flight at once.
pub(super) const MAX_CONCURRENT_WRITES: usize = 32;

pub(super) type Write<'a> = BoxFuture<'a, Result<(), StoreError>>;

/// Stores `batch`, with `rollups` and, when `touch`, the gateway's last-seen time; see the
/// module documentation.
pub(super) async fn write_batch(
    session: &Session,
    statements: &TenantStatements,
    batch: &WriteBatch,
    touch: bool,
    rollups: &[HourlyRollup],
) -> Result<(), StoreError> {
    let readings = reading_partitions(&batch.readings);
    let rollups = rollup_rows::partitions(rollups);

    let mut quarantine: BTreeMap<i32, Vec<rows::QuarantineValues<'_>>> = BTreeMap::new();
    for (index, quarantined) in batch.quarantined.iter().enumerate() {
        let values = rows::quarantine_values(quarantined, index)?;
        quarantine.entry(values.0).or_default().push(values);
    }

    let mut devices: BTreeMap<(&str, &str), Device> = BTreeMap::new();
    for device in &batch.devices {
        devices
            .entry((device.gateway.as_str(), device.id.as_str()))
            .and_modify(|known| merge_device(known, device))
            .or_insert_with(|| device.clone());
    }
    let mut device_partitions: BTreeMap<&str, Vec<rows::DeviceValues<'_>>> = BTreeMap::new();
    for ((gateway, _), device) in &devices {
        device_partitions.entry(gateway).or_default().push(rows::device_values(device));
    }

    let mut writes: Vec<Write<'_>> = Vec::new();
    let (readings, rollups) = match (&readings[..], &rollups[..]) {
        // The usual document (one device, one day) and its rollups (one month): one request.
        ([partition], [rollup_rows]) if partition.len() + rollup_rows.len() <= MAX_BATCH_ROWS => {
            let rows: Vec<DocumentRow<'_>> = partition
                .iter()
                .map(DocumentRow::Reading)
                .chain(rollup_rows.iter().map(DocumentRow::Rollup))
                .collect();
            writes.push(write_document(session, statements, rows).boxed());
            (&[][..], &[][..])
        }
        _ => (&readings[..], &rollups[..]),
    };
    for partition in readings {
        push_partition(&mut writes, session, &statements.upsert_reading, partition);
    }
    for partition in quarantine.values() {
        push_partition(&mut writes, session, &statements.insert_quarantined, partition);
    }
    for partition in device_partitions.values() {
        push_partition(&mut writes, session, &statements.upsert_device, partition);
    }
    for partition in rollups {
        push_partition(&mut writes, session, statements.rollups.upsert(), partition);
    }
    if touch {
        let touch = (batch.received_at, batch.gateway.as_str());
        writes.push(
            async move { session.execute_unpaged(&statements.touch_gateway, touch).await.store().map(drop) }
                .boxed(),
        );
    }

    stream::iter(writes).buffer_unordered(MAX_CONCURRENT_WRITES).try_collect::<Vec<()>>().await.map(drop)
}

/// A row of a document's batch: a reading, or a rollup folded from the document.
enum DocumentRow<'a> {
    Reading(&'a ReadingValues<'a>),
    Rollup(&'a RollupValues<'a>),
}

impl SerializeRow for DocumentRow<'_> {
    fn serialize(
        &self,
        ctx: &RowSerializationContext<'_>,
        writer: &mut RowWriter<'_>,
    ) -> Result<(), SerializationError> {
        match self {
            Self::Reading(row) => row.serialize(ctx, writer),
            Self::Rollup(row) => row.serialize(ctx, writer),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Self::Reading(row) => row.is_empty(),
            Self::Rollup(row) => row.is_empty(),
        }
    }
}

/// Writes a document's readings (one partition) and its rollups (one partition) as one
/// unlogged batch: two partitions, one request, no atomicity across them needed (every row is
/// an idempotent upsert, and the ack waits for the whole batch).
async fn write_document(
    session: &Session,
    statements: &TenantStatements,
    rows: Vec<DocumentRow<'_>>,
) -> Result<(), StoreError> {
    let mut batch = Batch::new(BatchType::Unlogged);
    for row in &rows {
        let statement = match row {
            DocumentRow::Reading(_) => &statements.upsert_reading,
            DocumentRow::Rollup(_) => statements.rollups.upsert(),
        };
        batch.append_statement(statement.clone());
    }
    batch.set_is_idempotent(true);
    session.batch(&batch, rows).await.store().map(drop)
}

/// Readings grouped by their partition (gateway, device, day), each partition's rows in time
/// order. A reading repeated counts once, as its last occurrence (as a replace would): two
/// writes of one cell in one batch would otherwise be resolved by value.
pub(super) fn reading_partitions(readings: &[Reading]) -> Vec<Vec<ReadingValues<'_>>> {
    let mut partitions: BTreeMap<(&str, &str, i32), BTreeMap<i64, ReadingValues<'_>>> = BTreeMap::new();
    for reading in readings {
        partitions
            .entry((reading.gateway.as_str(), reading.device.as_str(), keys::day(reading.ts)))
            .or_default()
            .insert(reading.ts.timestamp_millis(), ReadingValues::new(reading));
    }
    partitions.into_values().map(|partition| partition.into_values().collect()).collect()
}

/// Queues the writes of one partition's rows, [`MAX_BATCH_ROWS`] per batch.
pub(super) fn push_partition<'a, V: SerializeRow + Sync>(
    writes: &mut Vec<Write<'a>>,
    session: &'a Session,
    statement: &'a PreparedStatement,
    rows: &'a [V],
) {
    for chunk in rows.chunks(MAX_BATCH_ROWS) {
        writes.push(write_partition(session, statement, chunk).boxed());
    }
}

/// What two descriptions of one device in one document add up to, as two upserts would leave it.
fn merge_device(known: &mut Device, later: &Device) {
    known.kind = later.kind;
    for (field, value) in [
        (&mut known.manufacturer, &later.manufacturer),
        (&mut known.model, &later.model),
        (&mut known.serial, &later.serial),
    ] {
        if value.is_some() {
            field.clone_from(value);
        }
    }
    known.last_seen = known.last_seen.max(later.last_seen);
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::domain::{DeviceId, DeviceKind, GatewayId};

    #[test]
    fn a_device_described_twice_in_a_document_keeps_every_detail_either_description_gave() {
        let t = |minute| Utc.with_ymd_and_hms(2026, 6, 1, 12, minute, 0).single().expect("valid date");
        let mut known = Device {
            gateway: GatewayId::parse("GW-1").expect("valid id"),
            id: DeviceId::parse("inv-1").expect("valid id"),
            kind: DeviceKind::Other,
            manufacturer: Some("Fronius".into()),
            model: Some("Symo".into()),
            serial: None,
            last_seen: Some(t(5)),
        };
        let later = Device {
            kind: DeviceKind::Inverter,
            manufacturer: None,
            model: Some("Symo 10".into()),
            serial: Some("SN-1".into()),
            last_seen: Some(t(1)),
            ..known.clone()
        };
        merge_device(&mut known, &later);
        assert_eq!(known.kind, DeviceKind::Inverter);
        assert_eq!(known.manufacturer.as_deref(), Some("Fronius"));
        assert_eq!(known.model.as_deref(), Some("Symo 10"));
        assert_eq!(known.serial.as_deref(), Some("SN-1"));
        assert_eq!(known.last_seen, Some(t(5)));
    }
}
