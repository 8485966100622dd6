//! SQLite schemas, versioned: each database records the migrations applied to it.

use rusqlite::Connection;

use super::writer::backend;
use crate::store::StoreError;

/// Migrations of the registry database, in order.
const REGISTRY: &[&str] = &[
    "
    CREATE TABLE providers (
        slug TEXT PRIMARY KEY,
        settings TEXT NOT NULL
    );
    CREATE TABLE gateway_directory (
        gateway TEXT PRIMARY KEY,
        provider TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE unclaimed_gateways (
        gateway TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        last_address TEXT NOT NULL
    );
    CREATE INDEX unclaimed_gateways_by_last_seen ON unclaimed_gateways (last_seen);
",
    "
    CREATE TABLE operators (
        username TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        password TEXT NOT NULL,
        active INTEGER NOT NULL
    );
",
    // Refusals in a fixed set of slots (RefusedGateway::SLOTS): made-up ids cannot grow them.
    "
    DROP TABLE unclaimed_gateways;
    CREATE TABLE unclaimed_refusals (
        slot INTEGER PRIMARY KEY,
        gateway TEXT NOT NULL,
        reason TEXT NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        last_address TEXT NOT NULL,
        written_at INTEGER NOT NULL
    );
",
    "
    ALTER TABLE operators ADD COLUMN session_generation INTEGER NOT NULL DEFAULT 0;
",
];

/// Migrations of a provider database, in order.
const TENANT: &[&str] = &[
    "
    CREATE TABLE customers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        emails TEXT NOT NULL,
        timezone TEXT NOT NULL,
        active INTEGER NOT NULL
    );
    CREATE TABLE gateways (
        id TEXT PRIMARY KEY,
        customer TEXT,
        site_name TEXT NOT NULL,
        capacity_kwp REAL NOT NULL,
        token_hash BLOB NOT NULL,
        previous_token_hash BLOB,
        previous_token_until INTEGER,
        last_seen INTEGER,
        active INTEGER NOT NULL
    );
    CREATE TABLE devices (
        gateway TEXT NOT NULL,
        id TEXT NOT NULL,
        kind TEXT NOT NULL,
        manufacturer TEXT,
        model TEXT,
        serial TEXT,
        last_seen INTEGER,
        PRIMARY KEY (gateway, id)
    ) WITHOUT ROWID;
    CREATE TABLE readings (
        gateway TEXT NOT NULL,
        device TEXT NOT NULL,
        ts INTEGER NOT NULL,
        status TEXT,
        ac_power REAL, dc_power REAL, energy REAL, ac_voltage REAL, ac_current REAL,
        dc_voltage REAL, dc_current REAL, frequency REAL, temperature REAL, irradiance REAL,
        import_energy REAL, export_energy REAL,
        extra TEXT,
        PRIMARY KEY (gateway, device, ts)
    ) WITHOUT ROWID;
    CREATE TABLE quarantine (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        gateway TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        seq INTEGER,
        device TEXT NOT NULL,
        ts TEXT NOT NULL,
        reason TEXT NOT NULL,
        content TEXT NOT NULL
    );
    CREATE INDEX quarantine_by_received_at ON quarantine (received_at);
    CREATE TABLE refused_gateways (
        gateway TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        last_address TEXT NOT NULL
    );
",
    "
    CREATE TABLE users (
        username TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        password TEXT NOT NULL,
        active INTEGER NOT NULL
    );
    CREATE TABLE api_tokens (
        hash BLOB PRIMARY KEY,
        name TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
",
    "
    CREATE TABLE hourly_rollups (
        gateway TEXT NOT NULL,
        device TEXT NOT NULL,
        hour INTEGER NOT NULL,
        rollup TEXT NOT NULL,
        PRIMARY KEY (gateway, device, hour)
    ) WITHOUT ROWID;
",
    "
    CREATE TABLE deliveries (
        customer TEXT NOT NULL,
        topic TEXT NOT NULL,
        state TEXT NOT NULL,
        owner TEXT NOT NULL,
        lease_until INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        next_attempt_at INTEGER,
        last_error TEXT,
        updated_at INTEGER NOT NULL,
        sent_at INTEGER,
        PRIMARY KEY (customer, topic)
    ) WITHOUT ROWID;
    CREATE INDEX deliveries_by_state ON deliveries (state, next_attempt_at);
    CREATE TABLE alerts (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        gateway TEXT NOT NULL,
        device TEXT NOT NULL,
        customer TEXT,
        opened_at INTEGER NOT NULL,
        cleared_at INTEGER,
        detail TEXT NOT NULL,
        open_notice TEXT,
        clear_notice TEXT
    );
    CREATE UNIQUE INDEX alerts_one_open ON alerts (kind, gateway, device) WHERE cleared_at IS NULL;
    CREATE INDEX alerts_by_customer ON alerts (customer, opened_at);
    CREATE TABLE mail_preferences (
        customer TEXT PRIMARY KEY,
        schedule TEXT,
        unsubscribed_summaries INTEGER NOT NULL,
        unsubscribed_alerts INTEGER NOT NULL
    );
",
    "
    CREATE TABLE history_marks (
        gateway TEXT PRIMARY KEY,
        mark INTEGER NOT NULL
    );
    CREATE TABLE day_summaries (
        gateway TEXT NOT NULL,
        zone TEXT NOT NULL,
        day TEXT NOT NULL,
        basis INTEGER NOT NULL,
        summary BLOB NOT NULL,
        PRIMARY KEY (gateway, zone, day)
    ) WITHOUT ROWID;
",
    // Refusals in a fixed set of slots (RefusedGateway::SLOTS): made-up ids cannot grow them.
    "
    DROP TABLE refused_gateways;
    CREATE TABLE gateway_refusals (
        slot INTEGER PRIMARY KEY,
        gateway TEXT NOT NULL,
        reason TEXT NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        last_address TEXT NOT NULL,
        written_at INTEGER NOT NULL
    );
",
    "
    ALTER TABLE users ADD COLUMN session_generation INTEGER NOT NULL DEFAULT 0;
",
    // Where a site is, when known (its sunrise and sunset decide its daylight), its own alert
    // thresholds and maintenance window, and what an underperformance was measured against
    // (irradiance, peers, own history).
    "
    ALTER TABLE gateways ADD COLUMN latitude REAL;
    ALTER TABLE gateways ADD COLUMN longitude REAL;
    ALTER TABLE gateways ADD COLUMN offline_after_minutes INTEGER;
    ALTER TABLE gateways ADD COLUMN underperformance_percent INTEGER;
    ALTER TABLE gateways ADD COLUMN maintenance_until INTEGER;
    ALTER TABLE alerts ADD COLUMN basis TEXT;
    ALTER TABLE alerts ADD COLUMN ack_by TEXT;
    ALTER TABLE alerts ADD COLUMN ack_at INTEGER;
    ALTER TABLE alerts ADD COLUMN ack_note TEXT;
",
];

/// Which schema a database holds.
#[derive(Clone, Copy)]
pub(super) enum Schema {
    Registry,
    Tenant,
}

/// Sets durable pragmas and applies missing migrations.
pub(super) fn prepare(connection: &mut Connection, schema: Schema) -> Result<(), StoreError> {
    // WAL lets readers run beside the writer; synchronous=FULL syncs the WAL at every commit,
    // which is what makes a commit durable before the gateway is acknowledged.
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA busy_timeout = 10000;
             PRAGMA foreign_keys = ON;
             CREATE TABLE IF NOT EXISTS schema_migrations (
                 version INTEGER PRIMARY KEY,
                 applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
             );",
        )
        .map_err(backend)?;
    let migrations = match schema {
        Schema::Registry => REGISTRY,
        Schema::Tenant => TENANT,
    };
    let applied: i64 = connection
        .query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |row| row.get(0))
        .map_err(backend)?;
    for (index, sql) in migrations.iter().enumerate() {
        let version = i64::try_from(index + 1).unwrap_or(i64::MAX);
        if version <= applied {
            continue;
        }
        let transaction = connection.transaction().map_err(backend)?;
        transaction.execute_batch(sql).map_err(backend)?;
        transaction
            .execute("INSERT INTO schema_migrations (version) VALUES (?1)", [version])
            .map_err(backend)?;
        transaction.commit().map_err(backend)?;
    }
    Ok(())
}
