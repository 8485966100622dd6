//! One provider's SQLite database.

use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use rusqlite::{Connection, OptionalExtension, params};

use super::rows::{self, from_millis, millis};
use super::writer::{Writer, backend};
use super::{Registry, blocking, poisoned};
use super::{mail, summaries, write};
use crate::domain::{
    Acknowledgement, Alert, ApiToken, Claim, ClaimOwner, ClaimRequest, Customer, CustomerId, Delivery,
    DeliveryKey, DeliveryOutcome, Device, DeviceId, Gateway, GatewayId, MailPreferences, ProviderSlug,
    QuarantinedReading, Reading, RefusedGateway, SessionGeneration, SiteAlerting, SiteLocation, TokenHash,
    User, Username,
};
use crate::reports::HourlyRollup;
use crate::reports::daily::DaySummary;
use crate::store::carry::CARRY_AHEAD;
use crate::store::{
    Accounts, AlertLog, BatchWriter, FleetDirectory, HistoryMark, MailLedger, ReadingsLog, ReportCache,
    SessionWriter, StoreError, TenantStore, WriteBatch, WriteSession, WritesInSession,
};

/// A handle on one provider's database.
pub struct EmbeddedTenant {
    slug: ProviderSlug,
    writer: Writer,
    reader: Arc<Mutex<Connection>>,
    registry: Arc<Registry>,
}

impl EmbeddedTenant {
    pub(super) fn new(
        slug: ProviderSlug,
        writer: Writer,
        reader: Connection,
        registry: Arc<Registry>,
    ) -> Self {
        Self { slug, writer, reader: Arc::new(Mutex::new(reader)), registry }
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let reader = Arc::clone(&self.reader);
        blocking(move || {
            let connection = reader.lock().map_err(|_| poisoned())?;
            f(&connection)
        })
        .await
    }

