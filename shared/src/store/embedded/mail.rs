//! The mailer's tables in a provider database: delivery claims, alerts, mail preferences.
//!
//! A claim is decided by the rule both stores share ([`Claim::decide`]) on the row as read under
//! the database's write lock, so two processes on one file cannot both win.

use std::ops::Range;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::rows::{from_millis, millis};
use super::writer::backend;
use crate::domain::{
    Acknowledgement, Alert, AlertBasis, AlertKind, Claim, ClaimOwner, ClaimRequest, CustomerId, Delivery,
    DeliveryKey, DeliveryOutcome, DeliveryState, DeviceId, GatewayId, MailPreferences, ReportSchedule,
};
use crate::store::StoreError;

const DELIVERY_COLUMNS: &str =
    "customer, topic, state, owner, lease_until, attempts, next_attempt_at, last_error, sent_at";

/// Claims a delivery by the rule both stores share ([`Claim::decide`]). The first step is a
/// write (an insert of a first claim, which does nothing when the row exists), so that the
/// transaction holds the database's write lock before it reads the row: another process on the
/// same file can then neither come between the read and the takeover nor make the read stale.
pub(super) fn claim(c: &Connection, request: &ClaimRequest) -> Result<Claim, StoreError> {
    let now = millis(request.now);
    let lease_until = millis(request.now + request.lease);
    let customer = request.key.customer.to_string();
    let inserted = c
        .prepare_cached(
            "INSERT INTO deliveries (customer, topic, state, owner, lease_until, attempts, updated_at)
             VALUES (?1, ?2, 'claimed', ?3, ?4, 1, ?5) ON CONFLICT (customer, topic) DO NOTHING",
        )
        .map_err(backend)?
        .execute(params![customer, request.key.topic(), request.owner.as_str(), lease_until, now])
        .map_err(backend)?;
    if inserted == 1 {
        return Ok(Claim::decide(None, request));
    }
    let stored = delivery(c, &request.key)?
        .ok_or_else(|| StoreError::Backend("a delivery claim vanished during its own transaction".into()))?;
    let decided = Claim::decide(Some(&stored), request);
    let Claim::Granted { attempt } = decided else {
        return Ok(decided);
    };
    let written = c
        .prepare_cached(
            "UPDATE deliveries SET state = 'claimed', owner = ?3, lease_until = ?4, attempts = ?5,
                next_attempt_at = NULL, updated_at = ?6
             WHERE customer = ?1 AND topic = ?2 AND state = ?7 AND owner = ?8 AND attempts = ?9",
        )
        .map_err(backend)?
        .execute(params![
            customer,
            request.key.topic(),
            request.owner.as_str(),
            lease_until,
            attempt,
            now,
            stored.state.as_str(),
            stored.owner.as_str(),
            stored.attempts,
        ])
        .map_err(backend)?;
    if written != 1 {
        return Err(StoreError::Backend("a delivery claim changed under the write lock".into()));
    }
    Ok(decided)
}

pub(super) fn finish(
    c: &Connection,
    key: &DeliveryKey,
    owner: &ClaimOwner,
    outcome: &DeliveryOutcome,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let (state, next_attempt, error, sent_at) = match outcome {
        DeliveryOutcome::Sent => (DeliveryState::Sent, None, None, Some(millis(now))),
        DeliveryOutcome::Failed { error, retry_at } => {
            (DeliveryState::Failed, Some(millis(*retry_at)), Some(error.as_str()), None)
        }
        DeliveryOutcome::Rejected { error } => (DeliveryState::Rejected, None, Some(error.as_str()), None),
    };
    let changed = c
        .prepare_cached(
            "UPDATE deliveries SET state = ?4, next_attempt_at = ?5, last_error = ?6,
                sent_at = COALESCE(?7, sent_at), updated_at = ?8
             WHERE customer = ?1 AND topic = ?2 AND owner = ?3 AND state = 'claimed'",
        )
        .map_err(backend)?
        .execute(params![
            key.customer.to_string(),
            key.topic(),
            owner.as_str(),
            state.as_str(),
            next_attempt,
            error,
            sent_at,
            millis(now),
        ])
        .map_err(backend)?;
    Ok(changed == 1)
}

pub(super) fn delivery(c: &Connection, key: &DeliveryKey) -> Result<Option<Delivery>, StoreError> {
    c.prepare_cached(&format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE customer = ?1 AND topic = ?2"))
        .map_err(backend)?
        .query_row(params![key.customer.to_string(), key.topic()], delivery_from_row)
        .optional()
        .map_err(backend)?
        .transpose()
}

pub(super) fn due(c: &Connection, now: DateTime<Utc>, limit: i64) -> Result<Vec<Delivery>, StoreError> {
    let mut statement = c
        .prepare_cached(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries
             WHERE (state = 'failed' AND next_attempt_at <= ?1) OR (state = 'claimed' AND lease_until <= ?1)
             ORDER BY updated_at LIMIT ?2"
        ))
        .map_err(backend)?;
    let rows = statement.query_map(params![millis(now), limit], delivery_from_row).map_err(backend)?;
    rows.map(|r| r.map_err(backend)?).collect()
}

