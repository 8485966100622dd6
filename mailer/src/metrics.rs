//! The mailer's Prometheus metrics, recorded through the `metrics` facade; the process that runs
//! the mailer installs the exporter and serves `/metrics`.

use metrics::counter;

use heliograph_shared::DeliveryKey;

/// Emails handed over or not, by provider, kind (`summary`, `alerts`) and outcome (`sent`,
/// `retry`, `rejected`).
pub const EMAILS: &str = "heliograph_mailer_emails_total";

/// Scheduler rounds run, by outcome (`ok`, `failed`: the store could not be read).
pub const ROUNDS: &str = "heliograph_mailer_rounds_total";

/// Counts one scheduler round.
pub fn round(ok: bool) {
    counter!(ROUNDS, "outcome" => if ok { "ok" } else { "failed" }).increment(1);
}

/// Counts one delivery attempt's outcome.
pub fn email(provider: &str, key: &DeliveryKey, outcome: &'static str) {
    let kind = match key.topic().split_once(':') {
        Some(("summary", _)) => "summary",
        Some(("alerts", _)) => "alerts",
        _ => "other",
    };
    counter!(EMAILS, "provider" => provider.to_owned(), "kind" => kind, "outcome" => outcome).increment(1);
}
