//! A document's writes, run as one job of the writer's transaction: its readings, their hourly
//! rollups, the history mark of late readings, quarantined readings, device descriptions and the
//! gateway's last-seen time.
//!
//! A device's readings that continue what the writer carries of it (an ingest connection's
//! session, `store/carry.rs`) are folded on from the carry, after checking inside this
//! transaction that the store holds nothing in their way; the rest are folded from the stored
//! readings after they are written, which seeds the device's carry again.

use chrono::TimeDelta;
use rusqlite::{Connection, params};

use super::rows::{self, millis};
use super::writer::backend;
use super::{rollups, summaries};
use crate::store::carry::{Carry, DeviceKey, by_device};
use crate::store::{StoreError, WriteBatch, late_gateways, new_history_mark};

/// Writes `batch`, folding on from `carries` (taken out of the writer's session) where they
/// apply. Returns the carries of the devices written, advanced or seeded: each reaches `ahead`
/// past what this document read of the store, when it had to read it.
pub(super) fn write_document(
    c: &Connection,
    batch: &WriteBatch,
    mut carries: Vec<(DeviceKey, Carry)>,
    ahead: TimeDelta,
) -> Result<Vec<(DeviceKey, Carry)>, StoreError> {
    let (mut kept, mut folded, mut cold) = (Vec::new(), Vec::new(), Vec::new());
    for (key, readings) in by_device(&batch.readings) {
        let carry = carries.iter().position(|(k, _)| *k == key).map(|i| carries.swap_remove(i).1);
        let Some(mut carry) = carry.filter(|c| c.continues(&readings)) else {
            cold.push(readings);
            continue;
        };
        // Looked at before the readings are written, so that only others' readings are found.
        let probes = carry.probes(&readings, ahead);
        if rollups::holds_readings_in(c, &key, &probes)? {
            cold.push(readings);
            continue;
        }
        carry.found_empty(&probes);
        folded.extend(carry.advance(&readings));
        kept.push((key, carry));
    }
    rows::insert_readings(c, &batch.readings)?;
    for rollup in &folded {
        rollups::upsert(c, rollup)?;
    }
    for readings in &cold {
        kept.extend(rollups::refresh_rollups(c, readings, ahead)?);
    }
    for gateway in late_gateways(batch) {
        summaries::set_mark(c, gateway, new_history_mark())?;
    }
    for quarantined in &batch.quarantined {
        rows::insert_quarantined(c, quarantined)?;
    }
    for device in &batch.devices {
        rows::upsert_device(c, device)?;
    }
    c.prepare_cached("UPDATE gateways SET last_seen = MAX(COALESCE(last_seen, 0), ?2) WHERE id = ?1")
        .map_err(backend)?
        .execute(params![batch.gateway.as_str(), millis(batch.received_at)])
        .map_err(backend)?;
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::domain::{DeviceId, GatewayId, Metric, Metrics, Reading};
    use crate::reports::HourlyRollup;
    use crate::store::carry::CARRY_AHEAD;
    use crate::store::embedded::schema::{self, Schema};

    fn noon() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).single().expect("valid time")
    }

    /// One-minute readings of one inverter from noon.
    fn document(minutes: std::ops::Range<i64>) -> WriteBatch {
        let mut batch = WriteBatch::new(GatewayId::parse("GW-1").expect("valid id"), noon());
        batch.readings = minutes
            .map(|minute| {
                let mut metrics = Metrics::default();
                metrics.set(Metric::AcPower, 1000.0 + 10.0 * minute as f64).expect("valid value");
                Reading {
                    gateway: GatewayId::parse("GW-1").expect("valid id"),
                    device: DeviceId::parse("inv-1").expect("valid id"),
                    ts: noon() + TimeDelta::minutes(minute),
                    status: None,
                    metrics,
                }
            })
            .collect();
        batch
    }

    fn samples_at_noon(c: &Connection) -> u32 {
        let bytes: Vec<u8> = c
            .query_row("SELECT rollup FROM hourly_rollups WHERE hour = ?1", [millis(noon())], |row| {
                row.get(0)
            })
            .expect("the hour's rollup");
        HourlyRollup::from_bytes(&bytes).expect("a packed rollup").samples
    }

    #[test]
    fn a_document_that_continues_the_carry_is_folded_on_without_reading_the_hour_back() {
        let mut c = Connection::open_in_memory().expect("an in-memory database");
        schema::prepare(&mut c, Schema::Tenant).expect("the schema");
        let carries = write_document(&c, &document(0..30), Vec::new(), CARRY_AHEAD).expect("written");
        assert_eq!(carries.len(), 1, "the first document seeds the device's carry");
        assert_eq!(samples_at_noon(&c), 30);
        // Behind the writer's back, one of the hour's readings goes: folded from the store the
        // hour would no longer count it, folded on from the carry it still does.
        c.execute("DELETE FROM readings WHERE ts = ?1", [millis(noon() + TimeDelta::minutes(10))])
            .expect("deleted");
        let carries = write_document(&c, &document(30..60), carries, CARRY_AHEAD).expect("written");
        assert_eq!(carries.len(), 1);
        assert_eq!(samples_at_noon(&c), 60, "folded on from the carry");
        // Without a carry (a forgotten session) the same document is folded from the store.
        write_document(&c, &document(30..60), Vec::new(), CARRY_AHEAD).expect("written");
        assert_eq!(samples_at_noon(&c), 59, "folded from the store");
    }
}
