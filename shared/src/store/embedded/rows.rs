//! Conversions between SQLite rows and domain types.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::writer::backend;
use crate::domain::{
    ApiToken, Customer, CustomerId, Device, DeviceId, DeviceKind, DeviceStatus, EmailAddress, Gateway,
    GatewayId, Metric, Metrics, PasswordDigest, QuarantinedReading, Reading, RefusalReason, RefusedGateway,
    SessionGeneration, SiteAlerting, SiteLocation, TokenHash, User, Username,
};
use crate::store::StoreError;

/// Milliseconds since the epoch, the stored form of every timestamp.
pub(super) fn millis(ts: DateTime<Utc>) -> i64 {
    ts.timestamp_millis()
}

pub(super) fn from_millis(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {ms} ms is out of range").into()))
}

/// The column list of `readings` after the key, in [`Metric::ALL`] order.
pub(super) const READING_INSERT: &str = "INSERT OR REPLACE INTO readings (gateway, device, ts, status,
    ac_power, dc_power, energy, ac_voltage, ac_current, dc_voltage, dc_current, frequency,
    temperature, irradiance, import_energy, export_energy, extra)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";

/// Writes `readings` (replacing any stored at the same key), through one prepared statement.
pub(super) fn insert_readings(c: &Connection, readings: &[Reading]) -> Result<(), StoreError> {
    let mut statement = c.prepare_cached(READING_INSERT).map_err(backend)?;
    for reading in readings {
        let m = &reading.metrics;
        let extra = if m.extra.is_empty() { None } else { Some(serde_json::to_string(&m.extra)?) };
        let insert = |statement: &mut rusqlite::CachedStatement<'_>| -> rusqlite::Result<usize> {
            statement.raw_bind_parameter(1, reading.gateway.as_str())?;
            statement.raw_bind_parameter(2, reading.device.as_str())?;
            statement.raw_bind_parameter(3, millis(reading.ts))?;
            statement.raw_bind_parameter(4, reading.status.as_ref().map(DeviceStatus::as_str))?;
            // The metric columns follow in `Metric::ALL` order (see `READING_INSERT`).
            for (i, metric) in Metric::ALL.iter().enumerate() {
                statement.raw_bind_parameter(5 + i, m.get(*metric))?;
            }
            statement.raw_bind_parameter(5 + Metric::ALL.len(), extra.as_deref())?;
            statement.raw_execute()
        };
        insert(&mut statement).map_err(backend)?;
    }
    Ok(())
}

pub(super) const READING_COLUMNS: &str = "gateway, device, ts, status, ac_power, dc_power, energy,
    ac_voltage, ac_current, dc_voltage, dc_current, frequency, temperature, irradiance,
    import_energy, export_energy, extra";

pub(super) fn reading_from_row(row: &Row<'_>) -> rusqlite::Result<Result<Reading, StoreError>> {
    let gateway: String = row.get(0)?;
    let device: String = row.get(1)?;
    let ts: i64 = row.get(2)?;
    let status: Option<String> = row.get(3)?;
    let mut metrics = Metrics::default();
    for (i, metric) in Metric::ALL.iter().enumerate() {
        metrics.set_unchecked(*metric, row.get(4 + i)?);
    }
    let extra: Option<String> = row.get(16)?;
    Ok((|| {
        if let Some(extra) = extra {
            metrics.extra = serde_json::from_str::<BTreeMap<String, f64>>(&extra)?;
        }
        Ok(Reading {
            gateway: GatewayId::parse(&gateway)?,
            device: DeviceId::parse(&device)?,
            ts: from_millis(ts)?,
            status: status.map(|s| DeviceStatus::from_word(&s)),
            metrics,
        })
    })())
}