    /// Runs a query whose rows convert with `convert`, collecting them.
    async fn query<T, P>(
        &self,
        sql: String,
        params: P,
        convert: fn(&rusqlite::Row<'_>) -> rusqlite::Result<Result<T, StoreError>>,
    ) -> Result<Vec<T>, StoreError>
    where
        T: Send + 'static,
        P: rusqlite::Params + Send + 'static,
    {
        self.read(move |c| {
            let mut statement = c.prepare_cached(&sql).map_err(backend)?;
            let rows = statement.query_map(params, convert).map_err(backend)?;
            rows.map(|r| r.map_err(backend)?).collect()
        })
        .await
    }
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl TenantStore for EmbeddedTenant {
    fn provider(&self) -> &ProviderSlug {
        &self.slug
    }
}

#[async_trait]
impl FleetDirectory for EmbeddedTenant {
    async fn upsert_customer(&self, customer: &Customer) -> Result<(), StoreError> {
        let customer = customer.clone();
        self.writer.run(move |c| rows::upsert_customer(c, &customer)).await
    }

    async fn customer(&self, id: CustomerId) -> Result<Option<Customer>, StoreError> {
        let sql = "SELECT id, name, emails, timezone, active FROM customers WHERE id = ?1".to_owned();
        Ok(self.query(sql, [id.to_string()], rows::customer_from_row).await?.pop())
    }

    async fn customers(&self) -> Result<Vec<Customer>, StoreError> {
        let sql = "SELECT id, name, emails, timezone, active FROM customers ORDER BY name".to_owned();
        self.query(sql, [], rows::customer_from_row).await
    }

    async fn create_gateway(&self, gateway: &Gateway) -> Result<(), StoreError> {
        let id = gateway.id.as_str().to_owned();
        let provider = self.slug.as_str().to_owned();
        let owner: String = self
            .registry
            .write(move |c| {
                c.execute(
                    "INSERT INTO gateway_directory (gateway, provider) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    params![id, provider],
                )
                .map_err(backend)?;
                c.query_row("SELECT provider FROM gateway_directory WHERE gateway = ?1", [id], |row| row.get(0))
                    .map_err(backend)
            })
            .await?;
        if owner != self.slug.as_str() {
            return Err(StoreError::GatewayTaken(gateway.id.clone()));
        }
        let record = gateway.clone();
        let inserted = self.writer.run(move |c| rows::write_gateway(c, &record, true)).await?;
        if inserted == 0 {
            return Err(StoreError::GatewayExists(gateway.id.clone()));
        }
        Ok(())
    }

    async fn update_gateway(&self, gateway: &Gateway) -> Result<(), StoreError> {
        let record = gateway.clone();
        let updated = self.writer.run(move |c| rows::write_gateway(c, &record, false)).await?;
        if updated == 0 {
            return Err(StoreError::UnknownGateway(gateway.id.clone()));
        }
        Ok(())
    }

    async fn set_location(
        &self,
        gateway: &GatewayId,
        location: Option<SiteLocation>,
    ) -> Result<(), StoreError> {
        let id = gateway.as_str().to_owned();
        let updated = self
            .writer
            .run(move |c| {
                c.prepare_cached("UPDATE gateways SET latitude = ?2, longitude = ?3 WHERE id = ?1")
                    .map_err(backend)?
                    .execute(params![id, location.map(|l| l.latitude()), location.map(|l| l.longitude())])
                    .map_err(backend)
            })
            .await?;
        if updated == 0 {
            return Err(StoreError::UnknownGateway(gateway.clone()));
        }
        Ok(())
    }

    async fn set_alerting(&self, gateway: &GatewayId, alerting: &SiteAlerting) -> Result<(), StoreError> {
        let (id, alerting) = (gateway.as_str().to_owned(), *alerting);
        let updated = self
            .writer
            .run(move |c| {
                c.prepare_cached(
                    "UPDATE gateways SET offline_after_minutes = ?2, underperformance_percent = ?3,
                     maintenance_until = ?4 WHERE id = ?1",
                )
                .map_err(backend)?
                .execute(params![
                    id,
                    alerting.offline_after_minutes,
                    alerting.underperformance_percent,
                    alerting.maintenance_until.map(millis)
                ])
                .map_err(backend)
            })
            .await?;
        if updated == 0 {
            return Err(StoreError::UnknownGateway(gateway.clone()));
        }
        Ok(())
    }

    async fn gateway(&self, id: &GatewayId) -> Result<Option<Gateway>, StoreError> {
        let sql = format!("SELECT {} FROM gateways WHERE id = ?1", rows::GATEWAY_COLUMNS);
        let key = id.as_str().to_owned();
        self.read(move |c| {
            c.prepare_cached(&sql)
                .map_err(backend)?
                .query_row([key], rows::gateway_from_row)
                .optional()
                .map_err(backend)?
                .transpose()
        })
        .await
    }

    async fn gateways(&self) -> Result<Vec<Gateway>, StoreError> {
        let sql = format!("SELECT {} FROM gateways ORDER BY id", rows::GATEWAY_COLUMNS);
        self.query(sql, [], rows::gateway_from_row).await
    }

    async fn devices(&self, gateway: &GatewayId) -> Result<Vec<Device>, StoreError> {
        let sql = "SELECT gateway, id, kind, manufacturer, model, serial, last_seen FROM devices
                   WHERE gateway = ?1 ORDER BY id"
            .to_owned();
        self.query(sql, [gateway.as_str().to_owned()], rows::device_from_row).await
    }
}

#[async_trait]
impl ReadingsLog for EmbeddedTenant {
    async fn write_batch(&self, batch: WriteBatch) -> Result<(), StoreError> {
        self.writer
            .run(move |c| write::write_document(c, &batch, Vec::new(), TimeDelta::zero()).map(drop))
            .await
    }

    fn writer(self: Arc<Self>) -> Box<dyn BatchWriter> {
        Box::new(SessionWriter::new(self))
    }

    async fn readings(
        &self,
        gateway: &GatewayId,
        device: &DeviceId,
        range: Range<DateTime<Utc>>,
        limit_rows: usize,
    ) -> Result<Vec<Reading>, StoreError> {
        let sql = format!(
            "SELECT {} FROM readings WHERE gateway = ?1 AND device = ?2 AND ts >= ?3 AND ts < ?4
             ORDER BY ts LIMIT ?5",
            rows::READING_COLUMNS
        );
        let params = (
            gateway.as_str().to_owned(),
            device.as_str().to_owned(),
            millis(range.start),
            millis(range.end),
            limit(limit_rows),
        );
        self.query(sql, params, rows::reading_from_row).await
    }

    async fn quarantined(
        &self,
        range: Range<DateTime<Utc>>,
        limit_rows: usize,
    ) -> Result<Vec<QuarantinedReading>, StoreError> {
        let sql = "SELECT gateway, received_at, seq, device, ts, reason, content FROM quarantine
                   WHERE received_at >= ?1 AND received_at < ?2 ORDER BY received_at DESC, id DESC LIMIT ?3"
            .to_owned();
        let params = (millis(range.start), millis(range.end), limit(limit_rows));
        self.query(sql, params, rows::quarantined_from_row).await
    }

    async fn record_refused_gateway(&self, refusal: &RefusedGateway) -> Result<(), StoreError> {
        let refusal = refusal.clone();
        self.writer.run(move |c| rows::record_refusal(c, "gateway_refusals", &refusal)).await
    }

    async fn refused_gateways(&self, limit_rows: usize) -> Result<Vec<RefusedGateway>, StoreError> {
        let sql = rows::recent_refusals("gateway_refusals");
        self.query(sql, [limit(limit_rows), rows::refusals_kept_since()], rows::refused_from_row).await
    }
}

#[async_trait]
impl ReportCache for EmbeddedTenant {
    async fn hourly_rollups(
        &self,
        gateway: &GatewayId,
        device: &DeviceId,
        range: Range<DateTime<Utc>>,
    ) -> Result<Vec<HourlyRollup>, StoreError> {
        let params =
            (gateway.as_str().to_owned(), device.as_str().to_owned(), millis(range.start), millis(range.end));
        self.read(move |c| {
            let mut statement = c
                .prepare_cached(
                    "SELECT rollup FROM hourly_rollups WHERE gateway = ?1 AND device = ?2 AND hour >= ?3 AND hour < ?4
                     ORDER BY hour",
                )
                .map_err(backend)?;
            let mut rows = statement.query(params).map_err(backend)?;
            let mut rollups = Vec::new();
            while let Some(row) = rows.next().map_err(backend)? {
                // Packed rollups are BLOBs; rows from before them are JSON TEXT.
                let bytes = match row.get_ref(0).map_err(backend)? {
                    rusqlite::types::ValueRef::Blob(bytes) | rusqlite::types::ValueRef::Text(bytes) => bytes,
                    other => return Err(StoreError::Corrupt(format!("hourly rollup stored as {:?}", other.data_type()).into())),
                };
                rollups.push(HourlyRollup::from_bytes(bytes).map_err(|e| StoreError::Corrupt(crate::store::Failure::caused_by("a stored hourly rollup", e)))?);
            }
            Ok(rollups)
        })
        .await
    }

    async fn history_mark(&self, gateway: &GatewayId) -> Result<Option<HistoryMark>, StoreError> {
        let gateway = gateway.as_str().to_owned();
        // Every late write changes the mark in the transaction of its rollups: never settling.
        let value = self.read(move |c| summaries::mark(c, &gateway)).await?;
        Ok(value.map(|value| HistoryMark { value, settles_at: None }))
    }

    async fn first_rollup_hour(&self, gateway: &GatewayId) -> Result<Option<DateTime<Utc>>, StoreError> {
        let gateway = gateway.as_str().to_owned();
        let first: Option<i64> = self
            .read(move |c| {
                // A MIN over the gateway alone would read every rollup it has (the key leads
                // with gateway, device), on every page view; instead the index is probed twice
                // per device: its next device, then that device's first hour.
                let mut next_device = c
                    .prepare_cached(
                        "SELECT device FROM hourly_rollups WHERE gateway = ?1 AND device > ?2
                         ORDER BY device LIMIT 1",
                    )
                    .map_err(backend)?;
                let mut first_of = c
                    .prepare_cached("SELECT MIN(hour) FROM hourly_rollups WHERE gateway = ?1 AND device = ?2")
                    .map_err(backend)?;
                let (mut first, mut after): (Option<i64>, String) = (None, String::new());
                while let Some(device) = next_device
                    .query_row(params![gateway, after], |row| row.get::<_, String>(0))
                    .optional()
                    .map_err(backend)?
                {
                    let hour: Option<i64> =
                        first_of.query_row(params![gateway, device], |row| row.get(0)).map_err(backend)?;
                    first = match (first, hour) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    after = device;
                }
                Ok(first)
            })
            .await?;
        first.map(from_millis).transpose()
    }

    async fn day_summaries(
        &self,
        gateway: &GatewayId,
        zone: Tz,
        days: Range<NaiveDate>,
    ) -> Result<Vec<(DaySummary, i64)>, StoreError> {
        let gateway = gateway.as_str().to_owned();
        self.read(move |c| summaries::read(c, &gateway, zone, days)).await
    }

    async fn put_day_summaries(
        &self,
        gateway: &GatewayId,
        zone: Tz,
        basis: i64,
        days: &[DaySummary],
    ) -> Result<(), StoreError> {
        let (gateway, days) = (gateway.as_str().to_owned(), days.to_vec());
        self.writer.run(move |c| summaries::write(c, &gateway, zone, basis, &days)).await
    }
}

#[async_trait]
impl Accounts for EmbeddedTenant {
    async fn upsert_user(&self, user: &User) -> Result<(), StoreError> {
        let user = user.clone();
        self.writer
            .run(move |c| {
                c.prepare_cached(
                    "INSERT OR REPLACE INTO users (username, display_name, password, active, session_generation)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(backend)?
                .execute(params![
                    user.username.as_str(),
                    user.display_name,
                    user.password.as_str(),
                    user.active,
                    user.session_generation.value()
                ])
                .map_err(backend)?;
                Ok(())
            })
            .await
    }

    async fn user(&self, username: &Username) -> Result<Option<User>, StoreError> {
        let sql = "SELECT username, display_name, password, active, session_generation FROM users WHERE username = ?1"
            .to_owned();
        Ok(self.query(sql, [username.as_str().to_owned()], rows::user_from_row).await?.pop())
    }

    async fn users(&self) -> Result<Vec<User>, StoreError> {
        let sql = "SELECT username, display_name, password, active, session_generation FROM users ORDER BY username"
            .to_owned();
        self.query(sql, [], rows::user_from_row).await
    }

    async fn end_sessions(&self, username: &Username) -> Result<bool, StoreError> {
        let (username, generation) = (username.as_str().to_owned(), SessionGeneration::fresh().value());
        self.writer
            .run(move |c| {
                let changed = c
                    .prepare_cached("UPDATE users SET session_generation = ?1 WHERE username = ?2")
                    .map_err(backend)?
                    .execute(params![generation, username])
                    .map_err(backend)?;
                Ok(changed > 0)
            })
            .await
    }

    async fn add_api_token(&self, token: &ApiToken) -> Result<(), StoreError> {
        let token = token.clone();
        self.writer
            .run(move |c| {
                c.prepare_cached(
                    "INSERT OR REPLACE INTO api_tokens (hash, name, created_at) VALUES (?1, ?2, ?3)",
                )
                .map_err(backend)?
                .execute(params![token.hash.as_bytes().to_vec(), token.name, millis(token.created_at)])
                .map_err(backend)?;
                Ok(())
            })
            .await
    }

    async fn api_token(&self, hash: &TokenHash) -> Result<Option<ApiToken>, StoreError> {
        let sql = "SELECT hash, name, created_at FROM api_tokens WHERE hash = ?1".to_owned();
        Ok(self.query(sql, [hash.as_bytes().to_vec()], rows::api_token_from_row).await?.pop())
    }

    async fn api_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let sql = "SELECT hash, name, created_at FROM api_tokens ORDER BY created_at".to_owned();
        self.query(sql, [], rows::api_token_from_row).await
    }

    async fn revoke_api_token(&self, hash: &TokenHash) -> Result<(), StoreError> {
        let key = hash.as_bytes().to_vec();
        self.writer
            .run(move |c| {
                c.execute("DELETE FROM api_tokens WHERE hash = ?1", [key]).map_err(backend)?;
                Ok(())
            })
            .await
    }
}

#[async_trait]
impl MailLedger for EmbeddedTenant {
    async fn claim_delivery(&self, request: &ClaimRequest) -> Result<Claim, StoreError> {
        let request = request.clone();
        self.writer.run(move |c| mail::claim(c, &request)).await
    }

    async fn finish_delivery(
        &self,
        key: &DeliveryKey,
        owner: &ClaimOwner,
        outcome: &DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (key, owner, outcome) = (key.clone(), owner.clone(), outcome.clone());
        self.writer.run(move |c| mail::finish(c, &key, &owner, &outcome, now)).await
    }

    async fn delivery(&self, key: &DeliveryKey) -> Result<Option<Delivery>, StoreError> {
        let key = key.clone();
        self.read(move |c| mail::delivery(c, &key)).await
    }

    async fn deliveries_due(
        &self,
        now: DateTime<Utc>,
        limit_rows: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let limit_rows = limit(limit_rows);
        self.read(move |c| mail::due(c, now, limit_rows)).await
    }

    async fn mail_preferences(&self, customer: CustomerId) -> Result<MailPreferences, StoreError> {
        self.read(move |c| mail::mail_preferences(c, customer)).await
    }

    async fn set_mail_preferences(
        &self,
        customer: CustomerId,
        preferences: &MailPreferences,
    ) -> Result<(), StoreError> {
        let preferences = preferences.clone();
        self.writer.run(move |c| mail::set_mail_preferences(c, customer, &preferences)).await
    }
}

#[async_trait]
impl AlertLog for EmbeddedTenant {
    async fn open_alert(&self, alert: &Alert) -> Result<bool, StoreError> {
        let alert = alert.clone();
        self.writer.run(move |c| mail::open_alert(c, &alert)).await
    }

    async fn clear_alert(&self, alert: &Alert, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let id = alert.id;
        self.writer.run(move |c| mail::clear_alert(c, id, at)).await
    }

    async fn acknowledge_alert(
        &self,
        alert: &Alert,
        acknowledgement: &Acknowledgement,
    ) -> Result<bool, StoreError> {
        let (id, acknowledgement) = (alert.id, acknowledgement.clone());
        self.writer.run(move |c| mail::acknowledge_alert(c, id, &acknowledgement)).await
    }

    async fn open_alerts(&self) -> Result<Vec<Alert>, StoreError> {
        self.read(mail::open_alerts).await
    }

    async fn customer_alerts(
        &self,
        customer: CustomerId,
        range: Range<DateTime<Utc>>,
    ) -> Result<Vec<Alert>, StoreError> {
        self.read(move |c| mail::customer_alerts(c, customer, range)).await
    }

    async fn customers_with_pending_notices(&self) -> Result<Vec<CustomerId>, StoreError> {
        self.read(mail::customers_with_pending_notices).await
    }

    async fn take_alert_notices(&self, customer: CustomerId, topic: &str) -> Result<Vec<Alert>, StoreError> {
        let topic = topic.to_owned();
        self.writer.run(move |c| mail::take_alert_notices(c, customer, &topic)).await
    }
}

#[async_trait]
impl WritesInSession for EmbeddedTenant {
    async fn write_in(&self, batch: WriteBatch, session: &WriteSession) -> Result<(), StoreError> {
        // The carries are taken out here and put back only once the transaction is committed:
        // a failure leaves them out, as a job rolled back leaves nothing they describe.
        let devices: BTreeSet<(&GatewayId, &DeviceId)> =
            batch.readings.iter().map(|r| (&r.gateway, &r.device)).collect();
        let carries: Vec<_> = devices
            .into_iter()
            .filter_map(|(g, d)| session.take_carry(g, d).map(|carry| ((g.clone(), d.clone()), carry)))
            .collect();
        let kept = self.writer.run(move |c| write::write_document(c, &batch, carries, CARRY_AHEAD)).await?;
        for ((gateway, device), carry) in kept {
            session.keep_carry(gateway, device, carry);
        }
        Ok(())
    }
}
