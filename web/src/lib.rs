//! Heliograph's web process: the provider's admin panel and report API (axum + askama).

mod settings;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use heliograph_shared::store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use settings::WebSettings;

/// Why the web server could not run.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The listener could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("web server failed: {0}")]
    Serve(std::io::Error),
}

#[derive(Clone)]
struct AppState {
    store: Arc<dyn Store>,
}

/// A bound web server.
pub struct WebServer {
    listener: TcpListener,
    router: Router,
}

impl WebServer {
    /// Binds the listener and builds the routes.
    pub async fn bind(settings: &WebSettings, store: Arc<dyn Store>) -> Result<Self, WebError> {
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| WebError::Bind {
                    address: settings.listen,
                    source,
                })?;
        let router = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(ready))
            .with_state(AppState { store });
        Ok(Self { listener, router })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), WebError> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
            .map_err(WebError::Serve)
    }
}

async fn ready(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "store unreachable"),
    }
}
