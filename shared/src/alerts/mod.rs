//! Alerts: the rules (pure functions of what was observed), what the monitor learns of a site
//! from its reports, and the monitor that applies the rules to a provider's sites and keeps the
//! open alerts in the store. Detection lives here, apart from any process that tells people:
//! `serve` and the `monitor` role run it; the mailer only delivers the notices it leaves.

pub mod metrics;
pub mod monitor;
pub mod observed;
pub mod rules;

pub use monitor::{AlertReport, Monitor, MonitorSettings};
