//! Storage errors, phrased for whoever has to act on them.

use crate::domain::{GatewayId, IdError, ProviderSlug, ReplicationError};

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
    Unavailable(String),
    /// The store refused or failed the operation.
    #[error("store error: {0}")]
    Backend(String),
    /// Stored data could not be read back into domain types.
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    /// A setting cannot be applied.
    #[error("invalid store setting: {0}")]
    Config(String),
}

impl StoreError {
    /// True when retrying later may succeed (the store is down or slow).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

impl From<IdError> for StoreError {
    fn from(err: IdError) -> Self {
        Self::Corrupt(err.to_string())
    }
}

impl From<ReplicationError> for StoreError {
    fn from(err: ReplicationError) -> Self {
        Self::Config(err.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(err: serde_json::Error) -> Self {
        Self::Corrupt(err.to_string())
    }
}
