//! Where a finished message goes: an SMTP server, or a directory of `.eml` files.

mod file;
mod smtp;

use lettre::Message;

pub use self::file::FileOutbox;
pub use self::smtp::SmtpOutbox;

/// Why a message was not handed over.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// It may work later (server down, timeout, 4xx answer): retry with backoff.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// The server refused it for good (5xx answer, e.g. unknown mailbox): do not retry.
    #[error("refused: {0}")]
    Permanent(String),
}

/// Why a transport cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Plain SMTP was configured for a remote host.
    #[error(
        "plain SMTP is only allowed to a relay on this machine (got host {0:?}); use security = \"starttls\" or \"tls\""
    )]
    PlainToRemote(String),
    /// lettre refused the SMTP settings (e.g. TLS parameters for the host name).
    #[error("SMTP settings for {host:?} are not usable: {source}")]
    Smtp {
        /// The configured host.
        host: String,
        /// What lettre said.
        source: lettre::transport::smtp::Error,
    },
    /// The outbox directory cannot be created.
    #[error("cannot create the outbox directory {path}: {source}; check the path and its permissions")]
    OutboxDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A transport: SMTP for production, files for the embedded default and for inspection.
pub enum Outbox {
    /// An SMTP server with pooled connections.
    Smtp(SmtpOutbox),
    /// A directory of `.eml` files.
    File(FileOutbox),
}

impl Outbox {
    /// Hands `message` over; `name` (`[A-Za-z0-9._-]`) names the file of the file transport.
    pub async fn send(&self, message: &Message, name: &str) -> Result<(), SendError> {
        match self {
            Self::Smtp(smtp) => smtp.send(message).await,
            Self::File(file) => file.send(message, name).await,
        }
    }

    /// "smtp" or "file", for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Smtp(_) => "smtp",
            Self::File(_) => "file",
        }
    }
}
