//! What a parsed document does: authenticate the gateway against its provider, write the
//! readings (and the quarantined ones) to that provider's store, and produce the one answer the
//! gateway gets, only after the write is durable.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use heliograph_shared::store::{BatchWriter, Store, StoreError, TenantStore, WriteBatch};
use heliograph_shared::{
    GatewayId, GatewayToken, ProviderSlug, QuarantinedReading, RefusalReason, RefusedGateway,
};

use crate::gateway_cache::{Found, GatewayCache};
use crate::metrics;
use crate::protocol::{Answer, Credentials, ErrorCode, ProtocolError, ReadingsDocument};
use crate::refusal_log::RefusalLog;
use crate::spool::{Spool, SpoolError};

/// A gateway whose token was accepted, with a handle on its provider's store.
#[derive(Clone)]
pub struct AuthenticatedGateway {
    /// The gateway.
    pub gateway: GatewayId,
    /// Its provider's store (and only that provider's).
    pub tenant: Arc<dyn TenantStore>,
    /// The token it presented, to check again later (a session outlives a deactivation or a
    /// token revocation by at most the gateway cache's time to live).
    token: GatewayToken,
    /// When the token was last checked against the gateway's record.
    checked: Instant,
}

impl std::fmt::Debug for AuthenticatedGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthenticatedGateway")
            .field("gateway", &self.gateway)
            .field("provider", self.tenant.provider())
            .finish_non_exhaustive()
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

/// Authenticates gateways and stores their documents.
pub struct Pipeline {
    store: Arc<dyn Store>,
    spool: Option<Arc<Spool>>,
    cache: GatewayCache,
    refusals: RefusalLog,
}

impl Pipeline {
    /// A pipeline over `store`, reusing gateway records for `cache_ttl`, spooling to `spool`
    /// while the store is unavailable.
    pub fn new(store: Arc<dyn Store>, cache_ttl: Duration, spool: Option<Arc<Spool>>) -> Self {
        Self { store, spool, cache: GatewayCache::new(cache_ttl), refusals: RefusalLog::default() }
    }

    /// The store behind the pipeline.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The spool, when there is one.
    pub fn spool(&self) -> Option<&Arc<Spool>> {
        self.spool.as_ref()
    }

    /// Checks a gateway's credentials as presented on `listener` from `peer`.
    pub async fn authenticate(
        &self,
        listener: &Listener,
        credentials: &Credentials,
        peer: SocketAddr,
    ) -> Result<AuthenticatedGateway, ProtocolError> {
        // The same words for every refusal, so ids cannot be probed.
        let refused = || ProtocolError::new(ErrorCode::Unauthorized, "unknown gateway or wrong token");
        let Some(token) = &credentials.token else {
            return Err(ProtocolError::new(
                ErrorCode::Unauthorized,
                "no token: send token=\"…\" with the gateway id",
            ));
        };
        let id = &credentials.gateway;
        let mut found = self.lookup(listener, id, false).await;
        if matches!(&found, Ok((_, record)) if !record.accepts(token, Utc::now())) {
            // The cached record may predate a token rotation: read it again before refusing.
            found = self.lookup(listener, id, true).await;
        }
        let (tenant, record) = match found {
            Ok(found) => found,
            Err(LookupError::Store(e)) => return Err(unavailable(&e)),
            Err(LookupError::Unknown) => {
                self.refuse_unknown(listener, id, peer).await;
                return Err(refused());
            }
        };
        if !record.accepts(token, Utc::now()) {
            let reason = if record.active { RefusalReason::WrongToken } else { RefusalReason::Inactive };
            self.record_refusal(Some(tenant.as_ref()), id, reason, peer).await;
            return Err(refused());
        }
        Ok(AuthenticatedGateway {
            gateway: id.clone(),
            tenant,
            token: token.clone(),
            checked: Instant::now(),
        })
    }

    /// The session's gateway as it stands: the session itself while its last check is younger
    /// than the gateway cache, else checked again (refused once deactivated or its token revoked).
    pub async fn recheck(
        &self,
        listener: &Listener,
        session: &AuthenticatedGateway,
        peer: SocketAddr,
    ) -> Result<AuthenticatedGateway, ProtocolError> {
        if session.checked.elapsed() < self.cache.ttl() {
            return Ok(session.clone());
        }
        let credentials =
            Credentials { gateway: session.gateway.clone(), token: Some(session.token.clone()) };
        self.authenticate(listener, &credentials, peer).await
    }

