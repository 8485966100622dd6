//! The Cassandra backend: a registry keyspace for the installation (providers, the gateway
//! directory, refusals on the shared port, schema versions) and one keyspace per provider,
//! named only from its [`ProviderSlug`], so one provider's rows live in tables no other
//! provider's handle has statements for.
//!
//! Statements are prepared once (the registry's on connect, a provider's when its handle is
//! first opened) and every value is bound; keyspace names and the retention TTL are the only
//! text formatted into CQL.

mod accounts;
#[cfg(feature = "bench")]
mod baseline;
mod connect;
mod error;
mod keys;
mod keyspace;
mod mail;
mod query;
mod refusals;
mod rollups;
mod rows;
mod schema;
mod statements;
mod summaries;
mod tenant;
mod write;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use scylla::client::session::Session;
use tokio::sync::{Mutex, OnceCell};

use self::error::ResultExt;
use self::query::Conditional;
use self::schema::Migrator;
use self::statements::{RegistryStatements, TenantStatements};
use crate::domain::{GatewayId, Provider, ProviderSlug, RefusedGateway, User, Username};
use crate::store::{
    CassandraSettings, OperatorAccounts, ProviderRegistry, StoreError, TenantStore, UnclaimedGateways,
};

#[cfg(feature = "bench")]
pub use self::baseline::DirectReadingWriter;
pub use self::keyspace::KeyspaceName;
pub use self::tenant::CassandraTenant;

/// The Cassandra store.
pub struct CassandraStore {
    registry: Arc<Registry>,
    /// Tenant handles by provider, each opened (migrated, prepared) once.
    tenants: Mutex<HashMap<ProviderSlug, Arc<OnceCell<Arc<CassandraTenant>>>>>,
}

/// The session and the registry keyspace's statements, shared with every tenant handle.
pub(crate) struct Registry {
    session: Session,
    statements: RegistryStatements,
    migrator: Migrator,
}

impl Registry {
    /// Claims `gateway` for `provider` in the directory unless it is claimed already, and
    /// returns its owner (`provider` when the claim succeeded or was made before).
    async fn claim_gateway(
        &self,
        gateway: &GatewayId,
        provider: &ProviderSlug,
    ) -> Result<ProviderSlug, StoreError> {
        let values = (gateway.as_str(), provider.as_str());
        let answer = Conditional::execute(&self.session, &self.statements.claim_gateway, values).await?;
        if answer.applied() {
            return Ok(provider.clone());
        }
        let owner = answer.text("provider").ok_or_else(|| {
            StoreError::Corrupt(format!("gateway directory entry {gateway} names no provider").into())
        })?;
        Ok(ProviderSlug::parse(owner)?)
    }
}

impl CassandraStore {
    /// Connects to the cluster, creates the registry keyspace if missing, applies the
    /// registry's migrations and prepares its statements.
    pub async fn connect(settings: &CassandraSettings) -> Result<Self, StoreError> {
        let session = connect::session(settings).await?;
        let keyspace: &KeyspaceName = &settings.registry_keyspace;
        let migrator = Migrator::bootstrap(&session, keyspace, &settings.registry_replication).await?;
        migrator.migrate_registry(&session, keyspace).await?;
        let statements = RegistryStatements::prepare(&session, keyspace).await?;
        Ok(Self {
            registry: Arc::new(Registry { session, statements, migrator }),
            tenants: Mutex::new(HashMap::new()),
        })
    }

    fn session(&self) -> &Session {
        &self.registry.session
    }

    /// The handle opened earlier, if any (looking up never adds an entry, so unknown slugs
    /// cost no memory).
    async fn cached(&self, slug: &ProviderSlug) -> Option<Arc<CassandraTenant>> {
        self.tenants.lock().await.get(slug).and_then(|cell| cell.get().cloned())
    }

    /// The provider's handle: on first use its keyspace is created or migrated as needed and
    /// its statements prepared. Other providers' handles are not held up meanwhile.
    async fn open_tenant(&self, provider: &Provider) -> Result<Arc<CassandraTenant>, StoreError> {
        let cell = Arc::clone(self.tenants.lock().await.entry(provider.slug.clone()).or_default());
        let tenant = cell
            .get_or_try_init(|| async {
                self.registry.migrator.migrate_tenant(self.session(), provider).await?;
                let statements =
                    TenantStatements::prepare(self.session(), &KeyspaceName::of_provider(&provider.slug))
                        .await?;
                Ok::<_, StoreError>(Arc::new(CassandraTenant::new(
                    provider.slug.clone(),
                    statements,
                    Arc::clone(&self.registry),
                )))
            })
            .await?;
        Ok(Arc::clone(tenant))
    }
}