pub(super) fn upsert_device(c: &Connection, device: &Device) -> Result<(), StoreError> {
    let mut statement = c
        .prepare_cached(
            "INSERT INTO devices (gateway, id, kind, manufacturer, model, serial, last_seen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (gateway, id) DO UPDATE SET
                kind = excluded.kind,
                manufacturer = COALESCE(excluded.manufacturer, manufacturer),
                model = COALESCE(excluded.model, model),
                serial = COALESCE(excluded.serial, serial),
                last_seen = MAX(COALESCE(last_seen, 0), COALESCE(excluded.last_seen, 0))",
        )
        .map_err(backend)?;
    statement
        .execute(params![
            device.gateway.as_str(),
            device.id.as_str(),
            device.kind.as_str(),
            device.manufacturer,
            device.model,
            device.serial,
            device.last_seen.map(millis),
        ])
        .map_err(backend)?;
    Ok(())
}

pub(super) fn device_from_row(row: &Row<'_>) -> rusqlite::Result<Result<Device, StoreError>> {
    let gateway: String = row.get(0)?;
    let id: String = row.get(1)?;
    let kind: String = row.get(2)?;
    let last_seen: Option<i64> = row.get(6)?;
    let manufacturer = row.get(3)?;
    let model = row.get(4)?;
    let serial = row.get(5)?;
    Ok((|| {
        Ok(Device {
            gateway: GatewayId::parse(&gateway)?,
            id: DeviceId::parse(&id)?,
            kind: DeviceKind::from_word(&kind),
            manufacturer,
            model,
            serial,
            last_seen: last_seen.map(from_millis).transpose()?,
        })
    })())
}

pub(super) fn write_gateway(c: &Connection, gateway: &Gateway, insert: bool) -> Result<usize, StoreError> {
    let sql = if insert {
        "INSERT INTO gateways (id, customer, site_name, capacity_kwp, token_hash, previous_token_hash,
            previous_token_until, last_seen, active, latitude, longitude, offline_after_minutes,
            underperformance_percent, maintenance_until)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT (id) DO NOTHING"
    } else {
        "UPDATE gateways SET customer = ?2, site_name = ?3, capacity_kwp = ?4, token_hash = ?5,
            previous_token_hash = ?6, previous_token_until = ?7, last_seen = ?8, active = ?9,
            latitude = ?10, longitude = ?11, offline_after_minutes = ?12, underperformance_percent = ?13,
            maintenance_until = ?14
         WHERE id = ?1"
    };
    let (previous_hash, previous_until) = match &gateway.previous_token {
        Some((hash, until)) => (Some(hash.as_bytes().to_vec()), Some(millis(*until))),
        None => (None, None),
    };
    c.prepare_cached(sql)
        .map_err(backend)?
        .execute(params![
            gateway.id.as_str(),
            gateway.customer.map(|c| c.to_string()),
            gateway.site_name,
            gateway.capacity_kwp,
            gateway.token_hash.as_bytes().to_vec(),
            previous_hash,
            previous_until,
            gateway.last_seen.map(millis),
            gateway.active,
            gateway.location.map(|l| l.latitude()),
            gateway.location.map(|l| l.longitude()),
            gateway.alerting.offline_after_minutes,
            gateway.alerting.underperformance_percent,
            gateway.alerting.maintenance_until.map(millis),
        ])
        .map_err(backend)
}

pub(super) const GATEWAY_COLUMNS: &str = "id, customer, site_name, capacity_kwp, token_hash,
    previous_token_hash, previous_token_until, last_seen, active, latitude, longitude,
    offline_after_minutes, underperformance_percent, maintenance_until";

