//! Heliograph's mailer: periodic summaries and alert emails to a provider's customers, under the
//! provider's brand, each sent exactly once.
//!
//! - [`summary`]: the period a summary covers (days, ISO weeks, months in the customer's
//!   timezone), its figures read from the shared report computation, and the email.
//! - [`alerts`]: the alert email (detection is `heliograph_shared::alerts`, run by `serve` and
//!   the `monitor` role).
//! - [`presentation`] and [`templates`]: figures into words and bars, then askama templates.
//! - [`mime`]: MIME message with brand, unsubscribe headers and a stable `Message-ID`.
//! - [`transport`]: SMTP (pooled, TLS) or a directory of `.eml` files.
//! - [`delivery`]: claim durably, send, record the outcome, retry with backoff.
//! - [`service`]: the [`Mailer`] that runs rounds with bounded concurrency.

pub mod alerts;
pub mod delivery;
mod error;
pub mod metrics;
pub mod mime;
pub mod presentation;
pub mod service;
pub mod settings;
pub mod summary;
pub mod templates;
pub mod transport;

pub use delivery::Delivered;
pub use error::MailerError;
pub use service::{Mailer, RoundReport};
pub use settings::{MailerSettings, SmtpSecurity, SmtpSettings, TransportKind};
pub use transport::{FileOutbox, Outbox, SmtpOutbox};
