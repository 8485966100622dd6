//! Storage: narrow ports, each small enough that a test double is a few lines, and two real
//! backends that implement all of them.
//!
//! [`Store`] is the installation-wide registry ([`ProviderRegistry`], [`OperatorAccounts`],
//! [`UnclaimedGateways`]) and hands out [`TenantStore`] handles. A tenant handle is bound to one
//! provider's namespace (its SQLite database or its Cassandra keyspace) at construction and has no
//! way to name another, which is what keeps providers apart; it offers [`FleetDirectory`],
//! [`ReadingsLog`], [`ReportCache`], [`Accounts`], [`MailLedger`] and [`AlertLog`].

mod batch;
mod carry;
pub mod cassandra;
mod config;
pub mod embedded;
mod error;
mod refold;
mod session;

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::domain::{
    Acknowledgement, Alert, ApiToken, Claim, ClaimOwner, ClaimRequest, Customer, CustomerId, Delivery,
    DeliveryKey, DeliveryOutcome, Device, DeviceId, Gateway, GatewayId, MailPreferences, Provider,
    ProviderSlug, QuarantinedReading, Reading, RefusedGateway, SessionGeneration, SiteAlerting, SiteLocation,
    TokenHash, User, Username,
};
use crate::reports::HourlyRollup;
use crate::reports::daily::DaySummary;

pub use batch::WriteBatch;
pub use config::{CassandraSettings, ConsistencySetting, StoreSettings};
pub use error::{Failure, StoreError};
pub(crate) use session::{SessionWriter, WriteSession, WritesInSession};

/// The gateways whose summarised history a document's readings may change: those of readings
/// older than [`LATE_AFTER`](crate::reports::daily::LATE_AFTER) when they are written (not when
/// they were received: a document the spool replays after a long outage may be late by then).
pub(crate) fn late_gateways(batch: &WriteBatch) -> std::collections::BTreeSet<&GatewayId> {
    let horizon = Utc::now() - crate::reports::daily::LATE_AFTER;
    batch.readings.iter().filter(|r| r.ts < horizon).map(|r| &r.gateway).collect()
}

/// A new history mark: any value other than the last one will do.
pub(crate) fn new_history_mark() -> i64 {
    rand::random()
}

/// A gateway's history mark as read (see [`ReportCache::history_mark`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryMark {
    /// The mark: another value after each change.
    pub value: i64,
    /// Until when late readings may still be written under the mark without changing it: set
    /// by a [`BatchWriter`] that changes the mark before a run of late readings rather than after
    /// each document, [`MARK_LEASE`](crate::reports::daily::MARK_LEASE) after it did, by its
    /// clock. A change after late readings leaves it as it was, as another writer may still be
    /// writing under it.
    pub settles_at: Option<DateTime<Utc>>,
}

impl HistoryMark {
    /// Whether late readings may still be arriving under this mark without changing it. Day
    /// summaries must then be neither trusted nor stored.
    pub fn settling(&self, now: DateTime<Utc>) -> bool {
        self.settles_at.is_some_and(|at| now < at)
    }
}

/// Installation-wide storage: every registry port. Consumers that need less ask for less: the
/// spool's replay, say, only for [`ProviderRegistry`].
pub trait Store: ProviderRegistry + OperatorAccounts + UnclaimedGateways {}

impl<T: ProviderRegistry + OperatorAccounts + UnclaimedGateways> Store for T {}

/// One provider's data: every tenant port, bound at construction to that provider's namespace
/// and with no way to name another. Consumers that need less take the port they use.
pub trait TenantStore: FleetDirectory + ReadingsLog + ReportCache + Accounts + MailLedger + AlertLog {
    /// The provider this handle is bound to.
    fn provider(&self) -> &ProviderSlug;
}

/// One writer's documents, stored one after the other (an ingest connection's): what it
/// remembers between them is its own, so that no caller has to carry it.
#[async_trait]
pub trait BatchWriter: Send + Sync {
    /// Stores a document's outcome as [`ReadingsLog::write_batch`] does; after a failure the
    /// writer forgets what it remembered.
    async fn write(&self, batch: WriteBatch) -> Result<(), StoreError>;

