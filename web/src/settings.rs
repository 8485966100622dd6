//! The web process's settings (`[web]`).

use std::fmt;
use std::net::SocketAddr;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize};

/// Web listener, session and login settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebSettings {
    /// Where the panel listens.
    pub listen: SocketAddr,
    /// Key that signs session cookies (at least 32 characters; `HELIOGRAPH_WEB__SESSION_SECRET`).
    /// Without one a random key is made at start: sessions end with the process, and several
    /// web processes cannot share them.
    #[serde(skip_serializing)]
    pub session_secret: Option<SessionSecret>,
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

/// The session signing key. Its `Debug` never shows it.
#[derive(Clone)]
pub struct SessionSecret(SecretString);

impl SessionSecret {
    /// Wraps a key; refuses one shorter than 32 characters.
    pub fn new(value: &str) -> Result<Self, String> {
        if value.chars().count() >= 32 {
            Ok(Self(SecretString::from(value.to_owned())))
        } else {
            Err("web.session_secret must be at least 32 characters (e.g. `openssl rand -hex 32`)".into())
        }
    }

    /// The key's bytes.
    pub fn expose(&self) -> &[u8] {
        self.0.expose_secret().as_bytes()
    }
}

impl PartialEq for SessionSecret {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionSecret(<redacted>)")
    }
}

impl<'de> Deserialize<'de> for SessionSecret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::new(&text).map_err(serde::de::Error::custom)
    }
}
