//! The web process's settings (`[web]`).

use std::net::SocketAddr;
use std::time::Duration;

use heliograph_shared::SigningSecret;
use heliograph_shared::http_edge::EdgeLimits;

use crate::auth::limiter::LimiterSettings;
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
    /// How many proxies in front of the panel append to `X-Forwarded-For` (a load balancer, an
    /// Ingress): the client's address is the entry that many places from the end. 0 (no proxy)
    /// takes the connection's peer and ignores the header, which clients can forge.
    pub trusted_proxy_hops: usize,
    /// Failed logins of one account (from any address) before each further attempt must wait.
    pub login_failures: u32,
    /// Failed logins from one client address (on any account) before each further attempt
    /// must wait.
    pub login_address_failures: u32,
    /// The first wait, seconds; it doubles with each further failure.
    pub login_delay_secs: u64,
    /// The longest wait, seconds: how long a stranger failing on purpose can keep a user out.
    pub login_max_delay_secs: u64,
    /// An account's or address's failures are forgotten this long after its last one, minutes.
    pub login_window_minutes: u32,
    /// Failed logins the process lets through per minute in all (a burst of that many, refilled
    /// evenly), against many addresses trying many accounts.
    pub login_failures_per_minute: u32,
    /// Accounts and addresses tracked for rate limiting at most, each (stalest dropped first).
    pub login_tracked: usize,
    /// Password checks (argon2, about 19 MiB each) run at once; 0 means one per core. A login
    /// that finds them all busy is answered `503` at once.
    pub password_checks: usize,
    /// Sites whose snapshots the fleet overview computes at once.
    pub fleet_concurrency: usize,
    /// Seconds a client may take to send a request's head, counted from the connection's start
    /// or the end of the previous answer on it (so idle connections are closed after it too).
    pub header_read_timeout_secs: u64,
    /// Seconds from a request's head to its answer, reading the body included; then `408`.
    pub request_timeout_secs: u64,
    /// Connections open at once; one more is answered `503` and closed.
    pub max_connections: usize,
    /// Requests handled at once; one more is answered `503` at once.
    pub max_requests: usize,
    /// Largest request body on any route, bytes; a larger one is answered `413`.
    pub max_body_bytes: usize,
}

impl Default for WebSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            session_secret: None,
            cookie_secure: true,
            session_hours: 12,
            trusted_proxy_hops: 0,
            login_failures: 5,
            login_address_failures: 20,
            login_delay_secs: 1,
            login_max_delay_secs: 60,
            login_window_minutes: 15,
            login_failures_per_minute: 60,
            login_tracked: 10_000,
            password_checks: 0,
            fleet_concurrency: 8,
            header_read_timeout_secs: 10,
            request_timeout_secs: 30,
            max_connections: 1024,
            max_requests: 256,
            max_body_bytes: 64 * 1024,
        }
    }
}

impl WebSettings {
    /// The listener's limits before a request is read.
    pub fn edge_limits(&self) -> EdgeLimits {
        EdgeLimits::new(Duration::from_secs(self.header_read_timeout_secs.max(1)), self.max_connections)
    }

    /// How hard the login limiter holds.
    pub fn limiter(&self) -> LimiterSettings {
        LimiterSettings {
            account_failures: self.login_failures,
            address_failures: self.login_address_failures,
            first_delay: Duration::from_secs(self.login_delay_secs.max(1)),
            max_delay: Duration::from_secs(self.login_max_delay_secs.max(self.login_delay_secs).max(1)),
            window: Duration::from_secs(u64::from(self.login_window_minutes.max(1)) * 60),
            failures_per_minute: self.login_failures_per_minute,
            capacity: self.login_tracked,
        }
    }

    /// How long a request may take once its head is in.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs.max(1))
    }
}
