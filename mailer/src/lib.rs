//! Heliograph's mailer: periodic summaries and alert emails to a provider's customers, under the
//! provider's brand, each sent exactly once.
//!
//! - [`period`]: days, ISO weeks and months in the customer's timezone (DST-correct).
//! - [`content`]: the only bridge to the shared report computation; [`summary`] is its output.
//! - [`view`] and [`render`]: figures into words and bars, then askama templates.
//! - [`compose`]: MIME message with brand, unsubscribe headers and a stable `Message-ID`.
//! - [`transport`]: SMTP (pooled, TLS) or a directory of `.eml` files.
//! - [`delivery`]: claim durably, send, record the outcome, retry with backoff.
//! - [`alerts`]: offline, fault and underperformance rules and the monitor that applies them.
//! - [`notices`] and [`summaries`]: what each kind of email says and when it is due.
//! - [`service`]: the [`Mailer`] that runs rounds with bounded concurrency.

pub mod alerts;
pub mod compose;
pub mod content;
pub mod delivery;
mod error;
pub mod metrics;
pub mod notices;
pub mod period;
pub mod render;
pub mod roster;
pub mod service;
pub mod settings;
pub mod summaries;
pub mod summary;
pub mod transport;
pub mod view;

pub use delivery::Delivered;
pub use error::MailerError;
pub use service::{Mailer, RoundReport};
pub use settings::{MailerSettings, SmtpSecurity, SmtpSettings, TransportKind};
pub use transport::{FileOutbox, Outbox, SmtpOutbox};
