//! The embedded backend: SQLite databases under a data directory, `registry.db` for the
//! installation and `providers/<slug>.db` for each provider, so one provider's data is in a file
//! that no other provider's handle ever opens.

mod checkpoint;
mod mail;
mod rollups;
mod rows;
mod schema;
mod summaries;
mod tenant;
mod write;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use self::rows::refused_from_row;
use self::schema::Schema;
use self::writer::{Writer, backend};
use crate::domain::{GatewayId, Provider, ProviderSlug, RefusedGateway, SessionGeneration, User, Username};
use crate::store::{OperatorAccounts, ProviderRegistry, StoreError, TenantStore, UnclaimedGateways};

pub use self::tenant::EmbeddedTenant;

/// Jobs queued per database writer before callers wait (back-pressure).
const WRITER_QUEUE: usize = 4096;

/// The embedded store.
pub struct EmbeddedStore {
    data_dir: PathBuf,
    registry: Arc<Registry>,
    tenants: tokio::sync::Mutex<HashMap<ProviderSlug, Arc<EmbeddedTenant>>>,
}

/// The registry database: read connection plus writer.
pub(crate) struct Registry {
    reader: Mutex<Connection>,
    writer: Writer,
}

impl Registry {
    pub(crate) async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let this = Arc::clone(self);
        blocking(move || {
            let connection = this.reader.lock().map_err(|_| poisoned())?;
            f(&connection)
        })
        .await
    }

    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.writer.run(f).await
    }
}

pub(crate) fn poisoned() -> StoreError {
    StoreError::Backend("a database lock was poisoned by an earlier panic".into())
}

/// Runs blocking SQLite work off the async runtime.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Backend(crate::store::Failure::caused_by("database task failed", e)))?
}

/// The connections to one database: its writer's, its reader's and its checkpointer's.
struct Connections {
    writer: Connection,
    reader: Connection,
    checkpoints: Connection,
}

/// Opens a database file with durable settings and its schema migrated.
fn open_database(path: &Path, schema: Schema) -> Result<Connections, StoreError> {
    let mut writer = Connection::open(path).map_err(backend)?;
    schema::prepare(&mut writer, schema)?;
    let reader = Connection::open(path).map_err(backend)?;
    reader.execute_batch("PRAGMA busy_timeout = 10000; PRAGMA query_only = ON;").map_err(backend)?;
    // SQLite's default page cache is 2 MiB per connection: once a provider's history runs to
    // gigabytes, the index's inner pages do not fit and every write and rollup read copies them
    // in from the OS again (the growth row of BENCHMARKS.md). A cache grows to its size only as
    // pages are used.
    for (connection, kib) in [(&writer, WRITER_PAGE_CACHE_KIB), (&reader, READER_PAGE_CACHE_KIB)] {
        connection.execute_batch(&format!("PRAGMA cache_size = -{kib};")).map_err(backend)?;
    }
    // Checkpoints sync the database file as commits sync the log.
    let checkpoints = Connection::open(path).map_err(backend)?;
    checkpoints.execute_batch("PRAGMA synchronous = FULL;").map_err(backend)?;
    Ok(Connections { writer, reader, checkpoints })
}

/// The most page cache a database's writer keeps, KiB.
const WRITER_PAGE_CACHE_KIB: u32 = 64 * 1024;
/// The most page cache a database's reader (reports, the panel) keeps, KiB.
const READER_PAGE_CACHE_KIB: u32 = 16 * 1024;

