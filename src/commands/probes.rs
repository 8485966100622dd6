//! `/healthz`, `/readyz` and `/metrics` on each process's internal listener (`[ops]`),
//! apart from the ports gateways and browsers reach: the metrics name every provider.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use heliograph_shared::store::Store;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
struct Probes {
    store: Arc<dyn Store>,
    metrics: PrometheusHandle,
}

/// Binds `address` and serves the probes until `shutdown`; returns the bound address (`None`
/// when there is no address: no probes).
pub async fn serve(
    address: Option<SocketAddr>,
    store: Arc<dyn Store>,
    metrics: PrometheusHandle,
    shutdown: CancellationToken,
) -> anyhow::Result<Option<SocketAddr>> {
    let Some(address) = address else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} for health and metrics"))?;
    let bound = listener.local_addr()?;
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(render))
        .with_state(Probes { store, metrics });
    tokio::spawn(async move {
        let served = axum::serve(listener, router).with_graceful_shutdown(shutdown.cancelled_owned()).await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the health and metrics listener failed");
        }
    });
    Ok(Some(bound))
}

async fn ready(State(probes): State<Probes>) -> (StatusCode, &'static str) {
    match probes.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "store unreachable"),
    }
}

async fn render(State(probes): State<Probes>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], probes.metrics.render())
}
