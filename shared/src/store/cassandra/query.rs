//! How statements are run: prepared once, reads paged to the end, writes of one partition sent
//! as one unlogged batch, and the answers of conditional (lightweight transaction) statements.

use std::collections::HashMap;
use std::ops::ControlFlow;

use chrono::{DateTime, Utc};
use scylla::client::session::Session;
use scylla::deserialize::row::DeserializeRow;
use scylla::response::PagingState;
use scylla::response::query_result::QueryResult;
use scylla::serialize::row::SerializeRow;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{CqlValue, Row};

use super::error::ResultExt;
use crate::store::StoreError;

/// Rows one unlogged batch carries at most; a larger partition write is split.
pub(super) const MAX_BATCH_ROWS: usize = 100;

/// Prepares a statement that may be retried safely (reads, upserts with absolute values).
pub(super) async fn prepare(session: &Session, cql: String) -> Result<PreparedStatement, StoreError> {
    let mut statement = session.prepare(cql).await.store()?;
    statement.set_is_idempotent(true);
    Ok(statement)
}

/// Prepares a conditional statement (`IF ...`), which the driver must not retry on its own.
pub(super) async fn prepare_conditional(
    session: &Session,
    cql: String,
) -> Result<PreparedStatement, StoreError> {
    let mut statement = session.prepare(cql).await.store()?;
    statement.set_is_idempotent(false);
    Ok(statement)
}

/// Every row a prepared read returns, fetching page after page.
pub(super) async fn all_rows<R>(
    session: &Session,
    statement: &PreparedStatement,
    values: impl SerializeRow,
) -> Result<Vec<R>, StoreError>
where
    R: for<'frame, 'metadata> DeserializeRow<'frame, 'metadata>,
{
    let mut rows = Vec::new();
    let mut paging = PagingState::start();
    loop {
        let (result, response) = session.execute_single_page(statement, &values, paging).await.store()?;
        let result = result.into_rows_result().store()?;
        for row in result.rows::<R>().store()? {
            rows.push(row.store()?);
        }
        match response.into_paging_control_flow() {
            ControlFlow::Break(()) => return Ok(rows),
            ControlFlow::Continue(next) => paging = next,
        }
    }
}

/// The first row a prepared read returns, if any.
pub(super) async fn first_row<R>(
    session: &Session,
    statement: &PreparedStatement,
    values: impl SerializeRow,
) -> Result<Option<R>, StoreError>
where
    R: for<'frame, 'metadata> DeserializeRow<'frame, 'metadata>,
{
    let result = session.execute_unpaged(statement, values).await.store()?.into_rows_result().store()?;
    result.rows::<R>().store()?.next().transpose().store()
}

/// Writes rows of ONE partition with `statement`: a single row as it is, more as one unlogged
/// batch (atomic and isolated within the partition, one round trip). Callers split at
/// [`MAX_BATCH_ROWS`].
pub(super) async fn write_partition<V: SerializeRow>(
    session: &Session,
    statement: &PreparedStatement,
    rows: &[V],
) -> Result<(), StoreError> {
    match rows {
        [] => Ok(()),
        [row] => session.execute_unpaged(statement, row).await.store().map(drop),
        _ => {
            let mut batch = Batch::new(BatchType::Unlogged);
            for _ in rows {
                batch.append_statement(statement.clone());
            }
            batch.set_is_idempotent(statement.get_is_idempotent());
            session.batch(&batch, rows).await.store().map(drop)
        }
    }
}

/// The answer to a conditional statement: whether it was applied and, when not, the columns
/// of the row that stopped it (all columns for `IF NOT EXISTS`, the tested ones for `IF col = ?`).
pub(super) struct Conditional {
    applied: bool,
    columns: HashMap<String, CqlValue>,
}

impl Conditional {
    /// Runs a conditional statement and reads its answer.
    pub(super) async fn execute(
        session: &Session,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<Self, StoreError> {
        Self::from_result(session.execute_unpaged(statement, values).await.store()?)
    }

    fn from_result(result: QueryResult) -> Result<Self, StoreError> {
        let rows = result.into_rows_result().store()?;
        let names: Vec<String> = rows.column_specs().iter().map(|spec| spec.name().to_owned()).collect();
        let row = rows
            .rows::<Row>()
            .store()?
            .next()
            .transpose()
            .store()?
            .ok_or_else(|| StoreError::Backend("a conditional statement returned no row".into()))?;
        let columns: HashMap<String, CqlValue> = names
            .into_iter()
            .zip(row.columns)
            .filter_map(|(name, value)| value.map(|value| (name, value)))
            .collect();
        let applied = columns.get("[applied]").and_then(CqlValue::as_boolean).ok_or_else(|| {
            StoreError::Backend("a conditional statement returned no [applied] column".into())
        })?;
        Ok(Self { applied, columns })
    }

    /// True when the statement took effect.
    pub(super) fn applied(&self) -> bool {
        self.applied
    }

    /// True when the answer carries the existing row's `column` (and it is not null).
    pub(super) fn has(&self, column: &str) -> bool {
        self.columns.contains_key(column)
    }

    /// A text column of the existing row.
    pub(super) fn text(&self, column: &str) -> Option<&str> {
        self.columns.get(column).and_then(CqlValue::as_text).map(String::as_str)
    }

    /// A bigint column of the existing row.
    pub(super) fn bigint(&self, column: &str) -> Option<i64> {
        self.columns.get(column).and_then(CqlValue::as_bigint)
    }

    /// A timestamp column of the existing row.
    pub(super) fn timestamp(&self, column: &str) -> Option<DateTime<Utc>> {
        let millis = self.columns.get(column).and_then(CqlValue::as_cql_timestamp)?.0;
        DateTime::from_timestamp_millis(millis)
    }
}
