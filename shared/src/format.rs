//! How figures are written for people, the one rule the panel, the API's descriptions, CSV
//! exports and emails share, so that one quantity reads the same wherever it appears.
//!
//! - Energy in kWh (MWh from 10 MWh), power in kW (MW from 10 MW): one unit down a column, so
//!   "0.74 kWh" sits above "16.78 kWh" rather than "744 Wh".
//! - Two decimals below 100, one below 1000, none above (at least three significant digits, at
//!   most four below 10 000); thousands grouped with a narrow
//!   no-break space, which no reader takes for a decimal mark, whatever their locale.
//! - A value that rounds to zero is written "0", never "-0".
//! - Lifetime counters in whole kWh, so they can be compared with a device's display.
//! - CSV keeps full precision, rounded to the metric's resolution to drop float noise.
//! - Times in the site's timezone, one date format ("2026-06-01 14:05").

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::domain::{DeviceKind, Metric, Quantity};

/// Groups thousands: U+202F, a narrow no-break space.
const GROUP: char = '\u{202f}';

/// What a missing figure is written as.
pub const MISSING: &str = "–";

/// `value` with `decimals` decimals, thousands grouped, and no "-0".
pub fn number(value: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, value.abs());
    let zero = text.chars().all(|c| c == '0' || c == '.');
    let (whole, fraction) = text.split_once('.').map_or((text.as_str(), None), |(w, f)| (w, Some(f)));
    let mut out = String::with_capacity(text.len() + 4);
    if value < 0.0 && !zero {
        out.push('-');
    }
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            out.push(GROUP);
        }
        out.push(digit);
    }
    if let Some(fraction) = fraction {
        out.push('.');
        out.push_str(fraction);
    }
    out
}

/// Decimals of a kWh figure at the resolution energies and powers are computed to (0.1 Wh or
/// 0.1 W). Figures are rounded to it before they are written, so a figure read back from a CSV
/// is written exactly as the panel writes the one it came from.
const KILO_DECIMALS: usize = 4;

/// `value` (Wh or W) at its resolution, 0.1.
fn at_resolution(value: f64) -> f64 {
    let value = (value * 10.0).round() / 10.0;
    if value == 0.0 { 0.0 } else { value }
}

/// Text without trailing zeros or "-0": "2.5", "1025927", "0".
fn trimmed(text: &str) -> String {
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.') } else { text };
    if text == "-0" { "0".into() } else { text.to_owned() }
}

/// Two decimals below 100, one below 1000, none above; a value that rounds to zero is "0".
fn significant(value: f64) -> String {
    let abs = value.abs();
    let decimals = if abs < 99.995 {
        2
    } else if abs < 999.95 {
        1
    } else {
        0
    };
    let text = number(value, decimals);
    if text.chars().all(|c| c == '0' || c == '.') { "0".into() } else { text }
}

/// "0.74 kWh", "16.78 kWh", "363.5 kWh", "1 234 kWh", "34.04 MWh".
pub fn energy(wh: f64) -> String {
    let wh = at_resolution(wh);
    if wh.abs() < 9_999_500.0 {
        format!("{} kWh", significant(wh / 1_000.0))
    } else {
        format!("{} MWh", significant(wh / 1_000_000.0))
    }
}

/// "0.85 kW", "4.21 kW", "-2.83 kW", "0 kW", "12.30 MW".
pub fn power(watts: f64) -> String {
    let watts = at_resolution(watts);
    if watts.abs() < 9_999_500.0 {
        format!("{} kW", significant(watts / 1_000.0))
    } else {
        format!("{} MW", significant(watts / 1_000_000.0))
    }
}

/// A lifetime counter in whole kWh: "34 041 kWh".
pub fn counter(wh: f64) -> String {
    format!("{} kWh", number(wh / 1_000.0, 0))
}

/// A plant's size as entered, without trailing zeros: "9.8 kWp", "24 kWp", "1 250 kWp".
pub fn capacity(kwp: f64) -> String {
    let text = number(kwp, 2);
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.') } else { &text };
    format!("{text} kWp")
}

