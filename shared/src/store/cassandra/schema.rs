//! Keyspaces and their versioned schema. Migrations are `.cql` files under `migrations/`,
//! applied in order and recorded per keyspace in the registry's `schema_migrations`. Keyspace
//! names (always [`KeyspaceName`]s) and the retention TTL are the only values ever formatted
//! into CQL text.

use std::time::Duration;

use chrono::Utc;
use scylla::client::session::Session;
use scylla::errors::{ExecutionError, SchemaAgreementError};
use scylla::statement::Statement;
use scylla::statement::prepared::PreparedStatement;

use super::error::ResultExt;
use super::query;
use crate::domain::{Provider, Replication};
use crate::store::StoreError;
use crate::store::cassandra::KeyspaceName;

/// One schema version: CQL statements separated by `;`, with `{keyspace}` and `{ttl}`
/// placeholders.
pub(super) struct Migration {
    version: i32,
    cql: &'static str,
}

/// The registry keyspace's migrations, in order.
pub(super) const REGISTRY: &[Migration] = &[
    Migration { version: 1, cql: include_str!("migrations/registry_001.cql") },
    Migration { version: 2, cql: include_str!("migrations/registry_002.cql") },
    Migration { version: 3, cql: include_str!("migrations/registry_003.cql") },
    Migration { version: 4, cql: include_str!("migrations/registry_004.cql") },
];

/// A provider keyspace's migrations, in order.
pub(super) const TENANT: &[Migration] = &[
    Migration { version: 1, cql: include_str!("migrations/tenant_001.cql") },
    Migration { version: 2, cql: include_str!("migrations/tenant_002.cql") },
    Migration { version: 3, cql: include_str!("migrations/tenant_003.cql") },
    Migration { version: 4, cql: include_str!("migrations/tenant_004.cql") },
    Migration { version: 5, cql: include_str!("migrations/tenant_005.cql") },
    Migration { version: 6, cql: include_str!("migrations/tenant_006.cql") },
    Migration { version: 7, cql: include_str!("migrations/tenant_007.cql") },
    Migration { version: 8, cql: include_str!("migrations/tenant_008.cql") },
    Migration { version: 9, cql: include_str!("migrations/tenant_009.cql") },
    Migration { version: 10, cql: include_str!("migrations/tenant_010.cql") },
];

/// How long the coordinator may take to apply one schema change; the driver's wait for every
/// node to agree on it follows (`connect::SCHEMA_AGREEMENT_TIMEOUT`).
const DDL_TIMEOUT: Duration = Duration::from_secs(120);

/// Cassandra's longest time to live (20 years); longer retentions keep rows that long.
const MAX_TTL_SECONDS: i32 = 630_720_000;

/// The tables whose rows expire with the provider's retention.
const EXPIRING_TABLES: [&str; 4] = ["readings", "quarantine", "hourly_rollups", "day_summaries"];

/// A provider's retention as the `default_time_to_live` of its expiring tables.
pub(super) fn ttl(provider: &Provider) -> i32 {
    provider.retention_ttl_seconds().clamp(0, MAX_TTL_SECONDS)
}

/// Runs one schema statement, waiting for schema agreement.
async fn ddl(session: &Session, cql: String) -> Result<(), StoreError> {
    let mut statement = Statement::new(cql.clone());
    statement.set_request_timeout(Some(DDL_TIMEOUT));
    // Every statement here is `IF NOT EXISTS` or sets absolute values: safe to retry.
    statement.set_is_idempotent(true);
    match session.query_unpaged(statement, ()).await {
        Ok(_) => Ok(()),
        Err(ExecutionError::SchemaAgreementError(SchemaAgreementError::Timeout(waited))) => {
            Err(disagreement(&cql, waited))
        }
        Err(error) => Err(error).store(),
    }
}

