//! Listeners: the shared port, each provider's dedicated port (picked up from the registry while
//! running), and the SunSpec HTTP endpoint; a cap on open connections; graceful shutdown that
//! lets every connection finish the document it is reading and answer it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use heliograph_shared::ProviderSlug;
use heliograph_shared::http_edge::EdgeLimits;
use heliograph_shared::store::Store;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::budget::MemoryPools;
use crate::connection::{Closed, Connection};
use crate::http;
use crate::metrics;
use crate::pipeline::{Listener, Pipeline};
use crate::protocol::{Answer, ErrorCode, ProtocolError};
use crate::settings::IngestSettings;
use crate::spool::Spool;

/// Numbers connections for the logs, from 1, across every listener of the process.
static NEXT_CONNECTION_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listener could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The registry could not be read.
    #[error(transparent)]
    Store(#[from] heliograph_shared::store::StoreError),
    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The spool directory cannot be used.
    #[error("spool: {0}")]
    Spool(#[from] crate::spool::SpoolError),
}

/// A bound, not yet running, ingest server.
pub struct IngestServer {
    settings: Arc<IngestSettings>,
    pipeline: Arc<Pipeline>,
    shared: TcpListener,
    http: Option<TcpListener>,
    dedicated: Arc<Mutex<HashMap<ProviderSlug, SocketAddr>>>,
    /// Dedicated listeners bound at start, served once `run` begins.
    bound_dedicated: Vec<(ProviderSlug, TcpListener)>,
    spool: Option<Arc<Spool>>,
    tls: Option<TlsAcceptor>,
    connections: Arc<Semaphore>,
    memory: MemoryPools,
    tasks: TaskTracker,
}

impl IngestServer {
    /// Binds the shared and HTTP listeners and every provider's dedicated port.
    pub async fn bind(settings: IngestSettings, store: Arc<dyn Store>) -> Result<Self, ServerError> {
        let shared = bind(settings.listen).await?;
        let http = match settings.http_listen {
            Some(address) => Some(bind(address).await?),
            None => None,
        };
        let spool = match settings.spool_dir.clone() {
            Some(dir) => {
                // Opening reads and checks every segment a previous process left.
                let max = settings.spool_max_bytes;
                let opened = tokio::task::spawn_blocking(move || Spool::open(&dir, max))
                    .await
                    .map_err(|e| crate::spool::SpoolError::Io(std::io::Error::other(e)))??;
                Some(Arc::new(opened))
            }
            None => None,
        };
        let pipeline = Arc::new(Pipeline::new(
            Arc::clone(&store),
            Duration::from_secs(settings.gateway_cache_secs),
            spool.clone(),
        ));
        let tls = settings.tls.as_ref().map(crate::tls::acceptor).transpose()?;
        let dedicated = Arc::new(Mutex::new(HashMap::new()));
        let bound_dedicated = match bind_dedicated(store.as_ref(), &settings, &dedicated).await {
            Ok(bound) => bound,
            // A cluster without quorum answers no registry read: the shared port and the spool
            // serve meanwhile, and the registry watch binds the dedicated ports once it answers.
            Err(ServerError::Store(e)) if e.is_unavailable() => {
                warn!(error = %e, "cannot read the provider registry yet; dedicated ports follow once it answers");
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        let server = Self {
            connections: Arc::new(Semaphore::new(settings.max_connections)),
            memory: MemoryPools::new(settings.max_bytes_in_flight),
            settings: Arc::new(settings),
            pipeline,
            shared,
            http,
            dedicated,
            bound_dedicated,
            spool,
            tls,
            tasks: TaskTracker::new(),
        };
        Ok(server)
    }

    /// The shared port's address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.shared.local_addr()
    }

    /// The SunSpec HTTP endpoint's address, when enabled.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Dedicated ports bound so far, by provider.
    pub async fn dedicated_addrs(&self) -> HashMap<ProviderSlug, SocketAddr> {
        self.dedicated.lock().await.clone()
    }

    /// The pipeline (for tests and the embedding process).
    pub fn pipeline(&self) -> &Arc<Pipeline> {
        &self.pipeline
    }

    /// Serves until `shutdown` is cancelled, then waits for open connections to finish their
    /// current document (bounded by the document timeout).
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), ServerError> {
        let context = AcceptContext {
            tls: self.tls.clone(),
            settings: Arc::clone(&self.settings),
            pipeline: Arc::clone(&self.pipeline),
            connections: Arc::clone(&self.connections),
            memory: self.memory.clone(),
            tasks: self.tasks.clone(),
            shutdown: shutdown.clone(),
        };
        self.tasks.spawn(accept_loop(self.shared, Listener::Shared, context.clone()));
        if let Some(spool) = &self.spool {
            let replay = Arc::clone(spool).replay(Arc::clone(self.pipeline.store()), shutdown.clone());
            self.tasks.spawn(replay);
        }
        for (slug, listener) in self.bound_dedicated {
            self.tasks.spawn(accept_loop(listener, Listener::Dedicated(slug), context.clone()));
        }
        if let Some(http) = self.http {
            let app = http::router(
                Arc::clone(&self.pipeline),
                Arc::clone(&self.settings),
                self.memory.gateways.clone(),
            );
            // One cap for the TCP and HTTP listeners, as one budget of memory bounds both.
            let limits = EdgeLimits {
                header_read_timeout: self.settings.http_header_timeout(),
                connections: Arc::clone(&self.connections),
            };
            self.tasks.spawn(heliograph_shared::http_edge::serve(http, app, limits, shutdown.clone()));
        }
        let refresh = Duration::from_secs(self.settings.registry_refresh_secs.max(1));
        let watcher = RegistryWatch {
            store: Arc::clone(self.pipeline.store()),
            settings: Arc::clone(&self.settings),
            dedicated: Arc::clone(&self.dedicated),
            context,
        };
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(refresh) => {
                    if let Err(e) = watcher.refresh().await {
                        warn!(error = %e, "could not re-read the provider registry");
                    }
                }
            }
        }
        info!("ingest shutting down: waiting for connections to finish their documents");
        self.tasks.close();
        let grace = self.settings.document_timeout() + self.settings.write_timeout();
        if tokio::time::timeout(grace, self.tasks.wait()).await.is_err() {
            warn!("some connections did not finish within the shutdown grace period");
        }
        match &self.spool {
            Some(spool) => info!(
                spool_records = spool.pending_records(),
                spool_bytes = spool.depth_bytes(),
                "ingest stopped; what is left in the spool is replayed by the next start"
            ),
            None => info!("ingest stopped"),
        }
        Ok(())
    }
}

