//! What every long-running command needs from the process: the metrics recorder, the store, and
//! a shutdown signal.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use heliograph_shared::store::{self, Store};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::commands::probes::{self, ProbesHandle};
use crate::settings::Settings;

/// Installs the process-wide Prometheus recorder; its handle renders `/metrics`.
pub fn metrics_recorder() -> anyhow::Result<PrometheusHandle> {
    PrometheusBuilder::new()
        .set_buckets(&heliograph_ingest::metrics::LATENCY_BUCKETS)?
        .install_recorder()
        .context("cannot install the metrics recorder")
}

/// A long-running role's process once it is up.
pub struct RoleProcess {
    /// Cancelled on SIGTERM or SIGINT.
    pub shutdown: CancellationToken,
    /// Its probes and metrics listener.
    pub ops: ProbesHandle,
    /// The store, open.
    pub store: Arc<dyn Store>,
}

/// Starts what every long-running role needs, in the order that keeps it observable: metrics,
/// signals, the probes on `ops` (alive and not ready while the store is awaited), then the store,
/// patiently. `None` when a signal came before the store opened.
pub async fn start_role(settings: &Settings, ops: Option<SocketAddr>) -> anyhow::Result<Option<RoleProcess>> {
    let metrics = metrics_recorder()?;
    let shutdown = shutdown_on_signals();
    let ops = probes::serve(ops, metrics, shutdown.clone()).await?;
    let Some(store) = open_store_patiently(settings, &shutdown).await? else {
        return Ok(None);
    };
    ops.store_opened(&store);
    Ok(Some(RoleProcess { shutdown, ops, store }))
}

/// Opens the configured store (a one-off command: fails at once when the store does not answer).
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    store::open(&settings.store).await.context("cannot open the store")
}

/// Opens the configured store for a long-running role: while it cannot be reached (a cluster
/// without quorum, a node restarting), tries again with backoff instead of exiting, so that the
/// process is there the moment it answers. `None` when shutdown came first; a store that answers
/// with an error of its own (a bad setting) fails at once.
pub async fn open_store_patiently(
    settings: &Settings,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<Arc<dyn Store>>> {
    let mut backoff = std::time::Duration::from_secs(1);
    loop {
        let opened = tokio::select! {
            // Opening can take minutes (a Cassandra schema waiting for agreement): a signal
            // meanwhile ends the wait rather than starting a role that is already told to stop.
            () = shutdown.cancelled() => return Ok(None),
            opened = store::open(&settings.store) => opened,
        };
        match opened {
            Ok(store) => return Ok(Some(store)),
            Err(e) if e.is_unavailable() => {
                tracing::warn!(error = %e, retry_in = ?backoff, "the store cannot be reached yet; waiting for it");
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(None),
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(std::time::Duration::from_secs(30));
            }
            Err(e) => return Err(e).context("cannot open the store"),
        }
    }
}

/// Cancels the returned token on SIGTERM or SIGINT.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let interrupt = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            {
                Ok(signal) => signal,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    let _ = interrupt.await;
                    trigger.cancel();
                    return;
                }
            };
            tokio::select! {
                _ = interrupt => info!("SIGINT received, shutting down"),
                _ = terminate.recv() => info!("SIGTERM received, shutting down"),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = interrupt.await;
        }
        trigger.cancel();
    });
    token
}
