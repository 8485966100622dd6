//! Optional TLS on the gateway listeners (rustls with the ring provider).

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::settings::TlsSettings;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("cannot read {path}: {reason}")]
    Pem {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the certificate or key.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// Builds the acceptor from the configured certificate chain and key.
pub fn acceptor(settings: &TlsSettings) -> Result<TlsAcceptor, TlsError> {
    let pem_error =
        |path: &std::path::Path, reason: String| TlsError::Pem { path: path.display().to_string(), reason };
    let chain = CertificateDer::pem_file_iter(&settings.cert_path)
        .map_err(|e| pem_error(&settings.cert_path, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(&settings.cert_path, e.to_string()))?;
    if chain.is_empty() {
        return Err(pem_error(&settings.cert_path, "no certificate in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&settings.key_path)
        .map_err(|e| pem_error(&settings.key_path, e.to_string()))?;
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
