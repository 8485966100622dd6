//! The mailer's tables in a provider keyspace: delivery claims, alerts, mail preferences.
//!
//! A claim is `INSERT ... IF NOT EXISTS` (the first claimer wins); taking over an expired lease
//! or a due retry is `UPDATE ... IF state = ? AND owner = ? AND attempts = ?` on what was read,
//! so two mailers cannot both take it over; recording the outcome is `IF owner = ? AND state =
//! 'claimed'`. Every write to a delivery row is conditional, as Paxos requires. Unfinished
//! deliveries and untaken alert notices are listed in small index partitions so that rounds find
//! them without scanning.

use std::ops::Range;

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt, stream};
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::MaybeUnset;
use uuid::Uuid;

use super::error::ResultExt;
use super::query::{self, Conditional, prepare, prepare_conditional};
use crate::domain::{
    Acknowledgement, Alert, AlertBasis, AlertKind, Claim, ClaimOwner, ClaimRequest, CustomerId, Delivery,
    DeliveryKey, DeliveryOutcome, DeliveryState, DeviceId, GatewayId, MailPreferences, ReportSchedule,
};
use crate::store::StoreError;

/// The one partition of each index table (their rows are few: only unfinished work).
const BUCKET: i32 = 0;
/// Rows of the index tables read concurrently.
const CONCURRENT_READS: usize = 16;

const DELIVERY_COLUMNS: &str =
    "customer, topic, state, owner, lease_until, attempts, next_attempt_at, last_error, sent_at, updated_at";
/// The columns an alert is opened with.
const ALERT_COLUMNS: &str =
    "customer, id, kind, gateway, device, opened_at, cleared_at, detail, open_notice, clear_notice, basis";
/// The columns an alert is read with: those it opened with, and its acknowledgement.
const ALERT_READ_COLUMNS: &str =
    "customer, id, kind, gateway, device, opened_at, cleared_at, detail, open_notice,
    clear_notice, basis, ack_by, ack_at, ack_note";

type DeliveryRow = (
    Uuid,
    String,
    String,
    String,
    DateTime<Utc>,
    i64,
    Option<DateTime<Utc>>,
    Option<String>,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
);

type AlertRow = (
    Uuid,
    Uuid,
    String,
    String,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<String>,
);

/// The mailer's prepared statements.
pub(super) struct MailStatements {
    insert_delivery: PreparedStatement,
    take_over_delivery: PreparedStatement,
    finish_delivery: PreparedStatement,
    delivery: PreparedStatement,
    add_pending_delivery: PreparedStatement,
    remove_pending_delivery: PreparedStatement,
    pending_deliveries: PreparedStatement,
    insert_alert: PreparedStatement,
    claim_open_alert: PreparedStatement,
    release_open_alert: PreparedStatement,
    open_alert_ids: PreparedStatement,
    clear_alert: PreparedStatement,
    acknowledge_alert: PreparedStatement,
    alert: PreparedStatement,
    customer_alerts: PreparedStatement,
    add_pending_notice: PreparedStatement,
    remove_pending_notice: PreparedStatement,
    pending_notice_customers: PreparedStatement,
    pending_notices: PreparedStatement,
    take_open_notice: PreparedStatement,
    take_clear_notice: PreparedStatement,
    preferences: PreparedStatement,
    set_preferences: PreparedStatement,
}

