//! What a parsed document does: authenticate the gateway against its provider, write the
//! readings (and the quarantined ones) to that provider's store, and produce the one answer the
//! gateway gets, only after the write is durable.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use heliograph_shared::store::{Store, StoreError, TenantStore, WriteBatch, WriteSession};
use heliograph_shared::{
    Gateway, GatewayId, GatewayToken, ProviderSlug, QuarantinedReading, RefusalReason, RefusedGateway,
};

use crate::metrics;
use crate::protocol::{Answer, Credentials, ErrorCode, ProtocolError, ReadingsDocument};
use crate::spool::{Spool, SpoolError};

/// A gateway whose token was accepted, with a handle on its provider's store.
#[derive(Clone)]
pub struct AuthenticatedGateway {
    /// The gateway.
    pub gateway: GatewayId,
    /// Its provider's store (and only that provider's).
    pub tenant: Arc<dyn TenantStore>,
}

impl std::fmt::Debug for AuthenticatedGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthenticatedGateway")
            .field("gateway", &self.gateway)
            .field("provider", self.tenant.provider())
            .finish()
    }
}

/// Where a connection arrived: the shared port, or a provider's dedicated one.
#[derive(Debug, Clone)]
pub enum Listener {
    /// The provider is found from the gateway id.
    Shared,
    /// Only this provider's gateways are accepted here.
    Dedicated(ProviderSlug),
}

struct CachedGateway {
    tenant: Arc<dyn TenantStore>,
    record: Option<Gateway>,
    fetched: Instant,
}

/// Most gateway records kept in memory; when full, the cache starts over (it is only a cache).
const GATEWAY_CACHE_LIMIT: usize = 100_000;
/// Most refused ids remembered for de-duplicating refusal writes.
const REFUSAL_LOG_LIMIT: usize = 10_000;
/// A refused id is written to the store at most this often.
const REFUSAL_WRITE_INTERVAL: Duration = Duration::from_secs(60);

/// Authenticates gateways and stores their documents.
pub struct Pipeline {
    store: Arc<dyn Store>,
    spool: Option<Arc<Spool>>,
    cache_ttl: Duration,
    gateways: Mutex<HashMap<GatewayId, CachedGateway>>,
    refusals: Mutex<HashMap<GatewayId, Instant>>,
}

impl Pipeline {
    /// A pipeline over `store`, reusing gateway records for `cache_ttl`, spooling to `spool`
    /// while the store is unavailable.
    pub fn new(store: Arc<dyn Store>, cache_ttl: Duration, spool: Option<Arc<Spool>>) -> Self {
        Self {
            store,
            spool,
            cache_ttl,
            gateways: Mutex::new(HashMap::new()),
            refusals: Mutex::new(HashMap::new()),
        }
    }

    /// The store behind the pipeline.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Checks a gateway's credentials as presented on `listener` from `peer`.
    pub async fn authenticate(
        &self,
        listener: &Listener,
        credentials: &Credentials,
        peer: SocketAddr,
    ) -> Result<AuthenticatedGateway, ProtocolError> {
        let refused = |why: &str| ProtocolError::new(ErrorCode::Unauthorized, why.to_owned());
        let Some(token) = &credentials.token else {
            return Err(refused("no token: send token=\"…\" with the gateway id"));
        };
        let mut found = self.lookup(listener, &credentials.gateway).await;
        if matches!(&found, Ok((_, record)) if !record.accepts(token, Utc::now())) {
            // The cached record may predate a token rotation: read it again before refusing.
            self.forget(&credentials.gateway);
            found = self.lookup(listener, &credentials.gateway).await;
        }
        let (tenant, record) = match found {
            Ok(found) => found,
            Err(LookupError::Unknown(tenant)) => {
                self.record_refusal(
                    tenant.as_deref(),
                    &credentials.gateway,
                    RefusalReason::UnknownGateway,
                    peer,
                )
                .await;
                return Err(refused("unknown gateway or wrong token"));
            }
            Err(LookupError::Store(e)) => return Err(unavailable(&e)),
        };
        if !record.accepts(token, Utc::now()) {
            let reason = if record.active { RefusalReason::WrongToken } else { RefusalReason::Inactive };
            self.record_refusal(Some(tenant.as_ref()), &credentials.gateway, reason, peer).await;
            // The same words for every refusal, so ids cannot be probed.
            return Err(refused("unknown gateway or wrong token"));
        }
        Ok(AuthenticatedGateway { gateway: credentials.gateway.clone(), tenant })
    }