    /// Forgets what it remembers: to be called when one of this writer's documents was stored
    /// another way (spooled, replayed), so that nothing is carried past it.
    fn forget(&self);
}

/// A provider's customers, gateways and devices: what the panel manages and reports name.
#[async_trait]
pub trait FleetDirectory: Send + Sync + 'static {
    /// Creates or replaces a customer.
    async fn upsert_customer(&self, customer: &Customer) -> Result<(), StoreError>;

    /// One customer.
    async fn customer(&self, id: CustomerId) -> Result<Option<Customer>, StoreError>;

    /// Every customer.
    async fn customers(&self) -> Result<Vec<Customer>, StoreError>;

    /// Adds a gateway, claiming its id in the installation-wide directory.
    /// Fails with [`StoreError::GatewayTaken`] if another provider owns the id.
    async fn create_gateway(&self, gateway: &Gateway) -> Result<(), StoreError>;

    /// Replaces an existing gateway's record (site, customer, token, active flag).
    async fn update_gateway(&self, gateway: &Gateway) -> Result<(), StoreError>;

    /// Sets an existing gateway's location alone, so that it cannot undo a token rotation or
    /// another change written meanwhile.
    async fn set_location(
        &self,
        gateway: &GatewayId,
        location: Option<SiteLocation>,
    ) -> Result<(), StoreError>;

    /// Sets an existing gateway's alert thresholds and maintenance window alone (see
    /// [`Self::set_location`]).
    async fn set_alerting(&self, gateway: &GatewayId, alerting: &SiteAlerting) -> Result<(), StoreError>;

    /// One gateway.
    async fn gateway(&self, id: &GatewayId) -> Result<Option<Gateway>, StoreError>;

    /// Every gateway.
    async fn gateways(&self) -> Result<Vec<Gateway>, StoreError>;

    /// The devices a gateway has reported.
    async fn devices(&self, gateway: &GatewayId) -> Result<Vec<Device>, StoreError>;
}

/// What gateways deliver: readings (and the writers ingest connections use), quarantined readings and refused gateways.
#[async_trait]
pub trait ReadingsLog: Send + Sync + 'static {
    /// Stores a document's outcome: readings (idempotently, keyed by gateway, device and
    /// timestamp), quarantined readings, device descriptions and the gateway's last-seen time.
    /// Returns only once everything is durable.
    async fn write_batch(&self, batch: WriteBatch) -> Result<(), StoreError>;

    /// A writer for one connection's documents, one after the other: it may remember what it
    /// stored to do less for the next document, with the same outcome as
    /// [`Self::write_batch`].
    fn writer(self: Arc<Self>) -> Box<dyn BatchWriter>;

    /// One device's readings with `range.start <= ts < range.end`, oldest first, at most `limit`.
    async fn readings(
        &self,
        gateway: &GatewayId,
        device: &DeviceId,
        range: Range<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<Reading>, StoreError>;

    /// Quarantined readings received in `range`, newest first, at most `limit`.
    async fn quarantined(
        &self,
        range: Range<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<QuarantinedReading>, StoreError>;

    /// Records a refused gateway (unknown id, wrong token, deactivated) for the provider to see.
    async fn record_refused_gateway(&self, refusal: &RefusedGateway) -> Result<(), StoreError>;

    /// Refused gateways, most recent first.
    async fn refused_gateways(&self, limit: usize) -> Result<Vec<RefusedGateway>, StoreError>;
}

/// What the store keeps for reports as readings arrive: hourly rollups, history marks and day summaries.
#[async_trait]
pub trait ReportCache: Send + Sync + 'static {
    /// One device's hourly rollups for the hours starting in `range`, in order. Kept by the
    /// store as readings are written, so that reports never fold raw readings themselves.
    async fn hourly_rollups(
        &self,
        gateway: &GatewayId,
        device: &DeviceId,
        range: Range<DateTime<Utc>>,
    ) -> Result<Vec<HourlyRollup>, StoreError>;

    /// The gateway's history mark: changed whenever readings older than
    /// [`LATE_AFTER`](crate::reports::daily::LATE_AFTER) are written for it, so that day
    /// summaries computed before can tell they are stale; none before the first such write.
    /// A plain write changes it after the readings' rollups; a [`BatchWriter`]
    /// may change it before them, once per half [`MARK_LEASE`](crate::reports::daily::MARK_LEASE),
    /// and then the mark says until when it covers readings still arriving
    /// ([`HistoryMark::settling`]).
    async fn history_mark(&self, gateway: &GatewayId) -> Result<Option<HistoryMark>, StoreError>;

    /// The hour of the gateway's first hourly rollup: reports take it for the site's
    /// commissioning (what came before is "not yet commissioned", not a zero); none before its
    /// first reading.
    async fn first_rollup_hour(&self, gateway: &GatewayId) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// The stored day summaries of a site read in `zone`, for the local dates in `days`, in
    /// order, each with the basis it was computed on.
    async fn day_summaries(
        &self,
        gateway: &GatewayId,
        zone: Tz,
        days: Range<NaiveDate>,
    ) -> Result<Vec<(DaySummary, i64)>, StoreError>;

    /// Stores day summaries of a site read in `zone`, computed on `basis`, replacing any for
    /// the same days.
    async fn put_day_summaries(
        &self,
        gateway: &GatewayId,
        zone: Tz,
        basis: i64,
        summaries: &[DaySummary],
    ) -> Result<(), StoreError>;
}

