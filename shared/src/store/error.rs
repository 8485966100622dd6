//! Storage errors, phrased for whoever has to act on them.

use std::error::Error;
use std::fmt;

use crate::domain::{GatewayId, IdError, LocationError, ProviderSlug, ReplicationError};

/// The driver's, database's or decoder's own error, kept so that callers can inspect it
/// (`Error::source`, downcasting) rather than parse a message.
type Cause = Box<dyn Error + Send + Sync + 'static>;

/// What failed, and the error underneath when there is one.
///
/// Its message includes the cause's, so that a log line written with `%error` is complete; the
/// edge that prints whole chains (`src/main.rs`) skips a cause already part of the message.
#[derive(Debug)]
pub struct Failure {
    context: String,
    cause: Option<Cause>,
}

impl Failure {
    /// A failure described by `context` alone.
    pub fn new(context: impl Into<String>) -> Self {
        Self { context: context.into(), cause: None }
    }

    /// A failure described by `context`, caused by `cause`.
    pub fn caused_by(context: impl Into<String>, cause: impl Error + Send + Sync + 'static) -> Self {
        Self { context: context.into(), cause: Some(Box::new(cause)) }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cause {
            Some(cause) => write!(f, "{}: {cause}", self.context),
            None => f.write_str(&self.context),
        }
    }
}

impl Error for Failure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.cause.as_deref().map(|cause| cause as &(dyn Error + 'static))
    }
}

impl From<String> for Failure {
    fn from(context: String) -> Self {
        Self::new(context)
    }
}

impl From<&str> for Failure {
    fn from(context: &str) -> Self {
        Self::new(context)
    }
}

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No provider with that slug.
    #[error("provider {0} does not exist; create it with `heliograph provider add`")]
    UnknownProvider(ProviderSlug),
    /// The slug is already registered.
    #[error("provider {0} already exists")]
    ProviderExists(ProviderSlug),
    /// Another provider owns the gateway id.
    #[error(
        "gateway id {0} already belongs to another provider; gateway ids are unique across the installation"
    )]
    GatewayTaken(GatewayId),
    /// The gateway id is already registered with this provider.
    #[error("gateway {0} already exists")]
    GatewayExists(GatewayId),
    /// No such gateway at this provider.
    #[error("gateway {0} does not exist")]
    UnknownGateway(GatewayId),
    /// The store cannot be reached or did not answer in time; the operation may be retried.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] Failure),
    /// The store refused or failed the operation.
    #[error("store error: {0}")]
    Backend(#[source] Failure),
    /// Stored data could not be read back into domain types.
    #[error("stored data is not valid: {0}")]
    Corrupt(#[source] Failure),
    /// A setting cannot be applied.
    #[error("invalid store setting: {0}")]
    Config(#[source] Failure),
}

impl StoreError {
    /// True when retrying later may succeed (the store is down or slow).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

impl From<IdError> for StoreError {
    fn from(err: IdError) -> Self {
        Self::Corrupt(Failure::caused_by("a stored identifier", err))
    }
}

impl From<LocationError> for StoreError {
    fn from(err: LocationError) -> Self {
        Self::Corrupt(Failure::caused_by("a stored site location", err))
    }
}

impl From<ReplicationError> for StoreError {
    fn from(err: ReplicationError) -> Self {
        Self::Config(Failure::caused_by("replication", err))
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(err: serde_json::Error) -> Self {
        Self::Corrupt(Failure::caused_by("stored JSON", err))
    }
}
