//! Day summaries and history marks on Cassandra (see [`crate::reports::daily`]): summaries in
//! partitions of one site, timezone and local year; marks one row per gateway.

use std::ops::Range;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use futures::{StreamExt, TryStreamExt, stream};
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;

use super::error::ResultExt;
use super::query::{self, MAX_BATCH_ROWS, prepare, write_partition};
use crate::domain::GatewayId;
use crate::reports::daily::DaySummary;
use crate::store::cassandra::KeyspaceName;
use crate::store::{HistoryMark, StoreError};

/// The prepared statements of the summary tables.
pub(super) struct SummaryStatements {
    mark: PreparedStatement,
    set_mark: PreparedStatement,
    set_settling_mark: PreparedStatement,
    range: PreparedStatement,
    upsert: PreparedStatement,
}

impl SummaryStatements {
    /// Prepares the statements against a provider keyspace (its tables must exist).
    pub(super) async fn prepare(session: &Session, ks: &KeyspaceName) -> Result<Self, StoreError> {
        Ok(Self {
            mark: prepare(
                session,
                format!("SELECT mark, settles_at FROM {ks}.history_marks WHERE gateway = ?"),
            )
            .await?,
            set_mark: prepare(session, format!("UPDATE {ks}.history_marks SET mark = ? WHERE gateway = ?"))
                .await?,
            set_settling_mark: prepare(
                session,
                format!("UPDATE {ks}.history_marks SET mark = ?, settles_at = ? WHERE gateway = ?"),
            )
            .await?,
            range: prepare(
                session,
                format!(
                    "SELECT summary, basis FROM {ks}.day_summaries WHERE gateway = ? AND zone = ? AND year = ?
                     AND day >= ? AND day < ?"
                ),
            )
            .await?,
            upsert: prepare(
                session,
                format!(
                    "INSERT INTO {ks}.day_summaries (gateway, zone, year, day, basis, summary)
                     VALUES (?, ?, ?, ?, ?, ?)"
                ),
            )
            .await?,
        })
    }
}

/// The values of one `day_summaries` row: gateway, zone, year, day, basis, summary.
type SummaryRow<'a> = (&'a str, &'a str, i32, i32, i64, Vec<u8>);

/// The `day` clustering key: `yyyymmdd`.
fn day_key(date: NaiveDate) -> i32 {
    date.year() * 10_000 + i32::try_from(date.month() * 100 + date.day()).unwrap_or(0)
}

/// The gateway's history mark.
pub(super) async fn mark(
    session: &Session,
    st: &SummaryStatements,
    gateway: &GatewayId,
) -> Result<Option<HistoryMark>, StoreError> {
    let row: Option<(Option<i64>, Option<DateTime<Utc>>)> =
        query::first_row(session, &st.mark, (gateway.as_str(),)).await?;
    Ok(row.and_then(|(value, settles_at)| Some(HistoryMark { value: value?, settles_at })))
}

/// Changes the gateway's history mark after late readings were written. Any `settles_at` is
/// kept: a writer that changed the mark before its readings may still be writing under it.
pub(super) async fn set_mark(
    session: &Session,
    st: &SummaryStatements,
    gateway: &GatewayId,
    mark: i64,
) -> Result<(), StoreError> {
    session.execute_unpaged(&st.set_mark, (mark, gateway.as_str())).await.store().map(drop)
}

/// Changes the gateway's history mark before late readings are written, which may follow
/// unannounced until `settles_at` (see [`HistoryMark`]).
pub(super) async fn set_settling_mark(
    session: &Session,
    st: &SummaryStatements,
    gateway: &GatewayId,
    mark: i64,
    settles_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    session
        .execute_unpaged(&st.set_settling_mark, (mark, settles_at, gateway.as_str()))
        .await
        .store()
        .map(drop)
}

/// The stored summaries for local dates in `days`, in order, with their bases.
pub(super) async fn read(
    session: &Session,
    st: &SummaryStatements,
    gateway: &GatewayId,
    zone: Tz,
    days: Range<NaiveDate>,
) -> Result<Vec<(DaySummary, i64)>, StoreError> {
    if days.start >= days.end {
        return Ok(Vec::new());
    }
    let (from, to) = (day_key(days.start), day_key(days.end));
    let years = days.start.year()..=days.end.pred_opt().unwrap_or(days.end).year();
    let partitions = stream::iter(years)
        .map(|year| {
            let values = (gateway.as_str(), zone.name(), year, from, to);
            query::all_rows::<(Vec<u8>, i64)>(session, &st.range, values)
        })
        .buffered(2)
        .try_collect::<Vec<_>>()
        .await?;
    partitions
        .into_iter()
        .flatten()
        .map(|(bytes, basis)| {
            let summary = DaySummary::from_bytes(&bytes).map_err(|e| {
                StoreError::Corrupt(crate::store::Failure::caused_by("a stored day summary", e))
            })?;
            Ok((summary, basis))
        })
        .collect()
}

/// Stores summaries, an unlogged batch per year partition (split at [`MAX_BATCH_ROWS`]).
pub(super) async fn write(
    session: &Session,
    st: &SummaryStatements,
    gateway: &GatewayId,
    zone: Tz,
    basis: i64,
    summaries: &[DaySummary],
) -> Result<(), StoreError> {
    let mut rows: Vec<SummaryRow<'_>> = summaries
        .iter()
        .map(|s| (gateway.as_str(), zone.name(), s.date.year(), day_key(s.date), basis, s.to_bytes()))
        .collect();
    rows.sort_by_key(|row| row.3);
    // A year view writes a few batches at most, the first time it is shown: one after another.
    for partition in rows.chunk_by(|a, b| a.2 == b.2) {
        for chunk in partition.chunks(MAX_BATCH_ROWS) {
            write_partition(session, &st.upsert, chunk).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_keys_sort_as_the_dates_do() {
        let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("valid date");
        assert_eq!(day_key(date(2026, 11, 30)), 20_261_130);
        assert!(day_key(date(2025, 12, 31)) < day_key(date(2026, 1, 1)));
    }
}