/// Panel users, their sessions, and API tokens.
#[async_trait]
pub trait Accounts: Send + Sync + 'static {
    /// Creates or replaces a panel user.
    async fn upsert_user(&self, user: &User) -> Result<(), StoreError>;

    /// One user.
    async fn user(&self, username: &Username) -> Result<Option<User>, StoreError>;

    /// Every user.
    async fn users(&self) -> Result<Vec<User>, StoreError>;

    /// Ends every session of a user by giving it a fresh [`SessionGeneration`], changing nothing
    /// else of the account (a concurrent deactivation is not undone); false when there is no
    /// such user. The backends write the generation alone; this default, for wrappers, rewrites
    /// the whole record.
    async fn end_sessions(&self, username: &Username) -> Result<bool, StoreError> {
        let Some(mut user) = self.user(username).await? else { return Ok(false) };
        user.session_generation = SessionGeneration::fresh();
        self.upsert_user(&user).await?;
        Ok(true)
    }

    /// Stores an API token's hash.
    async fn add_api_token(&self, token: &ApiToken) -> Result<(), StoreError>;

    /// Finds an API token by its hash.
    async fn api_token(&self, hash: &TokenHash) -> Result<Option<ApiToken>, StoreError>;

    /// Every API token.
    async fn api_tokens(&self) -> Result<Vec<ApiToken>, StoreError>;

    /// Removes an API token.
    async fn revoke_api_token(&self, hash: &TokenHash) -> Result<(), StoreError>;
}

/// The mailer's ledger: each delivery claimed before it is sent, its outcome, and customers' mail choices.
#[async_trait]
pub trait MailLedger: Send + Sync + 'static {
    /// Claims a mail delivery durably before it is sent (see [`Claim`]): a first claim inserts
    /// the key only if it does not exist; an expired lease, a due retry or `force` takes it over.
    async fn claim_delivery(&self, request: &ClaimRequest) -> Result<Claim, StoreError>;

    /// Records how the owner's attempt ended; false when the claim is no longer the owner's
    /// (its lease ran out and someone else took it over).
    async fn finish_delivery(
        &self,
        key: &DeliveryKey,
        owner: &ClaimOwner,
        outcome: &DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// One delivery.
    async fn delivery(&self, key: &DeliveryKey) -> Result<Option<Delivery>, StoreError>;

    /// Deliveries to retry at `now`: failed ones whose next attempt is due and claims whose
    /// lease has run out, oldest first, at most `limit`.
    async fn deliveries_due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Delivery>, StoreError>;

    /// A customer's mail choices (the defaults when never set).
    async fn mail_preferences(&self, customer: CustomerId) -> Result<MailPreferences, StoreError>;

    /// Replaces a customer's mail choices.
    async fn set_mail_preferences(
        &self,
        customer: CustomerId,
        preferences: &MailPreferences,
    ) -> Result<(), StoreError>;
}

