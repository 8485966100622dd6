//! Every statement the backend runs, prepared once: the registry's when the store connects, a
//! provider's when its tenant handle is opened. Table names are qualified with a
//! [`KeyspaceName`]; every value is a bind marker.

use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;

use super::accounts::{AccountStatements, USER_COLUMNS};
use super::mail::MailStatements;
use super::query::{prepare, prepare_conditional};
use super::rollups::RollupStatements;
use super::rows::{GATEWAY_COLUMNS, READING_COLUMNS};
use super::summaries::SummaryStatements;
use crate::store::StoreError;
use crate::store::cassandra::KeyspaceName;

/// Statements of a refusal table (`unclaimed_gateways` in the registry, `refused_gateways` in
/// a provider's keyspace), which count attempts with compare-and-set.
pub(super) struct RefusalStatements {
    /// A refusal into an empty slot: `INSERT ... IF NOT EXISTS`.
    pub(super) insert: PreparedStatement,
    /// A refusal over what a slot holds: `UPDATE ... IF gateway = ? AND attempts = ? AND ...`.
    pub(super) replace: PreparedStatement,
    /// Every row (at most the slots).
    pub(super) all: PreparedStatement,
}

impl RefusalStatements {
    async fn prepare(
        session: &Session,
        keyspace: &KeyspaceName,
        table: &'static str,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            insert: prepare_conditional(
                session,
                format!(
                    "INSERT INTO {keyspace}.{table} (slot, gateway, reason, first_seen, last_seen, attempts, last_address)
                     VALUES (?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS"
                ),
            )
            .await?,
            replace: prepare_conditional(
                session,
                format!(
                    "UPDATE {keyspace}.{table} SET gateway = ?, reason = ?, first_seen = ?, last_seen = ?,
                     attempts = ?, last_address = ?
                     WHERE slot = ? IF gateway = ? AND attempts = ? AND first_seen = ? AND last_seen = ?"
                ),
            )
            .await?,
            all: prepare(
                session,
                format!(
                    "SELECT gateway, reason, first_seen, last_seen, attempts, last_address FROM {keyspace}.{table}"
                ),
            )
            .await?,
        })
    }
}

/// The registry keyspace's statements.
pub(super) struct RegistryStatements {
    /// `SELECT release_version FROM system.local`.
    pub(super) ping: PreparedStatement,
    /// Registers a provider: `IF NOT EXISTS`.
    pub(super) insert_provider: PreparedStatement,
    /// Replaces a provider's settings: `IF EXISTS`.
    pub(super) update_provider: PreparedStatement,
    /// One provider's settings.
    pub(super) provider: PreparedStatement,
    /// Every provider's settings.
    pub(super) providers: PreparedStatement,
    /// Claims a gateway id for a provider: `IF NOT EXISTS`.
    pub(super) claim_gateway: PreparedStatement,
    /// The provider owning a gateway id.
    pub(super) locate_gateway: PreparedStatement,
    /// Gateways refused on the shared port.
    pub(super) unclaimed: RefusalStatements,
    /// Inserts or replaces an operator account.
    pub(super) upsert_operator: PreparedStatement,
    /// One operator account.
    pub(super) operator: PreparedStatement,
    /// Gives an operator a fresh session generation: `IF EXISTS`.
    pub(super) end_operator_sessions: PreparedStatement,
}

impl RegistryStatements {
    /// Prepares the registry's statements (its tables must exist).
    pub(super) async fn prepare(session: &Session, ks: &KeyspaceName) -> Result<Self, StoreError> {
        Ok(Self {
            ping: prepare(session, "SELECT release_version FROM system.local".to_owned()).await?,
            insert_provider: prepare_conditional(
                session,
                format!("INSERT INTO {ks}.providers (slug, settings) VALUES (?, ?) IF NOT EXISTS"),
            )
            .await?,
            update_provider: prepare_conditional(
                session,
                format!("UPDATE {ks}.providers SET settings = ? WHERE slug = ? IF EXISTS"),
            )
            .await?,
            provider: prepare(session, format!("SELECT settings FROM {ks}.providers WHERE slug = ?")).await?,
            providers: prepare(session, format!("SELECT settings FROM {ks}.providers")).await?,
            claim_gateway: prepare_conditional(
                session,
                format!("INSERT INTO {ks}.gateway_directory (gateway, provider) VALUES (?, ?) IF NOT EXISTS"),
            )
            .await?,
            locate_gateway: prepare(
                session,
                format!("SELECT provider FROM {ks}.gateway_directory WHERE gateway = ?"),
            )
            .await?,
            unclaimed: RefusalStatements::prepare(session, ks, "unclaimed_refusals").await?,
            upsert_operator: prepare(
                session,
                format!("INSERT INTO {ks}.operators ({USER_COLUMNS}) VALUES (?, ?, ?, ?, ?)"),
            )
            .await?,
            operator: prepare(
                session,
                format!("SELECT {USER_COLUMNS} FROM {ks}.operators WHERE username = ?"),
            )
            .await?,
            end_operator_sessions: prepare_conditional(
                session,
                format!("UPDATE {ks}.operators SET session_generation = ? WHERE username = ? IF EXISTS"),
            )
            .await?,
        })
    }
}