/// "3.42 kWh/kWp", "1 112 kWh/kWp" (a year).
pub fn specific_yield(kwh_per_kwp: f64) -> String {
    let decimals = if kwh_per_kwp.abs() >= 100.0 { 0 } else { 2 };
    format!("{} kWh/kWp", number(kwh_per_kwp, decimals))
}

/// "97.5 %" from a share of one.
pub fn percent(share: f64) -> String {
    format!("{} %", number(share * 100.0, 1))
}

/// A performance ratio as installers read it: "84.2 %" from 0.842.
pub fn performance_ratio(pr: f64) -> String {
    percent(pr)
}

/// A performance ratio in a CSV cell, as a share of one: "0.842".
pub fn csv_performance_ratio(pr: f64) -> String {
    format!("{pr:.3}")
}

/// "25.0 °C".
pub fn temperature(celsius: f64) -> String {
    format!("{} °C", number(celsius, 1))
}

/// A reading's value in the panel, by what it measures: energies as counters, powers in kW,
/// the rest with a fixed number of decimals per quantity.
pub fn metric(metric: Metric, value: f64) -> String {
    match metric.quantity() {
        Quantity::Energy => counter(value),
        Quantity::Power => power(value),
        Quantity::Temperature => temperature(value),
        Quantity::Voltage => format!("{} V", number(value, 1)),
        Quantity::Current => format!("{} A", number(value, 2)),
        Quantity::Frequency => format!("{} Hz", number(value, 2)),
        Quantity::Irradiance => format!("{} W/m²", number(value, 0)),
    }
}

/// Decimals a metric is stored to: finer digits are float noise, never measurement.
fn resolution(metric: Metric) -> usize {
    match metric.quantity() {
        Quantity::Power | Quantity::Energy | Quantity::Irradiance => 1,
        Quantity::Voltage | Quantity::Temperature => 2,
        Quantity::Current | Quantity::Frequency => 3,
    }
}

/// A reading's value rounded to its metric's resolution, for machine answers (API, CSV).
pub fn rounded(metric: Metric, value: f64) -> f64 {
    let scale = 10f64.powi(resolution(metric) as i32);
    let value = (value * scale).round() / scale;
    if value == 0.0 { 0.0 } else { value }
}

/// A reading's value in CSV: its canonical unit, rounded to the metric's resolution, trailing
/// zeros dropped, no grouping: "1025927", "229.25", "0".
pub fn csv_value(metric: Metric, value: f64) -> String {
    trimmed(&format!("{:.*}", resolution(metric), value))
}

/// An energy in CSV, in kWh at the resolution figures are computed to: "2.5", "45.8349".
pub fn csv_kwh(wh: f64) -> String {
    trimmed(&format!("{:.*}", KILO_DECIMALS, at_resolution(wh) / 1_000.0))
}

/// A power in CSV, in W at its resolution: "3100", "412.5".
pub fn csv_watts(watts: f64) -> String {
    trimmed(&format!("{:.1}", at_resolution(watts)))
}

/// The label of a metric's column: "AC power", "Energy counter".
pub fn metric_label(metric: Metric) -> &'static str {
    match metric {
        Metric::AcPower => "AC power",
        Metric::DcPower => "DC power",
        Metric::Energy => "Energy counter",
        Metric::AcVoltage => "AC voltage",
        Metric::AcCurrent => "AC current",
        Metric::DcVoltage => "DC voltage",
        Metric::DcCurrent => "DC current",
        Metric::Frequency => "Frequency",
        Metric::Temperature => "Temperature",
        Metric::Irradiance => "Irradiance",
        Metric::ImportEnergy => "Import counter",
        Metric::ExportEnergy => "Export counter",
    }
}

/// "Inverter", "Irradiance sensor".
pub fn device_kind(kind: DeviceKind) -> &'static str {
    match kind {
        DeviceKind::Inverter => "Inverter",
        DeviceKind::Meter => "Meter",
        DeviceKind::IrradianceSensor => "Irradiance sensor",
        DeviceKind::StringMonitor => "String monitor",
        DeviceKind::Other => "Device",
    }
}

