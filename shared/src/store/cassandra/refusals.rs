//! Refused gateways, counted: the first refusal of an id inserts its row, later ones add their
//! attempts with compare-and-set (a lightweight transaction), so concurrent refusals from
//! several ingest servers are all counted. Refusals are written at most once a minute per id,
//! which keeps the transactions cheap.

use chrono::{DateTime, Utc};
use scylla::client::session::Session;

use super::query::{self, Conditional};
use super::rows::{self, RefusalRow};
use super::statements::RefusalStatements;
use crate::domain::RefusedGateway;
use crate::store::StoreError;

/// Compare-and-set rounds before giving up on a contended row.
const MAX_ROUNDS: usize = 16;

/// Inserts a refusal, or adds its attempts to the stored row: the reason and address become
/// the latest, `last_seen` the later of both, `first_seen` stays.
pub(super) async fn record(
    session: &Session,
    statements: &RefusalStatements,
    refusal: &RefusedGateway,
) -> Result<(), StoreError> {
    let gateway = refusal.gateway.as_str();
    let reason = refusal.reason.as_str();
    let address = refusal.last_address.as_str();
    let attempts = i64::try_from(refusal.attempts).unwrap_or(i64::MAX);
    // What the store holds (attempts, last seen), as last answered; `None` while no row is known.
    let mut stored: Option<(i64, DateTime<Utc>)> = None;
    for _ in 0..MAX_ROUNDS {
        let answer = match stored {
            None => {
                let values = (gateway, reason, refusal.first_seen, refusal.last_seen, attempts, address);
                Conditional::execute(session, &statements.insert, values).await?
            }
            Some((old_attempts, old_last_seen)) => {
                let values = (
                    reason,
                    old_last_seen.max(refusal.last_seen),
                    old_attempts.saturating_add(attempts),
                    address,
                    gateway,
                    old_attempts,
                    old_last_seen,
                );
                Conditional::execute(session, &statements.bump, values).await?
            }
        };
        if answer.applied() {
            return Ok(());
        }
        stored = answer.bigint("attempts").zip(answer.timestamp("last_seen"));
    }
    Err(StoreError::Unavailable(format!(
        "gateway {gateway}'s refusals are being recorded by too many writers at once; try again"
    )))
}

/// The refusals with the latest `last_seen`, most recent first, at most `limit`.
pub(super) async fn most_recent(
    session: &Session,
    statements: &RefusalStatements,
    limit: usize,
) -> Result<Vec<RefusedGateway>, StoreError> {
    let rows: Vec<RefusalRow> = query::all_rows(session, &statements.all, ()).await?;
    let mut refusals: Vec<RefusedGateway> = rows::convert(rows)?;
    refusals.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then_with(|| a.gateway.cmp(&b.gateway)));
    refusals.truncate(limit);
    Ok(refusals)
}