fn delivery_from_row(row: &Row<'_>) -> rusqlite::Result<Result<Delivery, StoreError>> {
    let customer: String = row.get(0)?;
    let topic: String = row.get(1)?;
    let state: String = row.get(2)?;
    let owner: String = row.get(3)?;
    let lease_until: i64 = row.get(4)?;
    let attempts: i64 = row.get(5)?;
    let next_attempt_at: Option<i64> = row.get(6)?;
    let last_error: Option<String> = row.get(7)?;
    let sent_at: Option<i64> = row.get(8)?;
    Ok((|| {
        let corrupt = |e: crate::domain::DeliveryKeyError| {
            StoreError::Corrupt(crate::store::Failure::caused_by("a stored delivery", e))
        };
        Ok(Delivery {
            key: DeliveryKey::new(customer.parse()?, &topic).map_err(corrupt)?,
            state: DeliveryState::from_word(&state)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown delivery state {state:?}").into()))?,
            owner: ClaimOwner::parse(&owner).map_err(corrupt)?,
            lease_until: from_millis(lease_until)?,
            attempts: u32::try_from(attempts).unwrap_or(0),
            next_attempt_at: next_attempt_at.map(from_millis).transpose()?,
            last_error,
            sent_at: sent_at.map(from_millis).transpose()?,
        })
    })())
}

const ALERT_COLUMNS: &str = "id, kind, gateway, device, customer, opened_at, cleared_at, detail, open_notice,
    clear_notice, basis, ack_by, ack_at, ack_note";

pub(super) fn open_alert(c: &Connection, alert: &Alert) -> Result<bool, StoreError> {
    let inserted = c
        .prepare_cached(&format!(
            "INSERT INTO alerts ({ALERT_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT DO NOTHING"
        ))
        .map_err(backend)?
        .execute(params![
            alert.id.to_string(),
            alert.kind.as_str(),
            alert.gateway.as_str(),
            alert.device.as_ref().map_or("", DeviceId::as_str),
            alert.customer.map(|c| c.to_string()),
            millis(alert.opened_at),
            alert.cleared_at.map(millis),
            alert.detail,
            alert.open_notice,
            alert.clear_notice,
            alert.basis.map(AlertBasis::as_str),
            alert.acknowledged.as_ref().map(|a| a.by.as_str()),
            alert.acknowledged.as_ref().map(|a| millis(a.at)),
            alert.acknowledged.as_ref().map(|a| a.note.as_str()),
        ])
        .map_err(backend)?;
    Ok(inserted == 1)
}

pub(super) fn acknowledge_alert(
    c: &Connection,
    id: uuid::Uuid,
    acknowledgement: &Acknowledgement,
) -> Result<bool, StoreError> {
    let changed = c
        .prepare_cached(
            "UPDATE alerts SET ack_by = ?2, ack_at = ?3, ack_note = ?4 WHERE id = ?1 AND cleared_at IS NULL",
        )
        .map_err(backend)?
        .execute(params![
            id.to_string(),
            acknowledgement.by,
            millis(acknowledgement.at),
            acknowledgement.note
        ])
        .map_err(backend)?;
    Ok(changed == 1)
}

pub(super) fn clear_alert(c: &Connection, id: uuid::Uuid, at: DateTime<Utc>) -> Result<bool, StoreError> {
    let changed = c
        .prepare_cached("UPDATE alerts SET cleared_at = ?2 WHERE id = ?1 AND cleared_at IS NULL")
        .map_err(backend)?
        .execute(params![id.to_string(), millis(at)])
        .map_err(backend)?;
    Ok(changed == 1)
}

fn alerts_where(
    c: &Connection,
    condition: &str,
    values: impl rusqlite::Params,
) -> Result<Vec<Alert>, StoreError> {
    let mut statement = c
        .prepare_cached(&format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE {condition} ORDER BY opened_at, id"
        ))
        .map_err(backend)?;
    let rows = statement.query_map(values, alert_from_row).map_err(backend)?;
    rows.map(|r| r.map_err(backend)?).collect()
}

pub(super) fn open_alerts(c: &Connection) -> Result<Vec<Alert>, StoreError> {
    alerts_where(c, "cleared_at IS NULL", [])
}

pub(super) fn customer_alerts(
    c: &Connection,
    customer: CustomerId,
    range: Range<DateTime<Utc>>,
) -> Result<Vec<Alert>, StoreError> {
    alerts_where(
        c,
        "customer = ?1 AND opened_at < ?3 AND (cleared_at IS NULL OR cleared_at >= ?2)",
        params![customer.to_string(), millis(range.start), millis(range.end)],
    )
}