/// The error for a schema change the nodes did not all take within `waited`: the change was
/// made, some node has not caught up, and the operator needs to know which step to look at.
fn disagreement(cql: &str, waited: Duration) -> StoreError {
    let first_line = cql.lines().next().unwrap_or_default().trim();
    StoreError::Unavailable(
        format!(
            "cassandra: the nodes did not all agree on the schema within {} s after `{first_line}`: a \
         node is behind (one just restarted, or whose schema merge failed; `nodetool \
         describecluster` shows which, `nodetool resetlocalschema` on it re-reads the schema from \
         its peers); the command is safe to run again",
            waited.as_secs()
        )
        .into(),
    )
}

/// Creates a keyspace unless it exists.
pub(super) async fn create_keyspace(
    session: &Session,
    keyspace: &KeyspaceName,
    replication: &Replication,
) -> Result<(), StoreError> {
    let replication = replication.to_cql()?;
    ddl(session, format!("CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {replication}")).await
}

/// Applies a provider's replication to its existing keyspace.
pub(super) async fn alter_replication(session: &Session, provider: &Provider) -> Result<(), StoreError> {
    let keyspace = KeyspaceName::of_provider(&provider.slug);
    let replication = provider.replication.to_cql()?;
    ddl(session, format!("ALTER KEYSPACE {keyspace} WITH replication = {replication}")).await
}

/// Applies a provider's retention to its expiring tables. It applies to rows written from now
/// on; rows already written keep the time to live they were written with.
pub(super) async fn alter_retention(session: &Session, provider: &Provider) -> Result<(), StoreError> {
    let keyspace = KeyspaceName::of_provider(&provider.slug);
    let ttl = ttl(provider);
    for table in EXPIRING_TABLES {
        ddl(session, format!("ALTER TABLE {keyspace}.{table} WITH default_time_to_live = {ttl}")).await?;
    }
    Ok(())
}