impl MailStatements {
    /// Prepares the statements against a provider keyspace (its tables must exist).
    pub(super) async fn prepare(session: &Session, ks: &super::KeyspaceName) -> Result<Self, StoreError> {
        Ok(Self {
            insert_delivery: prepare_conditional(
                session,
                format!(
                    "INSERT INTO {ks}.deliveries (customer, topic, state, owner, lease_until, attempts, updated_at)
                     VALUES (?, ?, 'claimed', ?, ?, 1, ?) IF NOT EXISTS"
                ),
            )
            .await?,
            take_over_delivery: prepare_conditional(
                session,
                format!(
                    "UPDATE {ks}.deliveries SET state = 'claimed', owner = ?, lease_until = ?, attempts = ?,
                        next_attempt_at = null, updated_at = ?
                     WHERE customer = ? AND topic = ? IF state = ? AND owner = ? AND attempts = ?"
                ),
            )
            .await?,
            finish_delivery: prepare_conditional(
                session,
                format!(
                    "UPDATE {ks}.deliveries SET state = ?, next_attempt_at = ?, last_error = ?, sent_at = ?,
                        updated_at = ?
                     WHERE customer = ? AND topic = ? IF owner = ? AND state = 'claimed'"
                ),
            )
            .await?,
            delivery: prepare(
                session,
                format!("SELECT {DELIVERY_COLUMNS} FROM {ks}.deliveries WHERE customer = ? AND topic = ?"),
            )
            .await?,
            add_pending_delivery: prepare(
                session,
                format!("INSERT INTO {ks}.pending_deliveries (bucket, customer, topic) VALUES (?, ?, ?)"),
            )
            .await?,
            remove_pending_delivery: prepare(
                session,
                format!("DELETE FROM {ks}.pending_deliveries WHERE bucket = ? AND customer = ? AND topic = ?"),
            )
            .await?,
            pending_deliveries: prepare(
                session,
                format!("SELECT customer, topic FROM {ks}.pending_deliveries WHERE bucket = ?"),
            )
            .await?,
            insert_alert: prepare_conditional(
                session,
                format!("INSERT INTO {ks}.alerts ({ALERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS"),
            )
            .await?,
            claim_open_alert: prepare_conditional(
                session,
                format!(
                    "INSERT INTO {ks}.open_alerts (kind, gateway, device, customer, id) VALUES (?, ?, ?, ?, ?)
                     IF NOT EXISTS"
                ),
            )
            .await?,
            release_open_alert: prepare_conditional(
                session,
                format!("DELETE FROM {ks}.open_alerts WHERE kind = ? AND gateway = ? AND device = ? IF id = ?"),
            )
            .await?,
            open_alert_ids: prepare(session, format!("SELECT kind, gateway, device, customer, id FROM {ks}.open_alerts"))
                .await?,
            clear_alert: prepare_conditional(
                session,
                format!("UPDATE {ks}.alerts SET cleared_at = ? WHERE customer = ? AND id = ? IF cleared_at = null"),
            )
            .await?,
            // The opening time names the row: a condition on it alone would create a row that
            // is not there.
            acknowledge_alert: prepare_conditional(
                session,
                format!(
                    "UPDATE {ks}.alerts SET ack_by = ?, ack_at = ?, ack_note = ? WHERE customer = ? AND id = ?
                     IF opened_at = ? AND cleared_at = null"
                ),
            )
            .await?,
            alert: prepare(session, format!("SELECT {ALERT_READ_COLUMNS} FROM {ks}.alerts WHERE customer = ? AND id = ?"))
                .await?,
            customer_alerts: prepare(session, format!("SELECT {ALERT_READ_COLUMNS} FROM {ks}.alerts WHERE customer = ?"))
                .await?,
            add_pending_notice: prepare(
                session,
                format!("INSERT INTO {ks}.pending_notices (bucket, customer, id, event) VALUES (?, ?, ?, ?)"),
            )
            .await?,
            remove_pending_notice: prepare(
                session,
                format!(
                    "DELETE FROM {ks}.pending_notices WHERE bucket = ? AND customer = ? AND id = ? AND event = ?"
                ),
            )
            .await?,
            pending_notice_customers: prepare(
                session,
                format!("SELECT customer FROM {ks}.pending_notices WHERE bucket = ?"),
            )
            .await?,
            pending_notices: prepare(
                session,
                format!("SELECT id, event FROM {ks}.pending_notices WHERE bucket = ? AND customer = ?"),
            )
            .await?,
            take_open_notice: prepare_conditional(
                session,
                format!("UPDATE {ks}.alerts SET open_notice = ? WHERE customer = ? AND id = ? IF open_notice = null"),
            )
            .await?,
            take_clear_notice: prepare_conditional(
                session,
                format!("UPDATE {ks}.alerts SET clear_notice = ? WHERE customer = ? AND id = ? IF clear_notice = null"),
            )
            .await?,
            preferences: prepare(
                session,
                format!(
                    "SELECT schedule, unsubscribed_summaries, unsubscribed_alerts FROM {ks}.mail_preferences
                     WHERE customer = ?"
                ),
            )
            .await?,
            set_preferences: prepare(
                session,
                format!(
                    "INSERT INTO {ks}.mail_preferences (customer, schedule, unsubscribed_summaries, unsubscribed_alerts)
                     VALUES (?, ?, ?, ?)"
                ),
            )
            .await?,
        })
    }
}

/// A stored row that does not decode: `what` it was, and why.
fn corrupt(what: impl Into<crate::store::Failure>) -> StoreError {
    StoreError::Corrupt(what.into())
}

/// A stored delivery whose key or owner does not parse, with the parser's error as its source.
fn corrupt_delivery(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Corrupt(crate::store::Failure::caused_by("a stored delivery", e))
}

