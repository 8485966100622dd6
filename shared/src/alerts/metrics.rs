//! The monitor's Prometheus metrics, recorded through the `metrics` facade; the process that runs
//! the monitor installs the exporter and serves `/metrics`.

use metrics::counter;

/// Checks of every provider's sites, by outcome (`ok`; `failed`: the provider list could not be
/// read).
pub const CHECKS: &str = "heliograph_monitor_checks_total";

/// Alerts opened and cleared, by provider, kind and change (`opened`, `cleared`).
pub const ALERTS: &str = "heliograph_monitor_alerts_total";

/// Counts one check of every provider.
pub fn check(ok: bool) {
    counter!(CHECKS, "outcome" => if ok { "ok" } else { "failed" }).increment(1);
}

/// Counts an alert this process opened or cleared.
pub fn alert(provider: &str, kind: &'static str, change: &'static str) {
    counter!(ALERTS, "provider" => provider.to_owned(), "kind" => kind, "change" => change).increment(1);
}
