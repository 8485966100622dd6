//! Heliograph's web process: the provider's admin panel and report API (axum + askama).
//!
//! Layers: [`auth`] decides who is asking and for which provider, `pages` and `api` answer with
//! data reached only through that provider's namespace, [`charts`] and [`mod@format`] draw and write
//! what reports computed (in `heliograph_shared::reports`), and `error` maps every failure to
//! one response.

mod api;
mod assets;
pub mod auth;
pub mod charts;
mod edge;
mod error;
pub mod format;
pub mod metrics;
mod pages;
mod routes;
mod security;
mod settings;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use heliograph_shared::UnsubscribeKey;
use heliograph_shared::http_edge;
use heliograph_shared::store::Store;

use crate::state::AppState;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use security::CONTENT_SECURITY_POLICY;
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
    /// The password-check threads could not be started.
    #[error("cannot start the password-check threads: {0}")]
    Threads(std::io::Error),
}

/// A bound web server.
pub struct WebServer {
    listener: TcpListener,
    state: AppState,
}

impl WebServer {
    /// Binds the listener and builds the routes.
    pub async fn bind(settings: &WebSettings, store: Arc<dyn Store>) -> Result<Self, WebError> {
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|source| WebError::Bind { address: settings.listen, source })?;
        let state = AppState::new(settings, store).map_err(WebError::Threads)?;
        Ok(Self { listener, state })
    }

    /// Verifies unsubscribe links with `key` (the mailer's); without it they answer 404.
    pub fn with_unsubscribe_key(mut self, key: UnsubscribeKey) -> Self {
        self.state.unsubscribe = Some(key);
        self
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` is cancelled, then lets the requests under way finish.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), WebError> {
        let settings = Arc::clone(&self.state.settings);
        let app: Router = edge::layered(routes::router(self.state), &settings);
        http_edge::serve(self.listener, app, settings.edge_limits(), shutdown).await;
        Ok(())
    }
}