/// One provider keyspace's statements.
pub(super) struct TenantStatements {
    /// Inserts or replaces a customer.
    pub(super) upsert_customer: PreparedStatement,
    /// One customer.
    pub(super) customer: PreparedStatement,
    /// Every customer.
    pub(super) customers: PreparedStatement,
    /// Adds a gateway row: `IF NOT EXISTS`.
    pub(super) insert_gateway: PreparedStatement,
    /// Replaces a gateway row.
    pub(super) replace_gateway: PreparedStatement,
    /// One gateway row.
    pub(super) gateway: PreparedStatement,
    /// Every gateway row.
    pub(super) gateways: PreparedStatement,
    pub(super) set_location: PreparedStatement,
    pub(super) set_alerting: PreparedStatement,
    /// Sets a gateway's last-seen time.
    pub(super) touch_gateway: PreparedStatement,
    /// Inserts or updates a device, leaving unset details as they were.
    pub(super) upsert_device: PreparedStatement,
    /// A gateway's devices, by id.
    pub(super) devices: PreparedStatement,
    /// Upserts a reading into its day partition.
    pub(super) upsert_reading: PreparedStatement,
    /// One day partition's readings in a time range, oldest first.
    pub(super) readings: PreparedStatement,
    /// Adds a quarantined reading to its day partition.
    pub(super) insert_quarantined: PreparedStatement,
    /// One day partition's quarantined readings in a time range, newest first.
    pub(super) quarantined: PreparedStatement,
    /// Gateways refused at this provider.
    pub(super) refused: RefusalStatements,
    /// The mailer's deliveries, alerts and preferences.
    pub(super) mail: MailStatements,
    /// Panel users and API tokens.
    pub(super) accounts: AccountStatements,
    /// Hourly rollups.
    pub(super) rollups: RollupStatements,
    /// Day summaries and history marks.
    pub(super) summaries: SummaryStatements,
}

impl TenantStatements {
    /// Prepares a provider's statements (its tables must exist).
    pub(super) async fn prepare(session: &Session, ks: &KeyspaceName) -> Result<Self, StoreError> {
        let gateway_insert = format!(
            "INSERT INTO {ks}.gateways (id, customer, site_name, capacity_kwp, token_hash, previous_token_hash,
                previous_token_until, last_seen, active, latitude, longitude, offline_after_minutes,
                underperformance_percent, maintenance_until)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        );
        Ok(Self {
            upsert_customer: prepare(
                session,
                format!(
                    "INSERT INTO {ks}.customers (id, name, emails, timezone, active) VALUES (?, ?, ?, ?, ?)"
                ),
            )
            .await?,
            customer: prepare(
                session,
                format!("SELECT id, name, emails, timezone, active FROM {ks}.customers WHERE id = ?"),
            )
            .await?,
            customers: prepare(
                session,
                format!("SELECT id, name, emails, timezone, active FROM {ks}.customers"),
            )
            .await?,
            insert_gateway: prepare_conditional(session, format!("{gateway_insert} IF NOT EXISTS")).await?,
            replace_gateway: prepare(session, gateway_insert).await?,
            gateway: prepare(session, format!("SELECT {GATEWAY_COLUMNS} FROM {ks}.gateways WHERE id = ?"))
                .await?,
            gateways: prepare(session, format!("SELECT {GATEWAY_COLUMNS} FROM {ks}.gateways")).await?,
            set_location: prepare(
                session,
                format!("UPDATE {ks}.gateways SET latitude = ?, longitude = ? WHERE id = ?"),
            )
            .await?,
            set_alerting: prepare(
                session,
                format!(
                    "UPDATE {ks}.gateways SET offline_after_minutes = ?, underperformance_percent = ?,
                     maintenance_until = ? WHERE id = ?"
                ),
            )
            .await?,
            touch_gateway: prepare(session, format!("UPDATE {ks}.gateways SET last_seen = ? WHERE id = ?"))
                .await?,
            upsert_device: prepare(
                session,
                format!(
                    "INSERT INTO {ks}.devices (gateway, id, kind, manufacturer, model, serial, last_seen)
                     VALUES (?, ?, ?, ?, ?, ?, ?)"
                ),
            )
            .await?,
            devices: prepare(
                session,
                format!(
                    "SELECT gateway, id, kind, manufacturer, model, serial, last_seen FROM {ks}.devices
                     WHERE gateway = ?"
                ),
            )
            .await?,
            upsert_reading: prepare(session, upsert_reading(ks)).await?,
            readings: prepare(
                session,
                format!(
                    "SELECT {READING_COLUMNS} FROM {ks}.readings
                     WHERE gateway = ? AND device = ? AND day = ? AND ts >= ? AND ts < ? LIMIT ?"
                ),
            )
            .await?,
            insert_quarantined: prepare(
                session,
                format!(
                    "INSERT INTO {ks}.quarantine (day, received_at, gateway, seq, device, ts, reason, content)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                ),
            )
            .await?,
            quarantined: prepare(
                session,
                format!(
                    "SELECT toTimestamp(received_at) AS received_at, gateway, seq, device, ts, reason, content
                     FROM {ks}.quarantine
                     WHERE day = ? AND received_at >= minTimeuuid(?) AND received_at < minTimeuuid(?) LIMIT ?"
                ),
            )
            .await?,
            refused: RefusalStatements::prepare(session, ks, "gateway_refusals").await?,
            mail: MailStatements::prepare(session, ks).await?,
            accounts: AccountStatements::prepare(session, ks).await?,
            rollups: RollupStatements::prepare(session, ks).await?,
            summaries: SummaryStatements::prepare(session, ks).await?,
        })
    }
}

/// The statement that stores one reading (bound with [`super::rows::ReadingValues`]).
pub(super) fn upsert_reading(ks: &KeyspaceName) -> String {
    format!(
        "UPDATE {ks}.readings SET status = ?, ac_power = ?, dc_power = ?, energy = ?, ac_voltage = ?,
            ac_current = ?, dc_voltage = ?, dc_current = ?, frequency = ?, temperature = ?,
            irradiance = ?, import_energy = ?, export_energy = ?, extra = extra + ?
         WHERE gateway = ? AND device = ? AND day = ? AND ts = ?"
    )
}
