//! The web process's settings (`[web]`).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Web listener settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebSettings {
    /// Where the panel listens.
    pub listen: SocketAddr,
}

impl Default for WebSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
        }
    }
}
