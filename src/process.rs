//! What every long-running command needs from the process: the metrics recorder, the store, and
//! a shutdown signal.

use std::sync::Arc;

use anyhow::Context as _;
use heliograph_shared::store::{self, Store};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::settings::Settings;

/// Installs the process-wide Prometheus recorder; its handle renders `/metrics`.
pub fn metrics_recorder() -> anyhow::Result<PrometheusHandle> {
    PrometheusBuilder::new()
        .set_buckets(&heliograph_ingest::metrics::LATENCY_BUCKETS)?
        .install_recorder()
        .context("cannot install the metrics recorder")
}

/// Opens the configured store.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    store::open(&settings.store).await.context("cannot open the store")
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
