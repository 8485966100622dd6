//! The panel's side of [`heliograph_shared::format`]: the shared rule for every figure, plus the
//! panel's own words for what is missing and for how long ago something happened.

use chrono::{DateTime, Utc};
pub use heliograph_shared::format::{
    MISSING, capacity, counter, csv_value, device_kind, energy, local_datetime, local_time, metric,
    metric_label, power,
};

/// A power, or a dash when unknown.
pub fn power_or_dash(watts: Option<f64>) -> String {
    watts.map(power).unwrap_or_else(|| MISSING.into())
}

/// "97.5 %", or a dash.
pub fn percent(share: Option<f64>) -> String {
    share.map(heliograph_shared::format::percent).unwrap_or_else(|| MISSING.into())
}

/// A performance ratio, "84.2 %", or a dash where there is none (no sensor, no sun).
pub fn performance_ratio(pr: Option<f64>) -> String {
    pr.map(heliograph_shared::format::performance_ratio).unwrap_or_else(|| MISSING.into())
}

/// "3.42 kWh/kWp", "1 112 kWh/kWp" (a year), or a dash.
pub fn specific_yield(value: Option<f64>) -> String {
    value.map(heliograph_shared::format::specific_yield).unwrap_or_else(|| MISSING.into())
}

/// "5 min ago", "3 h ago", "2 days ago".
pub fn ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let minutes = (now - at).num_minutes().max(0);
    match minutes {
        0 => "just now".into(),
        1..=119 => format!("{minutes} min ago"),
        120..=2879 => format!("{} h ago", minutes / 60),
        _ => format!("{} days ago", minutes / 1440),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_figures_are_a_dash_and_times_are_local() {
        assert_eq!(percent(None), "–");
        assert_eq!(specific_yield(None), "–");
        assert_eq!(power_or_dash(None), "–");
        assert_eq!(power_or_dash(Some(-0.2)), "0 kW");
        let at = DateTime::parse_from_rfc3339("2026-06-01T12:05:00Z").expect("valid").with_timezone(&Utc);
        let berlin: chrono_tz::Tz = "Europe/Berlin".parse().expect("known zone");
        assert_eq!(local_datetime(at, berlin), "2026-06-01 14:05");
        assert_eq!(ago(at - chrono::TimeDelta::minutes(150), at), "2 h ago");
    }
}
