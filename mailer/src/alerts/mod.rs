//! Alerts: the rules (pure), the monitor that applies them to a provider's sites and keeps the
//! open alerts in the store, and the email that tells a customer what opened and cleared.

pub mod email;
pub mod monitor;
pub mod rules;

pub use monitor::{AlertReport, Monitor};
