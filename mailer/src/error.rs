//! The mailer's errors, phrased for whoever has to act on them.

use heliograph_shared::store::StoreError;
use heliograph_shared::{CustomerId, DeliveryKeyError, ProviderSlug, UnsubscribeError};

use crate::mime::ComposeError;
use crate::summary::from_reports::ContentError;
use crate::templates::RenderError;
use crate::transport::TransportError;

/// What went wrong in the mailer.
#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    /// The store failed; the round is retried at the next tick.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The transport could not be set up.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A message could not be built.
    #[error(transparent)]
    Compose(#[from] ComposeError),
    /// A template failed.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The report data could not be computed.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// A delivery key could not be formed.
    #[error(transparent)]
    Key(#[from] DeliveryKeyError),
    /// The unsubscribe key is unusable.
    #[error("unsubscribe secret: {0}")]
    UnsubscribeKey(#[from] UnsubscribeError),
    /// No such provider.
    #[error("provider {0} does not exist; list them with `heliograph provider list`")]
    UnknownProvider(ProviderSlug),
    /// No such customer at the provider.
    #[error(
        "customer {customer} does not exist at provider {provider}; list them with `heliograph customer list`"
    )]
    UnknownCustomer {
        /// The provider.
        provider: ProviderSlug,
        /// The customer id.
        customer: CustomerId,
    },
}