pub(super) fn customers_with_pending_notices(c: &Connection) -> Result<Vec<CustomerId>, StoreError> {
    let mut statement = c
        .prepare_cached(
            "SELECT DISTINCT customer FROM alerts WHERE customer IS NOT NULL
               AND (open_notice IS NULL OR (cleared_at IS NOT NULL AND clear_notice IS NULL))
             ORDER BY customer",
        )
        .map_err(backend)?;
    let rows = statement.query_map([], |row| row.get::<_, String>(0)).map_err(backend)?;
    rows.map(|r| Ok(r.map_err(backend)?.parse()?)).collect()
}

pub(super) fn take_alert_notices(
    c: &Connection,
    customer: CustomerId,
    topic: &str,
) -> Result<Vec<Alert>, StoreError> {
    let id = customer.to_string();
    c.prepare_cached("UPDATE alerts SET open_notice = ?2 WHERE customer = ?1 AND open_notice IS NULL")
        .map_err(backend)?
        .execute(params![id, topic])
        .map_err(backend)?;
    c.prepare_cached(
        "UPDATE alerts SET clear_notice = ?2
         WHERE customer = ?1 AND cleared_at IS NOT NULL AND clear_notice IS NULL",
    )
    .map_err(backend)?
    .execute(params![id, topic])
    .map_err(backend)?;
    alerts_where(c, "customer = ?1 AND (open_notice = ?2 OR clear_notice = ?2)", params![id, topic])
}

fn alert_from_row(row: &Row<'_>) -> rusqlite::Result<Result<Alert, StoreError>> {
    let id: String = row.get(0)?;
    let kind: String = row.get(1)?;
    let gateway: String = row.get(2)?;
    let device: String = row.get(3)?;
    let customer: Option<String> = row.get(4)?;
    let opened_at: i64 = row.get(5)?;
    let cleared_at: Option<i64> = row.get(6)?;
    let detail: String = row.get(7)?;
    let open_notice: Option<String> = row.get(8)?;
    let clear_notice: Option<String> = row.get(9)?;
    let basis: Option<String> = row.get(10)?;
    let (ack_by, ack_at, ack_note): (Option<String>, Option<i64>, Option<String>) =
        (row.get(11)?, row.get(12)?, row.get(13)?);
    Ok((|| {
        Ok(Alert {
            id: uuid::Uuid::parse_str(&id).map_err(|e| {
                StoreError::Corrupt(crate::store::Failure::caused_by(format!("alert id {id:?}"), e))
            })?,
            kind: AlertKind::from_word(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown alert kind {kind:?}").into()))?,
            gateway: GatewayId::parse(&gateway)?,
            device: if device.is_empty() { None } else { Some(DeviceId::parse(&device)?) },
            customer: customer.map(|c| c.parse()).transpose()?,
            opened_at: from_millis(opened_at)?,
            cleared_at: cleared_at.map(from_millis).transpose()?,
            detail,
            basis: basis
                .map(|b| {
                    AlertBasis::from_word(&b)
                        .ok_or_else(|| StoreError::Corrupt(format!("unknown alert basis {b:?}").into()))
                })
                .transpose()?,
            acknowledged: match (ack_by, ack_at) {
                (Some(by), Some(at)) => {
                    Some(Acknowledgement { by, at: from_millis(at)?, note: ack_note.unwrap_or_default() })
                }
                _ => None,
            },
            open_notice,
            clear_notice,
        })
    })())
}

fn schedule_from_word(word: &str) -> Result<ReportSchedule, StoreError> {
    ReportSchedule::from_word(word)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown report schedule {word:?}").into()))
}

pub(super) fn mail_preferences(c: &Connection, customer: CustomerId) -> Result<MailPreferences, StoreError> {
    let row: Option<(Option<String>, bool, bool)> = c
        .prepare_cached(
            "SELECT schedule, unsubscribed_summaries, unsubscribed_alerts FROM mail_preferences WHERE customer = ?1",
        )
        .map_err(backend)?
        .query_row([customer.to_string()], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .optional()
        .map_err(backend)?;
    let Some((schedule, unsubscribed_summaries, unsubscribed_alerts)) = row else {
        return Ok(MailPreferences::default());
    };
    Ok(MailPreferences {
        schedule: schedule.as_deref().map(schedule_from_word).transpose()?,
        unsubscribed_summaries,
        unsubscribed_alerts,
    })
}

pub(super) fn set_mail_preferences(
    c: &Connection,
    customer: CustomerId,
    preferences: &MailPreferences,
) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT OR REPLACE INTO mail_preferences (customer, schedule, unsubscribed_summaries, unsubscribed_alerts)
         VALUES (?1, ?2, ?3, ?4)",
    )
    .map_err(backend)?
    .execute(params![
        customer.to_string(),
        preferences.schedule.map(ReportSchedule::as_str),
        preferences.unsubscribed_summaries,
        preferences.unsubscribed_alerts,
    ])
    .map_err(backend)?;
    Ok(())
}