async fn bind(address: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(address).await.map_err(|source| ServerError::Bind { address, source })
}

#[derive(Clone)]
struct AcceptContext {
    tls: Option<TlsAcceptor>,
    settings: Arc<IngestSettings>,
    pipeline: Arc<Pipeline>,
    connections: Arc<Semaphore>,
    memory: MemoryPools,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

/// Binds dedicated ports for providers that have one and are not yet listened on.
struct RegistryWatch {
    store: Arc<dyn Store>,
    settings: Arc<IngestSettings>,
    dedicated: Arc<Mutex<HashMap<ProviderSlug, SocketAddr>>>,
    context: AcceptContext,
}

impl RegistryWatch {
    async fn refresh(&self) -> Result<(), ServerError> {
        for (slug, listener) in bind_dedicated(self.store.as_ref(), &self.settings, &self.dedicated).await? {
            self.context.tasks.spawn(accept_loop(listener, Listener::Dedicated(slug), self.context.clone()));
        }
        Ok(())
    }
}

/// Binds the dedicated ports of providers that have one and are not listened on yet.
async fn bind_dedicated(
    store: &dyn Store,
    settings: &IngestSettings,
    dedicated: &Mutex<HashMap<ProviderSlug, SocketAddr>>,
) -> Result<Vec<(ProviderSlug, TcpListener)>, ServerError> {
    let providers = store.providers().await?;
    let mut known = dedicated.lock().await;
    let mut bound = Vec::new();
    for provider in providers {
        let Some(port) = provider.ingest_port else {
            continue;
        };
        if known.contains_key(&provider.slug) {
            continue;
        }
        let address = SocketAddr::new(settings.dedicated_host, port);
        match TcpListener::bind(address).await {
            Ok(listener) => {
                let local = listener.local_addr().unwrap_or(address);
                info!(provider = %provider.slug, address = %local, "listening on the provider's dedicated port");
                known.insert(provider.slug.clone(), local);
                bound.push((provider.slug, listener));
            }
            Err(e) => {
                warn!(provider = %provider.slug, %address, error = %e, "cannot bind dedicated port")
            }
        }
    }
    Ok(bound)
}

async fn accept_loop(listener: TcpListener, kind: Listener, context: AcceptContext) {
    let mut backoff = Duration::from_millis(5);
    loop {
        let accepted = tokio::select! {
            () = context.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff = Duration::from_millis(5);
                accepted
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                warn!(error = %e, "accept failed; backing off");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let Ok(permit) = Arc::clone(&context.connections).try_acquire_owned() else {
            metrics::gateway_refused("busy");
            context.tasks.spawn(refuse_busy(stream, context.settings.max_connections));
            continue;
        };
        let label = match &kind {
            Listener::Shared => "shared",
            Listener::Dedicated(_) => "dedicated",
        };
        metrics::connection(label, 1.0);
        let (pipeline, settings, shutdown, tls, memory) = (
            Arc::clone(&context.pipeline),
            Arc::clone(&context.settings),
            context.shutdown.clone(),
            context.tls.clone(),
            context.memory.clone(),
        );
        let kind = kind.clone();
        // Every log line of the connection carries its id and peer, and its provider and
        // gateway once it has authenticated (see `connection::authenticated`).
        let span = tracing::info_span!(
            "connection",
            id = NEXT_CONNECTION_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            %peer,
            listener = label,
            provider = tracing::field::Empty,
            gateway = tracing::field::Empty,
        );
        let connection = async move {
            let closed = match tls {
                None => Connection::new(stream, peer, kind, pipeline, settings, memory).run(shutdown).await,
                Some(acceptor) => {
                    // A handshake must finish within the document timeout, like any slow sender.
                    match tokio::time::timeout(settings.document_timeout(), acceptor.accept(stream)).await {
                        Ok(Ok(tls_stream)) => {
                            Connection::new(tls_stream, peer, kind, pipeline, settings, memory)
                                .run(shutdown)
                                .await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            Closed::Io
                        }
                        Err(_) => Closed::Idle,
                    }
                }
            };
            metrics::connection(label, -1.0);
            tracing::debug!(?closed, "connection closed");
            drop(permit);
        };
        context.tasks.spawn(tracing::Instrument::instrument(connection, span));
    }
}

async fn refuse_busy(mut stream: TcpStream, limit: usize) {
    let answer = Answer::refused(
        None,
        None,
        ProtocolError::new(
            ErrorCode::Busy,
            format!("server is at its limit of {limit} connections; retry later"),
        ),
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(answer.to_xml().as_bytes())).await;
}