    /// Writes a document's readings and quarantined readings; returns the answer once durable.
    /// `writer` is the sending connection's writer for the gateway's provider, if it sends several
    /// documents (it may remember what it stored between them).
    pub async fn store_document(
        &self,
        gateway: &AuthenticatedGateway,
        document: ReadingsDocument,
        writer: Option<&dyn BatchWriter>,
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
            match writer {
                Some(writer) => writer.write(batch).await,
                None => gateway.tenant.write_batch(batch).await,
            }
        };
        let Some(spool) = &self.spool else {
            write(batch).await.map_err(|e| unavailable(&e))?;
            metrics::store_write(self.store.backend(), started.elapsed());
            return Ok(answer);
        };
        if spool.holds(provider, &gateway.gateway) {
            // This gateway's earlier documents wait in the spool: queue behind them, in order.
            // The replay writes them, so nothing this connection stored before carries past them.
            if let Some(writer) = writer {
                writer.forget();
            }
            spool.append(provider, batch).await.map_err(|e| spool_refused(&e))?;
            return Ok(answer);
        }
        match write(batch.clone()).await {
            Ok(()) => metrics::store_write(self.store.backend(), started.elapsed()),
            Err(e) if e.is_unavailable() || matches!(e, StoreError::Backend(_)) => {
                tracing::warn!(error = %e, provider = %provider, "store unavailable; spooling the document");
                spool.append(provider, batch).await.map_err(|e| spool_refused(&e))?;
            }
            Err(e) => return Err(unavailable(&e)),
        }
        Ok(answer)
    }

    /// The gateway's record at the provider the listener names (its own on a dedicated port, the
    /// id's owner on the shared one), from the cache unless `fresh`.
    async fn lookup(&self, listener: &Listener, id: &GatewayId, fresh: bool) -> Result<Found, LookupError> {
        let provider = match listener {
            Listener::Dedicated(slug) => slug.clone(),
            Listener::Shared => self.owner(id, fresh).await?.ok_or(LookupError::Unknown)?,
        };
        if !fresh && let Some(found) = self.cache.record(&provider, id, false) {
            return Ok(found);
        }
        let fetched = async {
            let tenant = self.store.tenant(&provider).await?;
            let record = tenant.gateway(id).await?;
            Ok::<_, StoreError>((tenant, record))
        }
        .await;
        match fetched {
            Ok((tenant, Some(record))) => {
                self.cache.put_record(&provider, (Arc::clone(&tenant), record.clone()));
                Ok((tenant, record))
            }
            // Not cached: an id unknown here must cost the provider that has it nothing.
            Ok((_, None)) | Err(StoreError::UnknownProvider(_)) => Err(LookupError::Unknown),
            // During a store outage a record we already know keeps the gateway flowing into
            // the spool.
            Err(e) if e.is_unavailable() => {
                self.cache.record(&provider, id, true).ok_or(LookupError::Store(e))
            }
            Err(e) => Err(LookupError::Store(e)),
        }
    }

    /// The provider that owns `id` per the installation's directory.
    async fn owner(&self, id: &GatewayId, fresh: bool) -> Result<Option<ProviderSlug>, LookupError> {
        if !fresh && let Some(owner) = self.cache.owner(id, false) {
            return Ok(owner);
        }
        match self.store.locate_gateway(id).await {
            Ok(owner) => {
                self.cache.put_owner(id, owner.clone());
                Ok(owner)
            }
            Err(e) if e.is_unavailable() => self.cache.owner(id, true).ok_or(LookupError::Store(e)),
            Err(e) => Err(LookupError::Store(e)),
        }
    }

    /// Records an id no provider on this listener has. On a dedicated port an id that belongs
    /// to another provider is only counted: its owner's gateway and its address are no business
    /// of the port's owner.
    async fn refuse_unknown(&self, listener: &Listener, id: &GatewayId, peer: SocketAddr) {
        match listener {
            Listener::Shared => self.record_refusal(None, id, RefusalReason::UnknownGateway, peer).await,
            Listener::Dedicated(slug) => {
                let owner = self.owner(id, false).await.ok().flatten();
                if owner.is_some_and(|owner| owner != *slug) {
                    metrics::gateway_refused("other_providers_gateway");
                    tracing::info!(provider = %slug, peer = %peer, "refused another provider's gateway id on a dedicated port");
                    return;
                }
                match self.store.tenant(slug).await {
                    Ok(tenant) => {
                        self.record_refusal(Some(tenant.as_ref()), id, RefusalReason::UnknownGateway, peer)
                            .await
                    }
                    Err(e) => {
                        tracing::warn!(provider = %slug, error = %e, "could not record a refused gateway")
                    }
                }
            }
        }
    }

    /// Records a refusal for people to see (the provider's, or the operators' when no provider
    /// is named), within the bounds of [`RefusalLog`]; every refusal is counted.
    async fn record_refusal(
        &self,
        tenant: Option<&dyn TenantStore>,
        gateway: &GatewayId,
        reason: RefusalReason,
        peer: SocketAddr,
    ) {
        metrics::gateway_refused(reason.as_str());
        tracing::info!(gateway = %gateway, reason = reason.as_str(), peer = %peer, "gateway refused");
        if !self.refusals.admit(tenant.map(|t| t.provider()), gateway, peer.ip()) {
            return;
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
    }

    /// Forgets a cached gateway (after its token was rotated, say).
    pub fn forget(&self, id: &GatewayId) {
        self.cache.forget(id);
    }
}

enum LookupError {
    /// No such gateway (at the listener's provider).
    Unknown,
    /// The store failed.
    Store(StoreError),
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
