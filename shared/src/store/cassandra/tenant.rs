//! One provider's keyspace. The handle's statements are prepared against that keyspace alone,
//! so it has no way to read or write another provider's tables.

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use futures::{StreamExt, stream};
use scylla::client::session::Session;

use super::error::ResultExt;
use super::query::{self, Conditional};
use super::rows::{self, CustomerRow, DeviceRow, GatewayRow, QuarantineRow, ReadingRow};
use super::statements::TenantStatements;
use super::{Registry, accounts, keys, mail, refusals, rollups, summaries, write};
use crate::domain::{
    Acknowledgement, Alert, ApiToken, Claim, ClaimOwner, ClaimRequest, Customer, CustomerId, Delivery,
    DeliveryKey, DeliveryOutcome, Device, DeviceId, Gateway, GatewayId, MailPreferences, ProviderSlug,
    QuarantinedReading, Reading, RefusedGateway, SiteAlerting, SiteLocation, TokenHash, User, Username,
};
use crate::reports::HourlyRollup;
use crate::reports::daily::{DaySummary, MARK_LEASE};
use crate::store::carry::{CARRY_AHEAD, by_device};
use crate::store::{
    Accounts, AlertLog, BatchWriter, FleetDirectory, HistoryMark, MailLedger, ReadingsLog, ReportCache,
    SessionWriter, StoreError, TenantStore, WriteBatch, WriteSession, WritesInSession, late_gateways,
    new_history_mark,
};

/// Day partitions read concurrently, ahead of the one being consumed.
const READ_AHEAD_DAYS: usize = 8;

/// How far ahead of this server's clock another server's receipt times may be.
const RECEIPT_CLOCK_MARGIN: TimeDelta = TimeDelta::days(2);

/// A handle on one provider's keyspace.
pub struct CassandraTenant {
    slug: ProviderSlug,
    pub(super) statements: TenantStatements,
    registry: Arc<Registry>,
}

impl CassandraTenant {
    /// Changes the history mark of the gateways `batch` wrote late readings for; after their
    /// rollups, as a report that read the old mark may have read old rollups.
    async fn mark_late(&self, batch: &WriteBatch) -> Result<(), StoreError> {
        for gateway in late_gateways(batch) {
            summaries::set_mark(self.session(), &self.statements.summaries, gateway, new_history_mark())
                .await?;
        }
        Ok(())
    }

    pub(super) fn new(slug: ProviderSlug, statements: TenantStatements, registry: Arc<Registry>) -> Self {
        Self { slug, statements, registry }
    }

    pub(super) fn session(&self) -> &Session {
        &self.registry.session
    }