/// The statements of a migration with its placeholders filled in, comments removed.
fn render(cql: &str, keyspace: &KeyspaceName, ttl: i32) -> Vec<String> {
    let text: String =
        cql.lines().filter(|line| !line.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
    text.split(';')
        .map(str::trim)
        .filter(|statement| !statement.is_empty())
        .map(|statement| {
            statement.replace("{keyspace}", keyspace.as_str()).replace("{ttl}", &ttl.to_string())
        })
        .collect()
}

/// Applies missing migrations and records them in the registry.
pub(super) struct Migrator {
    applied: PreparedStatement,
    record: PreparedStatement,
}

impl Migrator {
    /// Creates the registry keyspace and its `schema_migrations` table if missing, then prepares
    /// the statements that read and record applied versions.
    pub(super) async fn bootstrap(
        session: &Session,
        registry: &KeyspaceName,
        replication: &Replication,
    ) -> Result<Self, StoreError> {
        create_keyspace(session, registry, replication).await?;
        ddl(
            session,
            format!(
                "CREATE TABLE IF NOT EXISTS {registry}.schema_migrations (
                    keyspace_name text,
                    version int,
                    applied_at timestamp,
                    PRIMARY KEY (keyspace_name, version)
                )"
            ),
        )
        .await?;
        Ok(Self {
            applied: query::prepare(
                session,
                format!("SELECT version FROM {registry}.schema_migrations WHERE keyspace_name = ?"),
            )
            .await?,
            record: query::prepare(
                session,
                format!(
                    "INSERT INTO {registry}.schema_migrations (keyspace_name, version, applied_at)
                     VALUES (?, ?, ?)"
                ),
            )
            .await?,
        })
    }

    /// The migrations not yet recorded for `keyspace`.
    async fn pending<'m>(
        &self,
        session: &Session,
        keyspace: &KeyspaceName,
        migrations: &'m [Migration],
    ) -> Result<Vec<&'m Migration>, StoreError> {
        let applied: Vec<(i32,)> = query::all_rows(session, &self.applied, (keyspace.as_str(),)).await?;
        Ok(migrations.iter().filter(|m| !applied.iter().any(|(v,)| *v == m.version)).collect())
    }

    /// Applies `pending` to `keyspace` in order, recording each version once all its statements
    /// succeeded. The statements are `IF NOT EXISTS`, so an interrupted migration is re-run.
    async fn apply(
        &self,
        session: &Session,
        keyspace: &KeyspaceName,
        pending: &[&Migration],
        ttl: i32,
    ) -> Result<(), StoreError> {
        for migration in pending {
            for statement in render(migration.cql, keyspace, ttl) {
                ddl(session, statement).await?;
            }
            session
                .execute_unpaged(&self.record, (keyspace.as_str(), migration.version, Utc::now()))
                .await
                .store()?;
            tracing::info!(keyspace = %keyspace, version = migration.version, "applied schema migration");
        }
        Ok(())
    }

    /// Brings the registry keyspace's tables up to date.
    pub(super) async fn migrate_registry(
        &self,
        session: &Session,
        registry: &KeyspaceName,
    ) -> Result<(), StoreError> {
        let pending = self.pending(session, registry, REGISTRY).await?;
        self.apply(session, registry, &pending, 0).await
    }

    /// Creates a provider's keyspace if needed and brings its tables up to date. Costs one read
    /// when nothing is missing.
    pub(super) async fn migrate_tenant(
        &self,
        session: &Session,
        provider: &Provider,
    ) -> Result<(), StoreError> {
        let keyspace = KeyspaceName::of_provider(&provider.slug);
        let pending = self.pending(session, &keyspace, TENANT).await?;
        if pending.is_empty() {
            return Ok(());
        }
        create_keyspace(session, &keyspace, &provider.replication).await?;
        self.apply(session, &keyspace, &pending, ttl(provider)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ProviderSlug;

    #[test]
    fn a_schema_change_the_nodes_do_not_agree_on_names_the_statement_and_the_remedy() {
        let cql = "CREATE TABLE IF NOT EXISTS hg_acme.readings (\n    gateway_id text\n)";
        let error = disagreement(cql, Duration::from_secs(120));
        let StoreError::Unavailable(failure) = &error else { panic!("{error:?}") };
        let message = failure.to_string();
        assert!(
            message.contains("within 120 s after `CREATE TABLE IF NOT EXISTS hg_acme.readings (`"),
            "{message}"
        );
        assert!(
            message.contains("nodetool describecluster") && message.contains("safe to run again"),
            "{message}"
        );
    }

    #[test]
    fn migrations_are_numbered_in_order_from_one() {
        for migrations in [REGISTRY, TENANT] {
            for (index, migration) in migrations.iter().enumerate() {
                assert_eq!(usize::try_from(migration.version).ok(), Some(index + 1));
            }
        }
    }

    #[test]
    fn rendering_fills_the_keyspace_and_ttl_and_drops_comments() {
        let keyspace = KeyspaceName::of_provider(&ProviderSlug::parse("acme").expect("valid slug"));
        let statements = render(TENANT[0].cql, &keyspace, 3600);
        assert_eq!(statements.len(), 6);
        for statement in &statements {
            assert!(statement.starts_with("CREATE TABLE IF NOT EXISTS hg_acme."), "{statement}");
            assert!(!statement.contains("{keyspace}") && !statement.contains("{ttl}"), "{statement}");
            assert!(!statement.contains("--"), "{statement}");
        }
        assert!(statements.iter().any(|s| s.contains("default_time_to_live = 3600")));
        assert!(statements.iter().any(|s| s.contains("'compaction_window_unit': 'DAYS'")));
    }

    #[test]
    fn retention_beyond_cassandras_longest_ttl_is_clamped() {
        let mut provider = Provider::new(ProviderSlug::parse("acme").expect("valid slug"), "Acme");
        provider.retention_days = 0;
        assert_eq!(ttl(&provider), 0);
        provider.retention_days = 730;
        assert_eq!(ttl(&provider), 730 * 86_400);
        provider.retention_days = 100_000;
        assert_eq!(ttl(&provider), MAX_TTL_SECONDS);
    }
}