    /// Writes a document's readings and quarantined readings; returns the answer once durable.
    /// `writes` is the sending connection's memory between its documents, if it sends several.
    pub async fn store_document(
        &self,
        gateway: &AuthenticatedGateway,
        document: ReadingsDocument,
        writes: Option<&WriteSession>,
    ) -> Result<Answer, ProtocolError> {
        let answer = Answer::stored(&document);
        let received_at = Utc::now();
        let mut batch = WriteBatch::new(gateway.gateway.clone(), received_at);
        batch.quarantined = document
            .rejected
            .into_iter()
            .map(|r| QuarantinedReading {
                gateway: gateway.gateway.clone(),
                received_at,
                seq: document.seq,
                device: r.device,
                ts: r.ts,
                reason: r.reason,
                content: r.content,
            })
            .collect();
        batch.readings = document.readings;
        batch.devices = document.devices;
        let provider = gateway.tenant.provider();
        metrics::readings_stored(provider.as_str(), batch.readings.len(), batch.quarantined.len());
        let started = Instant::now();
        let write = |batch: WriteBatch| async {
            let written = match writes {
                Some(session) => gateway.tenant.write_batch_in(batch, session).await,
                None => gateway.tenant.write_batch(batch).await,
            };
            if written.is_err() {
                writes.map(WriteSession::forget);
            }
            written
        };
        let Some(spool) = &self.spool else {
            write(batch).await.map_err(|e| unavailable(&e))?;
            metrics::store_write(self.store.backend(), started.elapsed());
            return Ok(answer);
        };
        if !spool.is_empty().await {
            // Documents spooled earlier are still being replayed: queue behind them, in order.
            // The replay writes them, so nothing this connection stored before carries past them.
            writes.map(WriteSession::forget);
            spool.append(provider, batch).await.map_err(|e| spool_refused(&e))?;
            metrics::spool_depth(spool.depth_bytes().await);
            return Ok(answer);
        }
        match write(batch.clone()).await {
            Ok(()) => metrics::store_write(self.store.backend(), started.elapsed()),
            Err(e) if e.is_unavailable() || matches!(e, StoreError::Backend(_)) => {
                tracing::warn!(error = %e, provider = %provider, "store unavailable; spooling the document");
                spool.append(provider, batch).await.map_err(|e| spool_refused(&e))?;
                metrics::spool_depth(spool.depth_bytes().await);
            }
            Err(e) => return Err(unavailable(&e)),
        }
        Ok(answer)
    }

    async fn lookup(&self, listener: &Listener, id: &GatewayId) -> Result<Found, LookupError> {
        if let Some(hit) = self.cached(listener, id) {
            return hit;
        }
        let slug = match listener {
            Listener::Dedicated(slug) => slug.clone(),
            Listener::Shared => match self.store.locate_gateway(id).await? {
                Some(slug) => slug,
                None => return Err(LookupError::Unknown(None)),
            },
        };
        let found = async {
            let tenant = self.store.tenant(&slug).await?;
            let record = tenant.gateway(id).await?;
            Ok::<_, StoreError>((tenant, record))
        }
        .await;
        let (tenant, record) = match found {
            Ok(found) => found,
            Err(e) if e.is_unavailable() => {
                // During a store outage a record we already know keeps the gateway flowing into
                // the spool.
                return self.stale(listener, id).ok_or(LookupError::Store(e));
            }
            Err(e) => return Err(e.into()),
        };
        let mut cache = self.gateways.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= GATEWAY_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(
            id.clone(),
            CachedGateway { tenant: Arc::clone(&tenant), record: record.clone(), fetched: Instant::now() },
        );
        match record {
            Some(record) => Ok((tenant, record)),
            None => Err(LookupError::Unknown(Some(tenant))),
        }
    }