impl EmbeddedStore {
    /// Opens (creating if needed) the store under `data_dir`.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let dir = data_dir.to_path_buf();
        let registry = blocking(move || {
            std::fs::create_dir_all(dir.join("providers")).map_err(|e| {
                StoreError::Config(crate::store::Failure::caused_by(
                    format!("cannot create data directory {}", dir.display()),
                    e,
                ))
            })?;
            let connections = open_database(&dir.join("registry.db"), Schema::Registry)?;
            Ok(Registry {
                reader: Mutex::new(connections.reader),
                writer: Writer::spawn(connections.writer, connections.checkpoints, "registry".into(), 256)?,
            })
        })
        .await?;
        Ok(Self {
            data_dir: data_dir.to_path_buf(),
            registry: Arc::new(registry),
            tenants: tokio::sync::Mutex::new(HashMap::new()),
        })
    }

    fn tenant_path(&self, slug: &ProviderSlug) -> PathBuf {
        // The slug is `[a-z][a-z0-9_]*`, so it cannot escape the directory.
        self.data_dir.join("providers").join(format!("{}.db", slug.as_str()))
    }

    async fn open_tenant(&self, slug: &ProviderSlug) -> Result<Arc<EmbeddedTenant>, StoreError> {
        let mut tenants = self.tenants.lock().await;
        if let Some(tenant) = tenants.get(slug) {
            return Ok(Arc::clone(tenant));
        }
        let path = self.tenant_path(slug);
        let name = slug.as_str().to_owned();
        let connections = blocking(move || open_database(&path, Schema::Tenant)).await?;
        let tenant = Arc::new(EmbeddedTenant::new(
            slug.clone(),
            Writer::spawn(connections.writer, connections.checkpoints, name, WRITER_QUEUE)?,
            connections.reader,
            Arc::clone(&self.registry),
        ));
        tenants.insert(slug.clone(), Arc::clone(&tenant));
        Ok(tenant)
    }
}

#[async_trait]
impl ProviderRegistry for EmbeddedStore {
    fn backend(&self) -> &'static str {
        "embedded"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.registry.read(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(backend)).await
    }

    async fn create_provider(&self, provider: &Provider) -> Result<(), StoreError> {
        let settings = serde_json::to_string(provider)?;
        let key = provider.slug.as_str().to_owned();
        let inserted = self
            .registry
            .write(move |c| {
                c.execute(
                    "INSERT INTO providers (slug, settings) VALUES (?1, ?2) ON CONFLICT (slug) DO NOTHING",
                    params![key, settings],
                )
                .map_err(backend)
            })
            .await?;
        if inserted == 0 {
            return Err(StoreError::ProviderExists(provider.slug.clone()));
        }
        self.open_tenant(&provider.slug).await.map(|_| ())
    }

    async fn update_provider(&self, provider: &Provider) -> Result<(), StoreError> {
        let settings = serde_json::to_string(provider)?;
        let key = provider.slug.as_str().to_owned();
        let updated = self
            .registry
            .write(move |c| {
                c.execute("UPDATE providers SET settings = ?2 WHERE slug = ?1", params![key, settings])
                    .map_err(backend)
            })
            .await?;
        if updated == 1 { Ok(()) } else { Err(StoreError::UnknownProvider(provider.slug.clone())) }
    }

    async fn provider(&self, slug: &ProviderSlug) -> Result<Option<Provider>, StoreError> {
        let key = slug.as_str().to_owned();
        self.registry
            .read(move |c| {
                let settings: Option<String> = c
                    .query_row("SELECT settings FROM providers WHERE slug = ?1", [key], |row| row.get(0))
                    .optional()
                    .map_err(backend)?;
                settings.map(|s| serde_json::from_str(&s).map_err(StoreError::from)).transpose()
            })
            .await
    }

    async fn providers(&self) -> Result<Vec<Provider>, StoreError> {
        self.registry
            .read(|c| {
                let mut statement =
                    c.prepare_cached("SELECT settings FROM providers ORDER BY slug").map_err(backend)?;
                let rows = statement.query_map([], |row| row.get::<_, String>(0)).map_err(backend)?;
                rows.map(|row| {
                    let settings = row.map_err(backend)?;
                    serde_json::from_str(&settings).map_err(StoreError::from)
                })
                .collect()
            })
            .await
    }

    async fn tenant(&self, slug: &ProviderSlug) -> Result<Arc<dyn TenantStore>, StoreError> {
        if let Some(tenant) = self.tenants.lock().await.get(slug) {
            return Ok(Arc::clone(tenant) as Arc<dyn TenantStore>);
        }
        if self.provider(slug).await?.is_none() {
            return Err(StoreError::UnknownProvider(slug.clone()));
        }
        Ok(self.open_tenant(slug).await? as Arc<dyn TenantStore>)
    }

    async fn locate_gateway(&self, gateway: &GatewayId) -> Result<Option<ProviderSlug>, StoreError> {
        let key = gateway.as_str().to_owned();
        self.registry
            .read(move |c| {
                let provider: Option<String> = c
                    .query_row("SELECT provider FROM gateway_directory WHERE gateway = ?1", [key], |row| {
                        row.get(0)
                    })
                    .optional()
                    .map_err(backend)?;
                provider.map(|p| ProviderSlug::parse(&p).map_err(StoreError::from)).transpose()
            })
            .await
    }
}

