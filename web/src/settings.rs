//! The web process's settings (`[web]`).

use std::net::SocketAddr;

use heliograph_shared::SigningSecret;
use serde::{Deserialize, Serialize};

/// Web listener, session and login settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebSettings {
    /// Where the panel listens.
    pub listen: SocketAddr,
    /// Key that signs session cookies: hex or base64 of at least 32 random bytes
    /// (`openssl rand -hex 32`; `HELIOGRAPH_WEB__SESSION_SECRET`). Without one a random key is
    /// made at start: sessions end with the process, and several web processes cannot share them.
    #[serde(skip_serializing, deserialize_with = "heliograph_shared::optional_secret")]
    pub session_secret: Option<SigningSecret>,
    /// Mark cookies `Secure` (sent over HTTPS only; browsers also accept them from
    /// `http://localhost`). Turn off only for plain-HTTP access from other hosts.
    pub cookie_secure: bool,
    /// How long a login lasts, hours.
    pub session_hours: u32,
    /// Failed logins allowed per client address and user name within the window.
    pub login_failures: u32,
    /// The window of `login_failures`, minutes.
    pub login_window_minutes: u32,
    /// Address and user name pairs tracked for rate limiting at most (oldest dropped first).
    pub login_tracked: usize,
    /// Sites whose snapshots the fleet overview computes at once.
    pub fleet_concurrency: usize,
}

impl Default for WebSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            session_secret: None,
            cookie_secure: true,
            session_hours: 12,
            login_failures: 5,
            login_window_minutes: 15,
            login_tracked: 10_000,
            fleet_concurrency: 8,
        }
    }
}
