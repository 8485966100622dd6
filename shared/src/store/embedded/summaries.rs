//! Day summaries and history marks in a provider's SQLite database (see
//! [`crate::reports::daily`]).

use std::ops::Range;

use chrono::NaiveDate;
use chrono_tz::Tz;
use rusqlite::{Connection, OptionalExtension, params};

use super::writer::backend;
use crate::domain::GatewayId;
use crate::reports::daily::DaySummary;
use crate::store::StoreError;

/// The stored form of a date: `yyyy-mm-dd`, which sorts as the dates do.
fn day_key(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// Changes the gateway's history mark.
pub(super) fn set_mark(c: &Connection, gateway: &GatewayId, mark: i64) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO history_marks (gateway, mark) VALUES (?1, ?2)
         ON CONFLICT (gateway) DO UPDATE SET mark = excluded.mark",
    )
    .map_err(backend)?
    .execute(params![gateway.as_str(), mark])
    .map_err(backend)?;
    Ok(())
}

/// The gateway's history mark.
pub(super) fn mark(c: &Connection, gateway: &str) -> Result<Option<i64>, StoreError> {
    c.prepare_cached("SELECT mark FROM history_marks WHERE gateway = ?1")
        .map_err(backend)?
        .query_row([gateway], |row| row.get(0))
        .optional()
        .map_err(backend)
}

/// The stored summaries for local dates in `days`, in order, with their bases.
pub(super) fn read(
    c: &Connection,
    gateway: &str,
    zone: Tz,
    days: Range<NaiveDate>,
) -> Result<Vec<(DaySummary, i64)>, StoreError> {
    let mut statement = c
        .prepare_cached(
            "SELECT summary, basis FROM day_summaries WHERE gateway = ?1 AND zone = ?2 AND day >= ?3 AND day < ?4
             ORDER BY day",
        )
        .map_err(backend)?;
    let mut rows = statement
        .query(params![gateway, zone.name(), day_key(days.start), day_key(days.end)])
        .map_err(backend)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(backend)? {
        let bytes: Vec<u8> = row.get(0).map_err(backend)?;
        let basis: i64 = row.get(1).map_err(backend)?;
        out.push((
            DaySummary::from_bytes(&bytes).map_err(|e| {
                StoreError::Corrupt(crate::store::Failure::caused_by("a stored day summary", e))
            })?,
            basis,
        ));
    }
    Ok(out)
}

/// Stores summaries, replacing any for the same days.
pub(super) fn write(
    c: &Connection,
    gateway: &str,
    zone: Tz,
    basis: i64,
    summaries: &[DaySummary],
) -> Result<(), StoreError> {
    let mut statement = c
        .prepare_cached(
            "INSERT OR REPLACE INTO day_summaries (gateway, zone, day, basis, summary) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(backend)?;
    for summary in summaries {
        statement
            .execute(params![gateway, zone.name(), day_key(summary.date), basis, summary.to_bytes()])
            .map_err(backend)?;
    }
    Ok(())
}
