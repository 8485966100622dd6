//! SMTP with lettre on tokio and rustls: STARTTLS, implicit TLS, or plain to a local relay;
//! optional authentication; a pool of connections reused across messages.

use std::time::Duration;

use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use super::{SendError, TransportError};
use crate::settings::{SmtpSecurity, SmtpSettings};

/// A pooled SMTP client. lettre opens an extra connection whenever all pooled ones are busy
/// (and closes it after), so sends are limited to the pool's size: every message goes over a
/// kept-open connection and the server sees at most `pool_size` of them.
pub struct SmtpOutbox {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    connections: tokio::sync::Semaphore,
}

fn is_local(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl SmtpOutbox {
    /// Builds the client; nothing is connected until the first message. Must be called inside
    /// a tokio runtime (the pool starts a task that closes idle connections).
    pub fn new(settings: &SmtpSettings) -> Result<Self, TransportError> {
        let host = settings.host.trim();
        let lettre_error = |source| TransportError::Smtp { host: host.to_owned(), source };
        let mut builder = match settings.security {
            SmtpSecurity::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(lettre_error)?
            }
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(lettre_error)?,
            SmtpSecurity::Plain => {
                if !is_local(host) {
                    return Err(TransportError::PlainToRemote(host.to_owned()));
                }
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).port(25)
            }
        };
        if let Some(port) = settings.port {
            builder = builder.port(port);
        }
        if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose_secret().to_owned()));
        }
        let pool_size = settings.pool_size.max(1);
        let transport = builder
            .timeout(Some(Duration::from_secs(settings.timeout_secs.max(1))))
            .pool_config(PoolConfig::new().max_size(pool_size))
            .build();
        let connections = tokio::sync::Semaphore::new(usize::try_from(pool_size).unwrap_or(1));
        Ok(Self { transport, connections })
    }

    /// Sends one message over a pooled connection.
    pub async fn send(&self, message: &Message) -> Result<(), SendError> {
        let _connection = self
            .connections
            .acquire()
            .await
            .map_err(|_| SendError::Transient("the SMTP client is shutting down".into()))?;
        match self.transport.send(message.clone()).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
            Err(e) => Err(SendError::Transient(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn plain_smtp_to_a_remote_host_is_refused() {
        let settings = SmtpSettings {
            host: "mail.example.com".into(),
            security: SmtpSecurity::Plain,
            ..SmtpSettings::default()
        };
        assert!(matches!(SmtpOutbox::new(&settings), Err(TransportError::PlainToRemote(_))));
        let local = SmtpSettings {
            host: "127.0.0.1".into(),
            security: SmtpSecurity::Plain,
            ..SmtpSettings::default()
        };
        assert!(SmtpOutbox::new(&local).is_ok());
    }
}