pub(super) fn gateway_from_row(row: &Row<'_>) -> rusqlite::Result<Result<Gateway, StoreError>> {
    let id: String = row.get(0)?;
    let customer: Option<String> = row.get(1)?;
    let site_name: String = row.get(2)?;
    let capacity_kwp: f64 = row.get(3)?;
    let token_hash: Vec<u8> = row.get(4)?;
    let previous_hash: Option<Vec<u8>> = row.get(5)?;
    let previous_until: Option<i64> = row.get(6)?;
    let last_seen: Option<i64> = row.get(7)?;
    let active: bool = row.get(8)?;
    let (latitude, longitude): (Option<f64>, Option<f64>) = (row.get(9)?, row.get(10)?);
    // Out of range (written by hand) reads as unset, on both backends: the provider's applies.
    let offline_after_minutes = row.get::<_, Option<i64>>(11)?.and_then(|m| u32::try_from(m).ok());
    let underperformance_percent = row.get::<_, Option<i64>>(12)?.and_then(|p| u8::try_from(p).ok());
    let maintenance_until: Option<i64> = row.get(13)?;
    Ok((|| {
        let hash = |bytes: &[u8]| {
            TokenHash::from_bytes(bytes)
                .ok_or_else(|| StoreError::Corrupt("token hash is not 32 bytes".into()))
        };
        let previous_token = match (previous_hash, previous_until) {
            (Some(h), Some(until)) => Some((hash(&h)?, from_millis(until)?)),
            _ => None,
        };
        Ok(Gateway {
            id: GatewayId::parse(&id)?,
            customer: customer.map(|c| c.parse::<CustomerId>()).transpose()?,
            site_name,
            capacity_kwp,
            token_hash: hash(&token_hash)?,
            previous_token,
            last_seen: last_seen.map(from_millis).transpose()?,
            active,
            location: SiteLocation::from_coordinates(latitude, longitude).map_err(StoreError::from)?,
            alerting: SiteAlerting {
                offline_after_minutes,
                underperformance_percent,
                maintenance_until: maintenance_until.map(from_millis).transpose()?,
            },
        })
    })())
}

pub(super) fn customer_from_row(row: &Row<'_>) -> rusqlite::Result<Result<Customer, StoreError>> {
    let id: String = row.get(0)?;
    let name: String = row.get(1)?;
    let emails: String = row.get(2)?;
    let timezone: String = row.get(3)?;
    let active: bool = row.get(4)?;
    Ok((|| {
        Ok(Customer {
            id: id.parse()?,
            name,
            emails: serde_json::from_str::<Vec<EmailAddress>>(&emails)?,
            timezone: timezone
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("unknown timezone {timezone:?}").into()))?,
            active,
        })
    })())
}

pub(super) fn upsert_customer(c: &Connection, customer: &Customer) -> Result<(), StoreError> {
    let emails = serde_json::to_string(&customer.emails)?;
    c.prepare_cached(
        "INSERT OR REPLACE INTO customers (id, name, emails, timezone, active) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .map_err(backend)?
    .execute(params![
        customer.id.to_string(),
        customer.name,
        emails,
        customer.timezone.name(),
        customer.active
    ])
    .map_err(backend)?;
    Ok(())
}

pub(super) fn insert_quarantined(c: &Connection, q: &QuarantinedReading) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT OR IGNORE INTO quarantine (gateway, received_at, seq, device, ts, reason, content)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .map_err(backend)?
    .execute(params![
        q.gateway.as_str(),
        millis(q.received_at),
        q.seq.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
        q.device,
        q.ts,
        q.reason,
        q.content,
    ])
    .map_err(backend)?;
    Ok(())
}

pub(super) fn quarantined_from_row(
    row: &Row<'_>,
) -> rusqlite::Result<Result<QuarantinedReading, StoreError>> {
    let gateway: String = row.get(0)?;
    let received_at: i64 = row.get(1)?;
    let seq: Option<i64> = row.get(2)?;
    let device = row.get(3)?;
    let ts = row.get(4)?;
    let reason = row.get(5)?;
    let content = row.get(6)?;
    Ok((|| {
        Ok(QuarantinedReading {
            gateway: GatewayId::parse(&gateway)?,
            received_at: from_millis(received_at)?,
            seq: seq.and_then(|s| u64::try_from(s).ok()),
            device,
            ts,
            reason,
            content,
        })
    })())
}

