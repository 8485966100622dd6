//! How numbers and times are written on the panel: energy in kWh or MWh, power in W, kW or MW,
//! times in the site's timezone.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// "850 Wh", "12.4 kWh", "3.21 MWh".
pub fn energy(wh: f64) -> String {
    let abs = wh.abs();
    if abs < 1_000.0 {
        format!("{wh:.0} Wh")
    } else if abs < 100_000.0 {
        format!("{:.2} kWh", wh / 1_000.0)
    } else if abs < 1_000_000.0 {
        format!("{:.1} kWh", wh / 1_000.0)
    } else {
        format!("{:.2} MWh", wh / 1_000_000.0)
    }
}

/// "850 W", "4.21 kW", "1.20 MW".
pub fn power(watts: f64) -> String {
    let abs = watts.abs();
    if abs < 1_000.0 {
        format!("{watts:.0} W")
    } else if abs < 1_000_000.0 {
        format!("{:.2} kW", watts / 1_000.0)
    } else {
        format!("{:.2} MW", watts / 1_000_000.0)
    }
}

/// A power, or a dash when unknown.
pub fn power_or_dash(watts: Option<f64>) -> String {
    watts.map(power).unwrap_or_else(|| "–".into())
}

/// "97.5 %", or a dash.
pub fn percent(share: Option<f64>) -> String {
    share.map(|s| format!("{:.1} %", s * 100.0)).unwrap_or_else(|| "–".into())
}

/// "3.42 kWh/kWp", "1112 kWh/kWp" (a year), or a dash.
pub fn specific_yield(value: Option<f64>) -> String {
    match value {
        Some(v) if v >= 100.0 => format!("{v:.0} kWh/kWp"),
        Some(v) => format!("{v:.2} kWh/kWp"),
        None => "–".into(),
    }
}

/// A raw reading's value as stored, without float noise: at most three decimals.
pub fn reading_value(value: f64) -> String {
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0".into() } else { text.to_owned() }
}

/// "2026-06-01 14:05" in `tz`.
pub fn local_datetime(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

/// "14:05" in `tz`.
pub fn local_time(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%H:%M").to_string()
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

/// A metric value with its unit, trimmed to a sensible precision.
pub fn metric_value(value: f64, unit: &str) -> String {
    let digits = if value.abs() >= 100.0 {
        0
    } else if value.abs() >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.digits$} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn energies_and_powers_pick_a_readable_unit() {
        assert_eq!(energy(850.0), "850 Wh");
        assert_eq!(energy(12_400.0), "12.40 kWh");
        assert_eq!(energy(345_600.0), "345.6 kWh");
        assert_eq!(energy(3_210_000.0), "3.21 MWh");
        assert_eq!(power(850.4), "850 W");
        assert_eq!(power(-4_210.0), "-4.21 kW");
        assert_eq!(percent(Some(0.975)), "97.5 %");
        assert_eq!(percent(None), "–");
        assert_eq!(specific_yield(Some(1111.71)), "1112 kWh/kWp");
        assert_eq!(reading_value(229.24601292858082), "229.246");
        assert_eq!(reading_value(50.0), "50");
        assert_eq!(reading_value(-0.0001), "0");
    }

    #[test]
    fn times_are_written_in_the_sites_timezone() {
        let at = DateTime::parse_from_rfc3339("2026-06-01T12:05:00Z").expect("valid").with_timezone(&Utc);
        let berlin: Tz = "Europe/Berlin".parse().expect("known zone");
        assert_eq!(local_datetime(at, berlin), "2026-06-01 14:05");
        assert_eq!(ago(at - chrono::TimeDelta::minutes(150), at), "2 h ago");
    }
}