fn parse_provider(settings: &str) -> Result<Provider, StoreError> {
    Ok(serde_json::from_str(settings)?)
}

#[async_trait]
impl ProviderRegistry for CassandraStore {
    fn backend(&self) -> &'static str {
        "cassandra"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.session().execute_unpaged(&self.registry.statements.ping, ()).await.store()?;
        Ok(())
    }

    async fn create_provider(&self, provider: &Provider) -> Result<(), StoreError> {
        // Refuse a bad replication before the provider is registered without a keyspace.
        provider.replication.to_cql()?;
        let values = (provider.slug.as_str(), serde_json::to_string(provider)?);
        let answer =
            Conditional::execute(self.session(), &self.registry.statements.insert_provider, values).await?;
        if !answer.applied() {
            return Err(StoreError::ProviderExists(provider.slug.clone()));
        }
        self.open_tenant(provider).await.map(drop)
    }

    async fn update_provider(&self, provider: &Provider) -> Result<(), StoreError> {
        provider.replication.to_cql()?;
        let Some(current) = self.provider(&provider.slug).await? else {
            return Err(StoreError::UnknownProvider(provider.slug.clone()));
        };
        // The keyspace changes first, so that a failure leaves the old settings recorded and a
        // retry of the same update applies them again.
        self.registry.migrator.migrate_tenant(self.session(), provider).await?;
        if current.replication != provider.replication {
            schema::alter_replication(self.session(), provider).await?;
        }
        if schema::ttl(&current) != schema::ttl(provider) {
            schema::alter_retention(self.session(), provider).await?;
        }
        let values = (serde_json::to_string(provider)?, provider.slug.as_str());
        let answer =
            Conditional::execute(self.session(), &self.registry.statements.update_provider, values).await?;
        if !answer.applied() {
            return Err(StoreError::UnknownProvider(provider.slug.clone()));
        }
        Ok(())
    }

    async fn provider(&self, slug: &ProviderSlug) -> Result<Option<Provider>, StoreError> {
        let row: Option<(String,)> =
            query::first_row(self.session(), &self.registry.statements.provider, (slug.as_str(),)).await?;
        row.map(|(settings,)| parse_provider(&settings)).transpose()
    }

    async fn providers(&self) -> Result<Vec<Provider>, StoreError> {
        let rows: Vec<(String,)> =
            query::all_rows(self.session(), &self.registry.statements.providers, ()).await?;
        let mut providers =
            rows.iter().map(|(settings,)| parse_provider(settings)).collect::<Result<Vec<_>, _>>()?;
        providers.sort_by(|a, b| a.slug.cmp(&b.slug));
        Ok(providers)
    }

    async fn tenant(&self, slug: &ProviderSlug) -> Result<Arc<dyn TenantStore>, StoreError> {
        if let Some(tenant) = self.cached(slug).await {
            return Ok(tenant as Arc<dyn TenantStore>);
        }
        let provider = self.provider(slug).await?.ok_or_else(|| StoreError::UnknownProvider(slug.clone()))?;
        Ok(self.open_tenant(&provider).await? as Arc<dyn TenantStore>)
    }

    async fn locate_gateway(&self, gateway: &GatewayId) -> Result<Option<ProviderSlug>, StoreError> {
        let row: Option<(String,)> =
            query::first_row(self.session(), &self.registry.statements.locate_gateway, (gateway.as_str(),))
                .await?;
        row.map(|(provider,)| ProviderSlug::parse(&provider).map_err(StoreError::from)).transpose()
    }
}

#[async_trait]
impl OperatorAccounts for CassandraStore {
    async fn upsert_operator(&self, operator: &User) -> Result<(), StoreError> {
        let values = accounts::user_values(operator);
        query::write_partition(self.session(), &self.registry.statements.upsert_operator, &[values]).await
    }

    async fn operator(&self, username: &Username) -> Result<Option<User>, StoreError> {
        let row: Option<accounts::UserRow> =
            query::first_row(self.session(), &self.registry.statements.operator, (username.as_str(),))
                .await?;
        row.map(accounts::user_from_row).transpose()
    }

    async fn end_operator_sessions(&self, username: &Username) -> Result<bool, StoreError> {
        accounts::end_sessions(self.session(), &self.registry.statements.end_operator_sessions, username)
            .await
    }
}

#[async_trait]
impl UnclaimedGateways for CassandraStore {
    async fn record_unclaimed_gateway(&self, refusal: &RefusedGateway) -> Result<(), StoreError> {
        refusals::record(self.session(), &self.registry.statements.unclaimed, refusal).await
    }

    async fn unclaimed_gateways(&self, limit: usize) -> Result<Vec<RefusedGateway>, StoreError> {
        refusals::most_recent(self.session(), &self.registry.statements.unclaimed, limit).await
    }
}