/// Records a refusal over what its slot holds ([`RefusedGateway::recorded_over`]), and drops the
/// rows not written for [`RefusedGateway::KEPT_SECS`]. `table` is one of two literals chosen by
/// this crate, never input.
pub(super) fn record_refusal(
    c: &Connection,
    table: &'static str,
    r: &RefusedGateway,
) -> Result<(), StoreError> {
    let now = millis(Utc::now());
    c.prepare_cached(&format!("DELETE FROM {table} WHERE written_at < ?1"))
        .map_err(backend)?
        .execute([now - RefusedGateway::KEPT_SECS * 1000])
        .map_err(backend)?;
    let slot = RefusedGateway::slot(&r.gateway);
    let stored = c
        .prepare_cached(&format!(
            "SELECT gateway, reason, first_seen, last_seen, attempts, last_address FROM {table} WHERE slot = ?1"
        ))
        .map_err(backend)?
        .query_row([slot], refused_from_row)
        .optional()
        .map_err(backend)?
        // A row that no longer reads is simply replaced.
        .and_then(Result::ok);
    let new = r.recorded_over(stored.as_ref());
    c.prepare_cached(&format!(
        "INSERT OR REPLACE INTO {table}
            (slot, gateway, reason, first_seen, last_seen, attempts, last_address, written_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
    ))
    .map_err(backend)?
    .execute(params![
        slot,
        new.gateway.as_str(),
        new.reason.as_str(),
        millis(new.first_seen),
        millis(new.last_seen),
        i64::try_from(new.attempts).unwrap_or(i64::MAX),
        new.last_address,
        now,
    ])
    .map_err(backend)?;
    Ok(())
}

/// The query for the most recent refusals of `table`, with the limit as `?1` and the oldest
/// write still kept as `?2`.
pub(super) fn recent_refusals(table: &'static str) -> String {
    format!(
        "SELECT gateway, reason, first_seen, last_seen, attempts, last_address FROM {table}
         WHERE written_at >= ?2 ORDER BY last_seen DESC, gateway LIMIT ?1"
    )
}

/// The oldest write of a refusal still kept, for [`recent_refusals`].
pub(super) fn refusals_kept_since() -> i64 {
    millis(Utc::now()) - RefusedGateway::KEPT_SECS * 1000
}

pub(super) fn refused_from_row(row: &Row<'_>) -> rusqlite::Result<Result<RefusedGateway, StoreError>> {
    let gateway: String = row.get(0)?;
    let reason: String = row.get(1)?;
    let first_seen: i64 = row.get(2)?;
    let last_seen: i64 = row.get(3)?;
    let attempts: i64 = row.get(4)?;
    let last_address: String = row.get(5)?;
    Ok((|| {
        Ok(RefusedGateway {
            gateway: GatewayId::parse(&gateway)?,
            reason: RefusalReason::from_word(&reason)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown refusal reason {reason:?}").into()))?,
            first_seen: from_millis(first_seen)?,
            last_seen: from_millis(last_seen)?,
            attempts: u64::try_from(attempts).unwrap_or(0),
            last_address,
        })
    })())
}

pub(super) fn user_from_row(row: &Row<'_>) -> rusqlite::Result<Result<User, StoreError>> {
    let username: String = row.get(0)?;
    let display_name: String = row.get(1)?;
    let password: String = row.get(2)?;
    let active: bool = row.get(3)?;
    let generation: i64 = row.get(4)?;
    Ok(Username::parse(&username).map_err(|e| StoreError::Corrupt(e.into())).map(|username| User {
        username,
        display_name,
        password: PasswordDigest::from_stored(password),
        active,
        session_generation: SessionGeneration::from_stored(generation),
    }))
}

pub(super) fn api_token_from_row(row: &Row<'_>) -> rusqlite::Result<Result<ApiToken, StoreError>> {
    let hash: Vec<u8> = row.get(0)?;
    let name: String = row.get(1)?;
    let created_at: i64 = row.get(2)?;
    Ok((|| {
        Ok(ApiToken {
            hash: TokenHash::from_bytes(&hash)
                .ok_or_else(|| StoreError::Corrupt("API token hash is not 32 bytes".into()))?,
            name,
            created_at: from_millis(created_at)?,
        })
    })())
}