    fn cached(&self, listener: &Listener, id: &GatewayId) -> Option<Result<Found, LookupError>> {
        let cache = self.gateways.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = cache.get(id)?;
        if entry.fetched.elapsed() > self.cache_ttl {
            return None;
        }
        if let Listener::Dedicated(slug) = listener
            && entry.tenant.provider() != slug
        {
            // Known, but to another provider: on this provider's port it does not exist.
            return None;
        }
        Some(match &entry.record {
            Some(record) => Ok((Arc::clone(&entry.tenant), record.clone())),
            None => Err(LookupError::Unknown(Some(Arc::clone(&entry.tenant)))),
        })
    }

    /// A cached record regardless of age, for use while the store is unavailable.
    fn stale(&self, listener: &Listener, id: &GatewayId) -> Option<Found> {
        let cache = self.gateways.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = cache.get(id)?;
        if let Listener::Dedicated(slug) = listener
            && entry.tenant.provider() != slug
        {
            return None;
        }
        entry.record.clone().map(|record| (Arc::clone(&entry.tenant), record))
    }

    /// Records a refusal for the provider to see, at most once a minute per id, so a flood of
    /// bogus ids costs bounded memory and bounded store writes.
    async fn record_refusal(
        &self,
        tenant: Option<&dyn TenantStore>,
        gateway: &GatewayId,
        reason: RefusalReason,
        peer: SocketAddr,
    ) {
        metrics::gateway_refused(reason.as_str());
        {
            let mut log = self.refusals.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if log.get(gateway).is_some_and(|at| at.elapsed() < REFUSAL_WRITE_INTERVAL) {
                return;
            }
            if log.len() >= REFUSAL_LOG_LIMIT {
                log.retain(|_, at| at.elapsed() < REFUSAL_WRITE_INTERVAL);
                if log.len() >= REFUSAL_LOG_LIMIT {
                    return;
                }
            }
            log.insert(gateway.clone(), Instant::now());
        }
        let now = Utc::now();
        let refusal = RefusedGateway {
            gateway: gateway.clone(),
            reason,
            first_seen: now,
            last_seen: now,
            attempts: 1,
            last_address: peer.ip().to_string(),
        };
        let outcome = match tenant {
            Some(tenant) => tenant.record_refused_gateway(&refusal).await,
            None => self.store.record_unclaimed_gateway(&refusal).await,
        };
        if let Err(e) = outcome {
            tracing::warn!(gateway = %gateway, error = %e, "could not record a refused gateway");
        }
        tracing::info!(gateway = %gateway, reason = reason.as_str(), peer = %peer, "gateway refused");
    }

    /// Forgets a cached gateway (after its token was rotated, say).
    pub fn forget(&self, id: &GatewayId) {
        self.gateways.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(id);
    }
}

/// A gateway's record and its provider's store.
type Found = (Arc<dyn TenantStore>, Gateway);

enum LookupError {
    /// No such gateway (at this provider, when one is known).
    Unknown(Option<Arc<dyn TenantStore>>),
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for LookupError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UnknownProvider(_) => Self::Unknown(None),
            other => Self::Store(other),
        }
    }
}

fn spool_refused(e: &SpoolError) -> ProtocolError {
    tracing::error!(error = %e, "the spool cannot take the document; refusing it");
    ProtocolError::new(ErrorCode::Unavailable, "the store cannot take data now; keep it and retry later")
}

fn unavailable(e: &StoreError) -> ProtocolError {
    tracing::warn!(error = %e, "store write failed; the gateway keeps its data");
    ProtocolError::new(ErrorCode::Unavailable, "the store cannot take data now; keep it and retry later")
}

/// Builds credentials from a gateway id and token as presented (HTTP Basic authentication).
pub fn credentials(gateway: &str, token: &str) -> Result<Credentials, ProtocolError> {
    let gateway =
        GatewayId::parse(gateway).map_err(|e| ProtocolError::new(ErrorCode::Unauthorized, e.to_string()))?;
    Ok(Credentials { gateway, token: Some(GatewayToken::from_presented(token)) })
}
