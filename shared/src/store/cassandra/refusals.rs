//! Refused gateways in a fixed set of slots (see [`RefusedGateway::SLOTS`]): a refusal is
//! recorded over what its slot holds with compare-and-set (a lightweight transaction), so
//! concurrent refusals from several ingest servers are all counted, and the table never holds
//! more than the slots, each row expiring a month after its last write.

use chrono::{DateTime, Utc};
use scylla::client::session::Session;

use super::query::{self, Conditional};
use super::rows::{self, RefusalRow};
use super::statements::RefusalStatements;
use crate::domain::{GatewayId, RefusedGateway};
use crate::store::StoreError;

/// Compare-and-set rounds before giving up on a contended slot.
const MAX_ROUNDS: usize = 16;

/// What a slot held when a compare-and-set did not apply: the columns its condition tested.
struct Held {
    gateway: GatewayId,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    attempts: i64,
}

impl Held {
    fn from_answer(answer: &Conditional) -> Option<Self> {
        Some(Self {
            gateway: GatewayId::parse(answer.text("gateway")?).ok()?,
            first_seen: answer.timestamp("first_seen")?,
            last_seen: answer.timestamp("last_seen")?,
            attempts: answer.bigint("attempts")?,
        })
    }

    /// As a refusal, for the merge rule (which takes reason and address from the new one).
    fn as_refusal(&self, new: &RefusedGateway) -> RefusedGateway {
        RefusedGateway {
            gateway: self.gateway.clone(),
            reason: new.reason,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            attempts: u64::try_from(self.attempts).unwrap_or(0),
            last_address: new.last_address.clone(),
        }
    }
}

/// Records a refusal over what its slot holds ([`RefusedGateway::recorded_over`]).
pub(super) async fn record(
    session: &Session,
    statements: &RefusalStatements,
    refusal: &RefusedGateway,
) -> Result<(), StoreError> {
    let slot = i32::try_from(RefusedGateway::slot(&refusal.gateway)).unwrap_or(0);
    let mut held: Option<Held> = None;
    for _ in 0..MAX_ROUNDS {
        let stored = held.as_ref().map(|h| h.as_refusal(refusal));
        let new = refusal.recorded_over(stored.as_ref());
        let attempts = i64::try_from(new.attempts).unwrap_or(i64::MAX);
        let values = (
            new.gateway.as_str(),
            new.reason.as_str(),
            new.first_seen,
            new.last_seen,
            attempts,
            new.last_address.as_str(),
        );
        let answer = match &held {
            None => {
                let (g, r, f, l, a, addr) = values;
                Conditional::execute(session, &statements.insert, (slot, g, r, f, l, a, addr)).await?
            }
            Some(old) => {
                let (g, r, f, l, a, addr) = values;
                let condition = (old.gateway.as_str(), old.attempts, old.first_seen, old.last_seen);
                let values = (g, r, f, l, a, addr, slot, condition.0, condition.1, condition.2, condition.3);
                Conditional::execute(session, &statements.replace, values).await?
            }
        };
        if answer.applied() {
            return Ok(());
        }
        held = Held::from_answer(&answer);
    }
    Err(StoreError::Unavailable(
        format!(
            "gateway {}'s refusals are being recorded by too many writers at once; try again",
            refusal.gateway
        )
        .into(),
    ))
}

/// The refusals with the latest `last_seen`, most recent first, at most `limit` (the table holds
/// at most [`RefusedGateway::SLOTS`] rows, so reading it whole is bounded).
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