/// "2026-06-01 14:05" in `tz`.
pub fn local_datetime(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

/// "14:05" in `tz`.
pub fn local_time(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%H:%M").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The expected text with the grouping space spelled as a plain one.
    fn plain(text: String) -> String {
        text.replace(GROUP, " ")
    }

    #[test]
    fn energies_stay_in_kwh_with_at_least_three_significant_digits() {
        assert_eq!(energy(744.0), "0.74 kWh");
        assert_eq!(energy(16_784.0), "16.78 kWh");
        assert_eq!(energy(363_540.0), "363.5 kWh");
        assert_eq!(plain(energy(1_234_400.0)), "1 234 kWh");
        assert_eq!(energy(34_041_283.0), "34.04 MWh");
        assert_eq!(energy(99_996.0), "100.0 kWh", "rounding up moves to the next digit rule");
    }

    #[test]
    fn no_figure_is_written_as_minus_zero() {
        assert_eq!(energy(-0.0), "0 kWh");
        assert_eq!(energy(-1.0), "0 kWh");
        assert_eq!(power(-0.3), "0 kW");
        assert_eq!(power(0.0), "0 kW");
        assert_eq!(capacity(-0.0), "0 kWp");
        assert_eq!(temperature(-0.04), "0.0 °C");
        assert_eq!(csv_value(Metric::AcPower, -0.01), "0");
        assert_eq!(power(-2_830.0), "-2.83 kW");
    }

    #[test]
    fn counters_capacities_and_temperatures_have_one_form() {
        assert_eq!(plain(counter(34_041_283.0)), "34 041 kWh");
        assert_eq!(plain(metric(Metric::ImportEnergy, 34_041_283.0)), "34 041 kWh");
        assert_eq!(capacity(9.8), "9.8 kWp");
        assert_eq!(capacity(24.0), "24 kWp");
        assert_eq!(plain(capacity(1250.0)), "1 250 kWp");
        assert_eq!(temperature(9.0), "9.0 °C");
        assert_eq!(metric(Metric::Temperature, 11.14), "11.1 °C");
        assert_eq!(metric(Metric::AcVoltage, 230.04), "230.0 V");
        assert_eq!(specific_yield(3.421), "3.42 kWh/kWp");
        assert_eq!(plain(specific_yield(1111.7)), "1 112 kWh/kWp");
        assert_eq!(percent(0.975), "97.5 %");
        assert_eq!(performance_ratio(0.842), "84.2 %");
        assert_eq!(csv_performance_ratio(0.813_043), "0.813");
    }

    #[test]
    fn csv_values_drop_float_noise_but_keep_the_resolution() {
        assert_eq!(csv_value(Metric::Energy, 1_025_926.999_999_999_9), "1025927");
        assert_eq!(csv_value(Metric::Energy, 1_025_926.4), "1025926.4");
        assert_eq!(csv_value(Metric::AcVoltage, 229.246_012_928_580_82), "229.25");
        assert_eq!(csv_value(Metric::Frequency, 50.0), "50");
        assert_eq!(csv_kwh(45_834.94), "45.8349");
        assert_eq!(csv_kwh(2_500.0), "2.5");
        assert_eq!(csv_kwh(-0.01), "0");
        assert_eq!(csv_watts(3_100.0), "3100");
        assert_eq!(rounded(Metric::Energy, 1_025_926.999_999_999_9), 1_025_927.0);
        assert!(rounded(Metric::AcPower, -0.01).is_sign_positive());
    }

    #[test]
    fn a_figure_read_back_from_csv_is_written_as_the_original() {
        // Rounded twice (to 45.835 kWh in the CSV, then to two decimals) this would read 45.84.
        for wh in [45_834.94, 45_834.96, 0.04, 999_999.95, 12_345.678] {
            let back: f64 = csv_kwh(wh).parse().expect("a number");
            assert_eq!(energy(back * 1_000.0), energy(wh), "{wh} Wh");
        }
    }

    #[test]
    fn labels_are_words_not_identifiers() {
        assert_eq!(device_kind(DeviceKind::IrradianceSensor), "Irradiance sensor");
        assert_eq!(metric_label(Metric::AcPower), "AC power");
        assert_eq!(metric_label(Metric::ImportEnergy), "Import counter");
        for m in Metric::ALL {
            assert!(!metric_label(m).contains('_'), "{m:?}");
        }
    }
}
