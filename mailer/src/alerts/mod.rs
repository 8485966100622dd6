//! Alerts: the rules (pure) and the monitor that applies them to a provider's sites and keeps
//! the open alerts in the store.

pub mod monitor;
pub mod rules;

pub use monitor::{AlertReport, Monitor};