#[async_trait]
impl OperatorAccounts for EmbeddedStore {
    async fn upsert_operator(&self, operator: &User) -> Result<(), StoreError> {
        let operator = operator.clone();
        self.registry
            .write(move |c| {
                c.prepare_cached(
                    "INSERT OR REPLACE INTO operators (username, display_name, password, active, session_generation)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(backend)?
                .execute(params![
                    operator.username.as_str(),
                    operator.display_name,
                    operator.password.as_str(),
                    operator.active,
                    operator.session_generation.value()
                ])
                .map_err(backend)?;
                Ok(())
            })
            .await
    }

    async fn operator(&self, username: &Username) -> Result<Option<User>, StoreError> {
        let username = username.as_str().to_owned();
        self.registry
            .read(move |c| {
                let mut statement = c
                    .prepare_cached(
                        "SELECT username, display_name, password, active, session_generation FROM operators
                         WHERE username = ?1",
                    )
                    .map_err(backend)?;
                let mut rows = statement.query_map([username], rows::user_from_row).map_err(backend)?;
                rows.next().map(|r| r.map_err(backend)?).transpose()
            })
            .await
    }

    async fn end_operator_sessions(&self, username: &Username) -> Result<bool, StoreError> {
        let (username, generation) = (username.as_str().to_owned(), SessionGeneration::fresh().value());
        self.registry
            .write(move |c| {
                let changed = c
                    .prepare_cached("UPDATE operators SET session_generation = ?1 WHERE username = ?2")
                    .map_err(backend)?
                    .execute(params![generation, username])
                    .map_err(backend)?;
                Ok(changed > 0)
            })
            .await
    }
}

#[async_trait]
impl UnclaimedGateways for EmbeddedStore {
    async fn record_unclaimed_gateway(&self, refusal: &RefusedGateway) -> Result<(), StoreError> {
        let refusal = refusal.clone();
        self.registry.write(move |c| rows::record_refusal(c, "unclaimed_refusals", &refusal)).await
    }

    async fn unclaimed_gateways(&self, limit: usize) -> Result<Vec<RefusedGateway>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.registry
            .read(move |c| {
                let mut statement =
                    c.prepare_cached(&rows::recent_refusals("unclaimed_refusals")).map_err(backend)?;
                let rows = statement
                    .query_map([limit, rows::refusals_kept_since()], refused_from_row)
                    .map_err(backend)?;
                rows.map(|r| r.map_err(backend)?).collect()
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pragma(connection: &Connection, name: &str) -> String {
        connection
            .query_row(&format!("PRAGMA {name}"), [], |row| row.get::<_, rusqlite::types::Value>(0))
            .map(|value| match value {
                rusqlite::types::Value::Integer(n) => n.to_string(),
                rusqlite::types::Value::Text(text) => text,
                other => format!("{other:?}"),
            })
            .expect("pragma reads")
    }

    #[test]
    fn a_database_opens_with_its_write_ahead_log_and_cache_settings() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let connections = open_database(&dir.path().join("tenant.db"), Schema::Tenant).expect("opens");
        let Connections { writer, reader, checkpoints } = connections;
        assert_eq!(pragma(&writer, "journal_mode"), "wal");
        assert_eq!(pragma(&writer, "synchronous"), "2", "FULL: a commit is synced before its ack");
        assert_eq!(pragma(&checkpoints, "synchronous"), "2", "FULL: a checkpoint is synced");
        assert_eq!(pragma(&writer, "cache_size"), format!("-{WRITER_PAGE_CACHE_KIB}"));
        assert_eq!(pragma(&reader, "cache_size"), format!("-{READER_PAGE_CACHE_KIB}"));
        assert_eq!(pragma(&reader, "query_only"), "1");
    }

    #[test]
    fn a_checkpointer_switches_sqlites_automatic_checkpoint_off() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let Connections { writer, checkpoints, .. } =
            open_database(&dir.path().join("tenant.db"), Schema::Tenant).expect("opens");
        assert_eq!(
            pragma(&writer, "wal_autocheckpoint"),
            "1000",
            "SQLite's default before the writer starts"
        );
        let _checkpointer = checkpoint::Checkpointer::spawn(&writer, checkpoints, "test").expect("spawns");
        assert_eq!(pragma(&writer, "wal_autocheckpoint"), "0", "the page-counting hook replaced it");
    }
}
