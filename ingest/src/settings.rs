//! The ingest server's settings (`[ingest]` in the configuration file). Every bound is here.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Ingest listeners and limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IngestSettings {
    /// The shared TCP port: the provider is found by the gateway id.
    pub listen: SocketAddr,
    /// HTTP listener for SunSpec uploads by POST (Basic authentication); `None` disables it.
    pub http_listen: Option<SocketAddr>,
    /// Address to bind providers' dedicated ports on (their port numbers come from the registry).
    pub dedicated_host: std::net::IpAddr,
    /// Largest document accepted, bytes.
    pub max_document_bytes: usize,
    /// Most readings (native `<reading>`s or SunSpec `<d>` records) per document.
    pub max_readings_per_document: usize,
    /// Deepest element nesting accepted.
    pub max_depth: usize,
    /// Connections open at once across all listeners (TCP and HTTP); more are refused with `busy`.
    pub max_connections: usize,
    /// Bytes of unfinished documents held at once across all connections; beyond it, reads
    /// pause until documents finish (each connection may hold a small allowance regardless). A
    /// quarter of it is for connections that have not authenticated yet, the rest for gateways.
    pub max_bytes_in_flight: u64,
    /// Bytes allowed between two documents on a connection (whitespace, comments, an XML
    /// declaration); more closes the connection with `too_large`.
    pub max_bytes_between_documents: usize,
    /// A connection that has neither said hello nor sent a document with credentials within
    /// this long is closed.
    pub auth_timeout_secs: u64,
    /// An HTTP request's headers must arrive within this long of the connection or of the
    /// previous request.
    pub http_header_timeout_secs: u64,
    /// An HTTP request must be read and answered within this long.
    pub http_request_timeout_secs: u64,
    /// A connection with no document under way is closed after this long.
    pub idle_timeout_secs: u64,
    /// A document must arrive whole within this long of its first byte (defeats trickling).
    pub document_timeout_secs: u64,
    /// An answer must be taken by the gateway within this long.
    pub write_timeout_secs: u64,
    /// How far ahead of the server's clock a reading's timestamp may be.
    pub max_clock_skew_secs: i64,
    /// How often the registry is re-read for new providers' dedicated ports.
    pub registry_refresh_secs: u64,
    /// TLS for the gateway TCP listeners (shared and dedicated); `None` serves plain TCP.
    pub tls: Option<TlsSettings>,
    /// Where documents are spooled while the store is unavailable; `None` disables the spool
    /// (documents are then refused with `unavailable` during an outage).
    pub spool_dir: Option<std::path::PathBuf>,
    /// Most bytes the spool may hold; beyond it documents are refused with `unavailable`.
    pub spool_max_bytes: u64,
    /// How long a looked-up gateway record is reused before it is read again (token rotation and
    /// deactivation take effect within this time).
    pub gateway_cache_secs: u64,
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 7700)),
            http_listen: Some(SocketAddr::from(([0, 0, 0, 0], 7780))),
            dedicated_host: std::net::IpAddr::from([0, 0, 0, 0]),
            max_document_bytes: 1024 * 1024,
            max_readings_per_document: 10_000,
            max_depth: 16,
            max_connections: 20_000,
            max_bytes_in_flight: 128 * 1024 * 1024,
            max_bytes_between_documents: 4 * 1024,
            auth_timeout_secs: 10,
            http_header_timeout_secs: 10,
            http_request_timeout_secs: 30,
            idle_timeout_secs: 300,
            document_timeout_secs: 30,
            write_timeout_secs: 30,
            max_clock_skew_secs: 600,
            registry_refresh_secs: 10,
            gateway_cache_secs: 30,
            tls: None,
            spool_dir: Some(std::path::PathBuf::from("spool")),
            spool_max_bytes: 1024 * 1024 * 1024,
        }
    }
}

impl IngestSettings {
    /// Idle timeout as a duration.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    /// Authentication timeout as a duration.
    pub fn auth_timeout(&self) -> Duration {
        Duration::from_secs(self.auth_timeout_secs)
    }

    /// HTTP header-read timeout as a duration.
    pub fn http_header_timeout(&self) -> Duration {
        Duration::from_secs(self.http_header_timeout_secs)
    }

    /// HTTP whole-request timeout as a duration.
    pub fn http_request_timeout(&self) -> Duration {
        Duration::from_secs(self.http_request_timeout_secs)
    }

    /// Document timeout as a duration.
    pub fn document_timeout(&self) -> Duration {
        Duration::from_secs(self.document_timeout_secs)
    }

    /// Write timeout as a duration.
    pub fn write_timeout(&self) -> Duration {
        Duration::from_secs(self.write_timeout_secs)
    }
}

/// PEM files for the ingest listeners' TLS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TlsSettings {
    /// Certificate chain, PEM.
    pub cert_path: std::path::PathBuf,
    /// Private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key_path: std::path::PathBuf,
}