/// Alerts opened and cleared per site and device, and which of them customers were told about.
#[async_trait]
pub trait AlertLog: Send + Sync + 'static {
    /// Opens an alert unless one of the same kind is already open for the same site and device;
    /// true when this call opened it.
    async fn open_alert(&self, alert: &Alert) -> Result<bool, StoreError>;

    /// Clears an open alert; true when this call cleared it.
    async fn clear_alert(&self, alert: &Alert, at: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Records who took an open alert on (replacing an earlier acknowledgement); true when the
    /// alert was still open.
    async fn acknowledge_alert(
        &self,
        alert: &Alert,
        acknowledgement: &Acknowledgement,
    ) -> Result<bool, StoreError>;

    /// Every open alert, oldest first.
    async fn open_alerts(&self) -> Result<Vec<Alert>, StoreError>;

    /// A customer's alerts open at any time in `range` (opened before its end, not cleared
    /// before its start), oldest first.
    async fn customer_alerts(
        &self,
        customer: CustomerId,
        range: Range<DateTime<Utc>>,
    ) -> Result<Vec<Alert>, StoreError>;

    /// Customers with alert openings or clearings that no notice has taken yet.
    async fn customers_with_pending_notices(&self) -> Result<Vec<CustomerId>, StoreError>;

    /// Assigns the customer's untaken openings and clearings to the notice `topic` and returns
    /// every alert that notice covers (also those assigned to it by an earlier attempt).
    async fn take_alert_notices(&self, customer: CustomerId, topic: &str) -> Result<Vec<Alert>, StoreError>;
}

/// The installation's providers and the gateway directory, and handles on each provider's namespace.
#[async_trait]
pub trait ProviderRegistry: Send + Sync + 'static {
    /// "embedded" or "cassandra", for logs and health pages.
    fn backend(&self) -> &'static str;

    /// Checks the store answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Registers a provider and creates its namespace (keyspace or database).
    async fn create_provider(&self, provider: &Provider) -> Result<(), StoreError>;

    /// Replaces a provider's settings (retention and replication changes are applied to its namespace).
    async fn update_provider(&self, provider: &Provider) -> Result<(), StoreError>;

    /// One provider.
    async fn provider(&self, slug: &ProviderSlug) -> Result<Option<Provider>, StoreError>;

    /// Every provider.
    async fn providers(&self) -> Result<Vec<Provider>, StoreError>;

    /// A handle on one provider's namespace.
    async fn tenant(&self, slug: &ProviderSlug) -> Result<Arc<dyn TenantStore>, StoreError>;

    /// Which provider a gateway id belongs to.
    async fn locate_gateway(&self, gateway: &GatewayId) -> Result<Option<ProviderSlug>, StoreError>;
}

/// Operator accounts (installation-wide: operators create providers and their first users; they see no provider's data).
#[async_trait]
pub trait OperatorAccounts: Send + Sync + 'static {
    /// Creates or replaces an operator account (installation-wide: operators create providers
    /// and their first users; they see no provider's data).
    async fn upsert_operator(&self, operator: &User) -> Result<(), StoreError>;

    /// One operator account.
    async fn operator(&self, username: &Username) -> Result<Option<User>, StoreError>;

    /// Ends every session of an operator by giving it a fresh [`SessionGeneration`], changing
    /// nothing else of the account; false when there is no such operator.
    async fn end_operator_sessions(&self, username: &Username) -> Result<bool, StoreError>;
}

/// Gateways refused on the shared port whose id no provider owns.
#[async_trait]
pub trait UnclaimedGateways: Send + Sync + 'static {
    /// Records a gateway refused on the shared port before any provider could be named.
    async fn record_unclaimed_gateway(&self, refusal: &RefusedGateway) -> Result<(), StoreError>;

    /// Gateways refused on the shared port whose id no provider owns, most recent first.
    async fn unclaimed_gateways(&self, limit: usize) -> Result<Vec<RefusedGateway>, StoreError>;
}

/// Opens the store the settings describe, migrating its schema.
pub async fn open(settings: &StoreSettings) -> Result<Arc<dyn Store>, StoreError> {
    match settings {
        StoreSettings::Embedded { data_dir } => Ok(Arc::new(embedded::EmbeddedStore::open(data_dir).await?)),
        StoreSettings::Cassandra(cassandra) => {
            Ok(Arc::new(cassandra::CassandraStore::connect(cassandra).await?))
        }
    }
}
