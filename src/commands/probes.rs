//! `/healthz`, `/readyz` and `/metrics` on each process's internal listener (`[ops]`),
//! apart from the ports gateways and browsers reach: the metrics name every provider.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use heliograph_shared::store::{ProviderRegistry, Store};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
struct Probes {
    store: Arc<OnceLock<Arc<dyn Store>>>,
    metrics: PrometheusHandle,
}

/// The probes of a running process: its address, and the store `/readyz` asks once the process
/// has one (until then it answers 503, while `/healthz` says the process is alive).
pub struct ProbesHandle {
    /// The bound address, when there is one.
    pub address: Option<SocketAddr>,
    store: Arc<OnceLock<Arc<dyn Store>>>,
}

impl ProbesHandle {
    /// The store is open: `/readyz` now answers whether it is reachable.
    pub fn store_opened(&self, store: &Arc<dyn Store>) {
        let _ = self.store.set(Arc::clone(store));
    }
}

/// Binds `address` (none: no probes) and serves the probes until `shutdown`. Started before the
/// store is opened, so that a process waiting for its store is seen alive and not ready.
pub async fn serve(
    address: Option<SocketAddr>,
    metrics: PrometheusHandle,
    shutdown: CancellationToken,
) -> anyhow::Result<ProbesHandle> {
    let store = Arc::new(OnceLock::new());
    let Some(address) = address else {
        return Ok(ProbesHandle { address: None, store });
    };
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} for health and metrics"))?;
    let bound = listener.local_addr()?;
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(render))
        .with_state(Probes { store: Arc::clone(&store), metrics });
    tokio::spawn(async move {
        let served = axum::serve(listener, router).with_graceful_shutdown(shutdown.cancelled_owned()).await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the health and metrics listener failed");
        }
    });
    Ok(ProbesHandle { address: Some(bound), store })
}

async fn ready(State(probes): State<Probes>) -> (StatusCode, &'static str) {
    let store = probes.store.get().map(|store| -> &dyn ProviderRegistry { store.as_ref() });
    heliograph_shared::http_edge::readiness(store).await
}

async fn render(State(probes): State<Probes>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], probes.metrics.render())
}