fn delivery_from_row(row: DeliveryRow) -> Result<Delivery, StoreError> {
    let (customer, topic, state, owner, lease_until, attempts, next_attempt_at, last_error, sent_at, _) = row;
    Ok(Delivery {
        key: DeliveryKey::new(CustomerId(customer), &topic).map_err(corrupt_delivery)?,
        state: DeliveryState::from_word(&state)
            .ok_or_else(|| corrupt(format!("unknown delivery state {state:?}")))?,
        owner: ClaimOwner::parse(&owner).map_err(corrupt_delivery)?,
        lease_until,
        attempts: u32::try_from(attempts).unwrap_or(0),
        next_attempt_at,
        last_error,
        sent_at,
    })
}

/// One delivery.
pub(super) async fn delivery(
    session: &Session,
    st: &MailStatements,
    key: &DeliveryKey,
) -> Result<Option<Delivery>, StoreError> {
    let row: Option<DeliveryRow> =
        query::first_row(session, &st.delivery, (key.customer.0, key.topic())).await?;
    row.map(delivery_from_row).transpose()
}

/// Compare-and-set rounds before a contended claim gives up.
const CLAIM_ROUNDS: usize = 8;

/// Claims a delivery: the row is read, [`Claim::decide`] says what the request gets, and a
/// granted claim is written only if the row is still as read (a lightweight transaction); a row
/// changed meanwhile is read and decided again.
pub(super) async fn claim(
    session: &Session,
    st: &MailStatements,
    request: &ClaimRequest,
) -> Result<Claim, StoreError> {
    let key = &request.key;
    let lease_until = request.now + request.lease;
    for _ in 0..CLAIM_ROUNDS {
        let current = delivery(session, st, key).await?;
        let decided = Claim::decide(current.as_ref(), request);
        let Claim::Granted { attempt } = decided else {
            return Ok(decided);
        };
        let written = match &current {
            None => {
                let values = (key.customer.0, key.topic(), request.owner.as_str(), lease_until, request.now);
                Conditional::execute(session, &st.insert_delivery, values).await?.applied()
            }
            Some(current) => {
                let values = (
                    request.owner.as_str(),
                    lease_until,
                    i64::from(attempt),
                    request.now,
                    key.customer.0,
                    key.topic(),
                    current.state.as_str(),
                    current.owner.as_str(),
                    i64::from(current.attempts),
                );
                Conditional::execute(session, &st.take_over_delivery, values).await?.applied()
            }
        };
        if written {
            session
                .execute_unpaged(&st.add_pending_delivery, (BUCKET, key.customer.0, key.topic()))
                .await
                .store()?;
            return Ok(decided);
        }
    }
    Err(StoreError::Unavailable(
        format!("delivery {key} is being claimed by too many mailers at once; try again").into(),
    ))
}

/// Records the outcome of the owner's attempt.
pub(super) async fn finish(
    session: &Session,
    st: &MailStatements,
    key: &DeliveryKey,
    owner: &ClaimOwner,
    outcome: &DeliveryOutcome,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let (state, next_attempt, error, sent_at) = match outcome {
        DeliveryOutcome::Sent => (DeliveryState::Sent, None, None, MaybeUnset::Set(now)),
        DeliveryOutcome::Failed { error, retry_at } => {
            (DeliveryState::Failed, Some(*retry_at), Some(error.as_str()), MaybeUnset::Unset)
        }
        DeliveryOutcome::Rejected { error } => {
            (DeliveryState::Rejected, None, Some(error.as_str()), MaybeUnset::Unset)
        }
    };
    let values =
        (state.as_str(), next_attempt, error, sent_at, now, key.customer.0, key.topic(), owner.as_str());
    let applied = Conditional::execute(session, &st.finish_delivery, values).await?.applied();
    if applied && state != DeliveryState::Failed {
        session
            .execute_unpaged(&st.remove_pending_delivery, (BUCKET, key.customer.0, key.topic()))
            .await
            .store()?;
    }
    Ok(applied)
}

