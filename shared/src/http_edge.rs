//! Serving an axum router over HTTP/1.1 with the limits that must hold before a request reaches
//! any handler: a deadline for every request head (a client that sends half a request line and
//! stalls, or keeps an idle connection open, is dropped when it passes), a cap on open
//! connections (one more is answered `503` and closed), accept errors backed off, and a graceful
//! shutdown that lets requests under way finish. `axum::serve` offers neither the head deadline
//! nor the cap. Limits on a request once its head is in (time, body size, requests at once)
//! belong to the router's own layers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

use crate::store::ProviderRegistry;

/// The limits of one HTTP listener.
#[derive(Debug, Clone)]
pub struct EdgeLimits {
    /// How long a client may take to send a request head, from the connection's start or the
    /// end of the previous response on it.
    pub header_read_timeout: Duration,
    /// A permit per open connection; with none left, one more is answered `503` and closed.
    /// Shared with other listeners when they are to be capped together (ingest's TCP ports and
    /// its SunSpec HTTP port).
    pub connections: Arc<Semaphore>,
}

impl EdgeLimits {
    /// Limits with a cap of `max_connections` of the listener's own.
    pub fn new(header_read_timeout: Duration, max_connections: usize) -> Self {
        Self { header_read_timeout, connections: Arc::new(Semaphore::new(max_connections.max(1))) }
    }
}

/// The answer to a connection over the cap, written without reading its request.
const BUSY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

/// Serves `router` on `listener` until `shutdown` is cancelled, then waits for the requests
/// under way. Handlers see the client's address as `ConnectInfo<SocketAddr>`.
pub async fn serve(listener: TcpListener, router: Router, limits: EdgeLimits, shutdown: CancellationToken) {
    let slots = limits.connections;
    let connections = TaskTracker::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let mut backoff = Duration::from_millis(5);
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff = Duration::from_millis(5);
                accepted
            }
            Err(e) => {
                // Out of file descriptors or a connection reset before it was accepted: wait a
                // little rather than spin, and try again.
                tracing::warn!(error = %e, "accept failed; backing off");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            busy(&stream, peer);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = router.clone().map_request(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        });
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let stop = shutdown.clone();
        connections.spawn(async move {
            let _slot = slot;
            let mut connection = std::pin::pin!(connection);
            let outcome = tokio::select! {
                outcome = connection.as_mut() => outcome,
                () = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = outcome {
                // Head deadlines, resets and malformed requests end here: the client's doing.
                tracing::debug!(client = %peer, error = %e, "connection ended");
            }
        });
    }
    connections.close();
    connections.wait().await;
}

/// Tells a connection over the cap to come back later and drops it. One non-blocking write:
/// a client that does not read it gets nothing, and nothing waits for it.
fn busy(stream: &TcpStream, peer: SocketAddr) {
    tracing::debug!(client = %peer, "connection refused: too many open connections");
    let _ = stream.try_write(BUSY);
}

/// The answer of `/readyz` on every listener: ready when the store answers a ping; `None` while
/// the process has no store yet (it is waiting for it to be reachable).
pub async fn readiness(store: Option<&dyn ProviderRegistry>) -> (StatusCode, &'static str) {
    match store {
        None => (StatusCode::SERVICE_UNAVAILABLE, "store not reached yet"),
        Some(store) => match store.ping().await {
            Ok(()) => (StatusCode::OK, "ready"),
            Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "store unreachable"),
        },
    }
}