    /// Whether any reading of the device is stored in one of `ranges`: one row read at most
    /// per range, looked at in order until one is found.
    async fn holds_readings_in(
        &self,
        gateway: &GatewayId,
        device: &DeviceId,
        ranges: &[Range<DateTime<Utc>>],
    ) -> Result<bool, StoreError> {
        for range in ranges {
            if !self.readings(gateway, device, range.clone(), 1).await?.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn gateway_row(&self, id: &GatewayId) -> Result<Option<Gateway>, StoreError> {
        let row: Option<GatewayRow> =
            query::first_row(self.session(), &self.statements.gateway, (id.as_str(),)).await?;
        Ok(row.map(GatewayRow::into_gateway).transpose()?.flatten())
    }
}

/// A row limit as a CQL `LIMIT` value.
fn cql_limit(limit: usize) -> i32 {
    i32::try_from(limit).unwrap_or(i32::MAX)
}

impl TenantStore for CassandraTenant {
    fn provider(&self) -> &ProviderSlug {
        &self.slug
    }
}

#[async_trait]
impl FleetDirectory for CassandraTenant {
    async fn upsert_customer(&self, customer: &Customer) -> Result<(), StoreError> {
        let values = rows::customer_values(customer);
        self.session().execute_unpaged(&self.statements.upsert_customer, values).await.store()?;
        Ok(())
    }

    async fn customer(&self, id: CustomerId) -> Result<Option<Customer>, StoreError> {
        let row: Option<CustomerRow> =
            query::first_row(self.session(), &self.statements.customer, (id.0,)).await?;
        row.map(Customer::try_from).transpose()
    }

    async fn customers(&self) -> Result<Vec<Customer>, StoreError> {
        let rows: Vec<CustomerRow> = query::all_rows(self.session(), &self.statements.customers, ()).await?;
        let mut customers: Vec<Customer> = rows::convert(rows)?;
        customers.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        Ok(customers)
    }

    async fn create_gateway(&self, gateway: &Gateway) -> Result<(), StoreError> {
        let owner = self.registry.claim_gateway(&gateway.id, &self.slug).await?;
        if owner != self.slug {
            return Err(StoreError::GatewayTaken(gateway.id.clone()));
        }
        let values = rows::gateway_values(gateway);
        let answer = Conditional::execute(self.session(), &self.statements.insert_gateway, values).await?;
        if answer.applied() {
            return Ok(());
        }
        if answer.has("token_hash") {
            return Err(StoreError::GatewayExists(gateway.id.clone()));
        }
        // The row holds only a last-seen time (see `GatewayRow`): there is no gateway yet.
        self.session().execute_unpaged(&self.statements.replace_gateway, values).await.store()?;
        Ok(())
    }

    async fn update_gateway(&self, gateway: &Gateway) -> Result<(), StoreError> {
        if self.gateway_row(&gateway.id).await?.is_none() {
            return Err(StoreError::UnknownGateway(gateway.id.clone()));
        }
        let values = rows::gateway_values(gateway);
        self.session().execute_unpaged(&self.statements.replace_gateway, values).await.store()?;
        Ok(())
    }

    async fn set_location(
        &self,
        gateway: &GatewayId,
        location: Option<SiteLocation>,
    ) -> Result<(), StoreError> {
        if self.gateway_row(gateway).await?.is_none() {
            return Err(StoreError::UnknownGateway(gateway.clone()));
        }
        let values = (location.map(|l| l.latitude()), location.map(|l| l.longitude()), gateway.as_str());
        self.session().execute_unpaged(&self.statements.set_location, values).await.store()?;
        Ok(())
    }

    async fn set_alerting(&self, gateway: &GatewayId, alerting: &SiteAlerting) -> Result<(), StoreError> {
        if self.gateway_row(gateway).await?.is_none() {
            return Err(StoreError::UnknownGateway(gateway.clone()));
        }
        let values = (
            alerting.offline_after_minutes.map(|m| i32::try_from(m).unwrap_or(i32::MAX)),
            alerting.underperformance_percent.map(i32::from),
            alerting.maintenance_until,
            gateway.as_str(),
        );
        self.session().execute_unpaged(&self.statements.set_alerting, values).await.store()?;
        Ok(())
    }

    async fn gateway(&self, id: &GatewayId) -> Result<Option<Gateway>, StoreError> {
        self.gateway_row(id).await
    }

    async fn gateways(&self) -> Result<Vec<Gateway>, StoreError> {
        let rows: Vec<GatewayRow> = query::all_rows(self.session(), &self.statements.gateways, ()).await?;
        let mut gateways = Vec::with_capacity(rows.len());
        for row in rows {
            gateways.extend(row.into_gateway()?);
        }
        gateways.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(gateways)
    }

    async fn devices(&self, gateway: &GatewayId) -> Result<Vec<Device>, StoreError> {
        let rows: Vec<DeviceRow> =
            query::all_rows(self.session(), &self.statements.devices, (gateway.as_str(),)).await?;
        rows::convert(rows)
    }
}

#[async_trait]
impl ReadingsLog for CassandraTenant {
    async fn write_batch(&self, batch: WriteBatch) -> Result<(), StoreError> {
        write::write_batch(self.session(), &self.statements, &batch, true, &[]).await?;
        rollups::refresh(self, self.session(), &self.statements.rollups, &batch.readings, TimeDelta::zero())
            .await?;
        self.mark_late(&batch).await
    }

    fn writer(self: Arc<Self>) -> Box<dyn BatchWriter> {
        Box::new(SessionWriter::new(self))
    }

    async fn readings(
        &self,
        gateway: &GatewayId,
        device: &DeviceId,
        range: Range<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<Reading>, StoreError> {
        let mut readings = Vec::new();
        if limit == 0 {
            return Ok(readings);
        }
        let (gateway, device) = (gateway.as_str(), device.as_str());
        let mut days = stream::iter(keys::days(&range))
            .map(|day| {
                let values = (gateway, device, day, range.start, range.end, cql_limit(limit));
                query::all_rows::<ReadingRow>(self.session(), &self.statements.readings, values)
            })
            .buffered(READ_AHEAD_DAYS);
        while let Some(rows) = days.next().await {
            for row in rows? {
                readings.push(Reading::try_from(row)?);
                if readings.len() == limit {
                    return Ok(readings);
                }
            }
        }
        Ok(readings)
    }

    async fn quarantined(
        &self,
        range: Range<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<QuarantinedReading>, StoreError> {
        let mut quarantined = Vec::new();
        if limit == 0 {
            return Ok(quarantined);
        }
        // Receipt times come from servers' clocks, so no partition lies beyond today (give or take).
        let latest = keys::day(Utc::now() + RECEIPT_CLOCK_MARGIN);
        let days = keys::days(&range);
        let days = *days.start()..=(*days.end()).min(latest);
        let mut days = stream::iter(days.rev())
            .map(|day| {
                let values = (day, range.start, range.end, cql_limit(limit));
                query::all_rows::<QuarantineRow>(self.session(), &self.statements.quarantined, values)
            })
            .buffered(READ_AHEAD_DAYS);
        while let Some(rows) = days.next().await {
            for row in rows? {
                quarantined.push(QuarantinedReading::try_from(row)?);
                if quarantined.len() == limit {
                    return Ok(quarantined);
                }
            }
        }
        Ok(quarantined)
    }

    async fn record_refused_gateway(&self, refusal: &RefusedGateway) -> Result<(), StoreError> {
        refusals::record(self.session(), &self.statements.refused, refusal).await
    }

    async fn refused_gateways(&self, limit: usize) -> Result<Vec<RefusedGateway>, StoreError> {
        refusals::most_recent(self.session(), &self.statements.refused, limit).await
    }
}

#[async_trait]
impl ReportCache for CassandraTenant {
    async fn hourly_rollups(
        &self,
        gateway: &GatewayId,
        device: &DeviceId,
        range: Range<DateTime<Utc>>,
    ) -> Result<Vec<HourlyRollup>, StoreError> {
        rollups::read(self.session(), &self.statements.rollups, gateway, device, range).await
    }

    async fn history_mark(&self, gateway: &GatewayId) -> Result<Option<HistoryMark>, StoreError> {
        summaries::mark(self.session(), &self.statements.summaries, gateway).await
    }

    async fn first_rollup_hour(&self, gateway: &GatewayId) -> Result<Option<DateTime<Utc>>, StoreError> {
        rollups::first_hour(self.session(), &self.statements.rollups, gateway).await
    }

    async fn day_summaries(
        &self,
        gateway: &GatewayId,
        zone: Tz,
        days: Range<NaiveDate>,
    ) -> Result<Vec<(DaySummary, i64)>, StoreError> {
        summaries::read(self.session(), &self.statements.summaries, gateway, zone, days).await
    }

    async fn put_day_summaries(
        &self,
        gateway: &GatewayId,
        zone: Tz,
        basis: i64,
        days: &[DaySummary],
    ) -> Result<(), StoreError> {
        summaries::write(self.session(), &self.statements.summaries, gateway, zone, basis, days).await
    }
}

#[async_trait]
impl Accounts for CassandraTenant {
    async fn upsert_user(&self, user: &User) -> Result<(), StoreError> {
        accounts::upsert_user(self.session(), &self.statements.accounts, user).await
    }

    async fn user(&self, username: &Username) -> Result<Option<User>, StoreError> {
        accounts::user(self.session(), &self.statements.accounts, username).await
    }

    async fn users(&self) -> Result<Vec<User>, StoreError> {
        accounts::users(self.session(), &self.statements.accounts).await
    }

    async fn end_sessions(&self, username: &Username) -> Result<bool, StoreError> {
        accounts::end_user_sessions(self.session(), &self.statements.accounts, username).await
    }

    async fn add_api_token(&self, token: &ApiToken) -> Result<(), StoreError> {
        accounts::add_token(self.session(), &self.statements.accounts, token).await
    }

    async fn api_token(&self, hash: &TokenHash) -> Result<Option<ApiToken>, StoreError> {
        accounts::token(self.session(), &self.statements.accounts, hash).await
    }

    async fn api_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        accounts::tokens(self.session(), &self.statements.accounts).await
    }

    async fn revoke_api_token(&self, hash: &TokenHash) -> Result<(), StoreError> {
        accounts::revoke_token(self.session(), &self.statements.accounts, hash).await
    }
}

#[async_trait]
impl MailLedger for CassandraTenant {
    async fn claim_delivery(&self, request: &ClaimRequest) -> Result<Claim, StoreError> {
        mail::claim(self.session(), &self.statements.mail, request).await
    }

    async fn finish_delivery(
        &self,
        key: &DeliveryKey,
        owner: &ClaimOwner,
        outcome: &DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        mail::finish(self.session(), &self.statements.mail, key, owner, outcome, now).await
    }

    async fn delivery(&self, key: &DeliveryKey) -> Result<Option<Delivery>, StoreError> {
        mail::delivery(self.session(), &self.statements.mail, key).await
    }

    async fn deliveries_due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        mail::due(self.session(), &self.statements.mail, now, limit).await
    }

    async fn mail_preferences(&self, customer: CustomerId) -> Result<MailPreferences, StoreError> {
        mail::preferences(self.session(), &self.statements.mail, customer).await
    }

    async fn set_mail_preferences(
        &self,
        customer: CustomerId,
        preferences: &MailPreferences,
    ) -> Result<(), StoreError> {
        mail::set_preferences(self.session(), &self.statements.mail, customer, preferences).await
    }
}

#[async_trait]
impl AlertLog for CassandraTenant {
    async fn open_alert(&self, alert: &Alert) -> Result<bool, StoreError> {
        mail::open_alert(self.session(), &self.statements.mail, alert).await
    }

    async fn clear_alert(&self, alert: &Alert, at: DateTime<Utc>) -> Result<bool, StoreError> {
        mail::clear_alert(self.session(), &self.statements.mail, alert, at).await
    }

    async fn acknowledge_alert(
        &self,
        alert: &Alert,
        acknowledgement: &Acknowledgement,
    ) -> Result<bool, StoreError> {
        mail::acknowledge_alert(self.session(), &self.statements.mail, alert, acknowledgement).await
    }

    async fn open_alerts(&self) -> Result<Vec<Alert>, StoreError> {
        mail::open_alerts(self.session(), &self.statements.mail).await
    }

    async fn customer_alerts(
        &self,
        customer: CustomerId,
        range: Range<DateTime<Utc>>,
    ) -> Result<Vec<Alert>, StoreError> {
        mail::customer_alerts(self.session(), &self.statements.mail, customer, range).await
    }

    async fn customers_with_pending_notices(&self) -> Result<Vec<CustomerId>, StoreError> {
        mail::customers_with_pending_notices(self.session(), &self.statements.mail).await
    }

    async fn take_alert_notices(&self, customer: CustomerId, topic: &str) -> Result<Vec<Alert>, StoreError> {
        mail::take_alert_notices(self.session(), &self.statements.mail, customer, topic).await
    }
}

#[async_trait]
impl WritesInSession for CassandraTenant {
    async fn write_in(&self, batch: WriteBatch, session: &WriteSession) -> Result<(), StoreError> {
        // Late readings: the history mark is changed before them, and again only once the
        // session's last change is half a lease old (see `reports::daily`), instead of after
        // every document.
        let sent = std::time::Instant::now();
        let settles_at = Utc::now() + MARK_LEASE;
        let marking: Vec<GatewayId> =
            late_gateways(&batch).into_iter().filter(|g| session.mark_due(g)).cloned().collect();
        for gateway in &marking {
            let mark = new_history_mark();
            summaries::set_settling_mark(
                self.session(),
                &self.statements.summaries,
                gateway,
                mark,
                settles_at,
            )
            .await?;
        }
        // Each device's readings are folded on from the writer's carry when they continue it
        // (the store checked to hold nothing in their way), else folded from the store after
        // the write, which seeds the carry again. A failure leaves the taken carries behind.
        let (mut carried, mut folded, mut cold) = (Vec::new(), Vec::new(), Vec::new());
        for ((gateway, device), readings) in by_device(&batch.readings) {
            let Some(mut carry) = session.take_carry(&gateway, &device).filter(|c| c.continues(&readings))
            else {
                cold.push(readings);
                continue;
            };
            // Readings another writer stored in the gap before them or ahead of them belong in
            // the fold.
            let probes = carry.probes(&readings, CARRY_AHEAD);
            if self.holds_readings_in(&gateway, &device, &probes).await? {
                cold.push(readings);
                continue;
            }
            carry.found_empty(&probes);
            folded.extend(carry.advance(&readings));
            carried.push(((gateway, device), carry));
        }
        let touch = session.touch_due(&batch.gateway);
        write::write_batch(self.session(), &self.statements, &batch, touch, &folded).await?;
        if touch {
            session.touched(&batch.gateway);
        }
        for readings in &cold {
            let seeded =
                rollups::refresh(self, self.session(), &self.statements.rollups, readings, CARRY_AHEAD)
                    .await?;
            carried.extend(seeded);
        }
        for gateway in &marking {
            session.marked(gateway, sent);
        }
        for ((gateway, device), carry) in carried {
            session.keep_carry(gateway, device, carry);
        }
        Ok(())
    }
}