/// Failed deliveries due at `now` and claims whose lease ran out, oldest first.
pub(super) async fn due(
    session: &Session,
    st: &MailStatements,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<Delivery>, StoreError> {
    let pending: Vec<(Uuid, String)> = query::all_rows(session, &st.pending_deliveries, (BUCKET,)).await?;
    let rows: Vec<Option<DeliveryRow>> = stream::iter(pending)
        .map(|(customer, topic)| async move {
            query::first_row::<DeliveryRow>(session, &st.delivery, (customer, topic)).await
        })
        .buffered(CONCURRENT_READS)
        .try_collect()
        .await?;
    let mut due: Vec<(DateTime<Utc>, Delivery)> = Vec::new();
    for row in rows.into_iter().flatten() {
        let updated_at = row.9;
        let d = delivery_from_row(row)?;
        let is_due = match d.state {
            DeliveryState::Failed => d.next_attempt_at.is_none_or(|at| at <= now),
            DeliveryState::Claimed => d.lease_until <= now,
            DeliveryState::Sent | DeliveryState::Rejected => false,
        };
        if is_due {
            due.push((updated_at, d));
        }
    }
    due.sort_by_key(|(updated_at, _)| *updated_at);
    Ok(due.into_iter().take(limit).map(|(_, d)| d).collect())
}

fn alert_from_row(row: AlertRow) -> Result<Alert, StoreError> {
    let (
        customer,
        id,
        kind,
        gateway,
        device,
        opened_at,
        cleared_at,
        detail,
        open_notice,
        clear_notice,
        basis,
        ack_by,
        ack_at,
        ack_note,
    ) = row;
    Ok(Alert {
        id,
        kind: AlertKind::from_word(&kind).ok_or_else(|| corrupt(format!("unknown alert kind {kind:?}")))?,
        gateway: GatewayId::parse(&gateway)?,
        device: if device.is_empty() { None } else { Some(DeviceId::parse(&device)?) },
        customer: (!customer.is_nil()).then_some(CustomerId(customer)),
        opened_at,
        cleared_at,
        detail,
        basis: basis
            .map(|b| AlertBasis::from_word(&b).ok_or_else(|| corrupt(format!("unknown alert basis {b:?}"))))
            .transpose()?,
        acknowledged: match (ack_by, ack_at) {
            (Some(by), Some(at)) => Some(Acknowledgement { by, at, note: ack_note.unwrap_or_default() }),
            _ => None,
        },
        open_notice,
        clear_notice,
    })
}

/// The partition key of an alert: its customer, or the nil UUID for a site without one.
fn partition(customer: Option<CustomerId>) -> Uuid {
    customer.map_or(Uuid::nil(), |c| c.0)
}

fn device_key(alert: &Alert) -> &str {
    alert.device.as_ref().map_or("", DeviceId::as_str)
}

/// Opens an alert unless its condition is open already.
pub(super) async fn open_alert(
    session: &Session,
    st: &MailStatements,
    alert: &Alert,
) -> Result<bool, StoreError> {
    let customer = partition(alert.customer);
    let index = (alert.kind.as_str(), alert.gateway.as_str(), device_key(alert), customer, alert.id);
    if !Conditional::execute(session, &st.claim_open_alert, index).await?.applied() {
        return Ok(false);
    }
    let values = (
        customer,
        alert.id,
        alert.kind.as_str(),
        alert.gateway.as_str(),
        device_key(alert),
        alert.opened_at,
        alert.cleared_at,
        alert.detail.as_str(),
        alert.open_notice.as_deref(),
        alert.clear_notice.as_deref(),
        alert.basis.map(AlertBasis::as_str),
    );
    Conditional::execute(session, &st.insert_alert, values).await?;
    if alert.customer.is_some() {
        session
            .execute_unpaged(&st.add_pending_notice, (BUCKET, customer, alert.id, "open"))
            .await
            .store()?;
    }
    Ok(true)
}

/// Clears an open alert.
pub(super) async fn clear_alert(
    session: &Session,
    st: &MailStatements,
    alert: &Alert,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let customer = partition(alert.customer);
    if !Conditional::execute(session, &st.clear_alert, (at, customer, alert.id)).await?.applied() {
        return Ok(false);
    }
    let index = (alert.kind.as_str(), alert.gateway.as_str(), device_key(alert), alert.id);
    Conditional::execute(session, &st.release_open_alert, index).await?;
    if alert.customer.is_some() {
        session
            .execute_unpaged(&st.add_pending_notice, (BUCKET, customer, alert.id, "clear"))
            .await
            .store()?;
    }
    Ok(true)
}

/// Records who took an open alert on.
pub(super) async fn acknowledge_alert(
    session: &Session,
    st: &MailStatements,
    alert: &Alert,
    acknowledgement: &Acknowledgement,
) -> Result<bool, StoreError> {
    let values = (
        acknowledgement.by.as_str(),
        acknowledgement.at,
        acknowledgement.note.as_str(),
        partition(alert.customer),
        alert.id,
        alert.opened_at,
    );
    Ok(Conditional::execute(session, &st.acknowledge_alert, values).await?.applied())
}

/// Every open alert.
pub(super) async fn open_alerts(session: &Session, st: &MailStatements) -> Result<Vec<Alert>, StoreError> {
    let index: Vec<(String, String, String, Uuid, Uuid)> =
        query::all_rows(session, &st.open_alert_ids, ()).await?;
    let mut alerts = Vec::new();
    for (kind, gateway, device, customer, id) in index {
        match query::first_row::<AlertRow>(session, &st.alert, (customer, id)).await? {
            Some(row) => alerts.push(alert_from_row(row)?),
            None => {
                // Opening stopped between its two writes: free the condition so it opens again.
                let values = (kind.as_str(), gateway.as_str(), device.as_str(), id);
                Conditional::execute(session, &st.release_open_alert, values).await?;
            }
        }
    }
    alerts.sort_by(|a, b| a.opened_at.cmp(&b.opened_at).then(a.id.cmp(&b.id)));
    Ok(alerts)
}

async fn alerts_of(
    session: &Session,
    st: &MailStatements,
    customer: CustomerId,
) -> Result<Vec<Alert>, StoreError> {
    let rows: Vec<AlertRow> = query::all_rows(session, &st.customer_alerts, (customer.0,)).await?;
    let mut alerts = rows.into_iter().map(alert_from_row).collect::<Result<Vec<_>, _>>()?;
    alerts.sort_by(|a, b| a.opened_at.cmp(&b.opened_at).then(a.id.cmp(&b.id)));
    Ok(alerts)
}

/// A customer's alerts open at any time in `range`.
pub(super) async fn customer_alerts(
    session: &Session,
    st: &MailStatements,
    customer: CustomerId,
    range: Range<DateTime<Utc>>,
) -> Result<Vec<Alert>, StoreError> {
    let mut alerts = alerts_of(session, st, customer).await?;
    alerts.retain(|a| a.opened_at < range.end && a.cleared_at.is_none_or(|c| c >= range.start));
    Ok(alerts)
}

/// Customers with untaken notices.
pub(super) async fn customers_with_pending_notices(
    session: &Session,
    st: &MailStatements,
) -> Result<Vec<CustomerId>, StoreError> {
    let rows: Vec<(Uuid,)> = query::all_rows(session, &st.pending_notice_customers, (BUCKET,)).await?;
    let mut customers: Vec<CustomerId> = rows.into_iter().map(|(c,)| CustomerId(c)).collect();
    customers.dedup();
    Ok(customers)
}

/// Assigns a customer's untaken notices to `topic` and returns the alerts the notice covers.
pub(super) async fn take_alert_notices(
    session: &Session,
    st: &MailStatements,
    customer: CustomerId,
    topic: &str,
) -> Result<Vec<Alert>, StoreError> {
    let pending: Vec<(Uuid, String)> =
        query::all_rows(session, &st.pending_notices, (BUCKET, customer.0)).await?;
    for (id, event) in pending {
        let statement = if event == "clear" { &st.take_clear_notice } else { &st.take_open_notice };
        // Not applied: an earlier notice took it; either way it is no longer pending.
        Conditional::execute(session, statement, (topic, customer.0, id)).await?;
        session
            .execute_unpaged(&st.remove_pending_notice, (BUCKET, customer.0, id, event.as_str()))
            .await
            .store()?;
    }
    let mut alerts = alerts_of(session, st, customer).await?;
    alerts.retain(|a| a.open_notice.as_deref() == Some(topic) || a.clear_notice.as_deref() == Some(topic));
    Ok(alerts)
}

fn schedule_from_word(word: &str) -> Result<ReportSchedule, StoreError> {
    ReportSchedule::from_word(word).ok_or_else(|| corrupt(format!("unknown report schedule {word:?}")))
}

/// A customer's mail choices.
pub(super) async fn preferences(
    session: &Session,
    st: &MailStatements,
    customer: CustomerId,
) -> Result<MailPreferences, StoreError> {
    let row: Option<(Option<String>, Option<bool>, Option<bool>)> =
        query::first_row(session, &st.preferences, (customer.0,)).await?;
    let Some((schedule, summaries, alerts)) = row else { return Ok(MailPreferences::default()) };
    Ok(MailPreferences {
        schedule: schedule.as_deref().map(schedule_from_word).transpose()?,
        unsubscribed_summaries: summaries.unwrap_or(false),
        unsubscribed_alerts: alerts.unwrap_or(false),
    })
}

/// Replaces a customer's mail choices.
pub(super) async fn set_preferences(
    session: &Session,
    st: &MailStatements,
    customer: CustomerId,
    preferences: &MailPreferences,
) -> Result<(), StoreError> {
    let values = (
        customer.0,
        preferences.schedule.map(ReportSchedule::as_str),
        preferences.unsubscribed_summaries,
        preferences.unsubscribed_alerts,
    );
    session.execute_unpaged(&st.set_preferences, values).await.store()?;
    Ok(())
}
