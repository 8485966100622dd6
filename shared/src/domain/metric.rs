//! The canonical metrics a reading carries, and the container that holds them with the rest.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::units::{Quantity, Unit, UnitError};

/// A metric with a canonical name and unit; everything else a gateway sends is kept as an extra.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// AC output power, W (negative on a meter means export).
    AcPower,
    /// DC input power, W.
    DcPower,
    /// Lifetime energy counter, Wh.
    Energy,
    /// AC voltage, V.
    AcVoltage,
    /// AC current, A.
    AcCurrent,
    /// DC voltage, V.
    DcVoltage,
    /// DC current, A.
    DcCurrent,
    /// Grid frequency, Hz.
    Frequency,
    /// Temperature (cabinet, heat sink, module or ambient), °C.
    Temperature,
    /// Irradiance, W/m².
    Irradiance,
    /// Lifetime energy imported from the grid, Wh.
    ImportEnergy,
    /// Lifetime energy exported to the grid, Wh.
    ExportEnergy,
}

impl Metric {
    /// Every canonical metric, in storage column order.
    pub const ALL: [Metric; 12] = [
        Metric::AcPower,
        Metric::DcPower,
        Metric::Energy,
        Metric::AcVoltage,
        Metric::AcCurrent,
        Metric::DcVoltage,
        Metric::DcCurrent,
        Metric::Frequency,
        Metric::Temperature,
        Metric::Irradiance,
        Metric::ImportEnergy,
        Metric::ExportEnergy,
    ];

    /// The canonical name, also the storage column name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::AcPower => "ac_power",
            Metric::DcPower => "dc_power",
            Metric::Energy => "energy",
            Metric::AcVoltage => "ac_voltage",
            Metric::AcCurrent => "ac_current",
            Metric::DcVoltage => "dc_voltage",
            Metric::DcCurrent => "dc_current",
            Metric::Frequency => "frequency",
            Metric::Temperature => "temperature",
            Metric::Irradiance => "irradiance",
            Metric::ImportEnergy => "import_energy",
            Metric::ExportEnergy => "export_energy",
        }
    }

    /// What the metric measures, and so its canonical unit.
    pub fn quantity(self) -> Quantity {
        match self {
            Metric::AcPower | Metric::DcPower => Quantity::Power,
            Metric::Energy | Metric::ImportEnergy | Metric::ExportEnergy => Quantity::Energy,
            Metric::AcVoltage | Metric::DcVoltage => Quantity::Voltage,
            Metric::AcCurrent | Metric::DcCurrent => Quantity::Current,
            Metric::Frequency => Quantity::Frequency,
            Metric::Temperature => Quantity::Temperature,
            Metric::Irradiance => Quantity::Irradiance,
        }
    }

    /// Finds a metric by its canonical name or a common alias, ignoring ASCII case.
    pub fn from_name(name: &str) -> Option<Metric> {
        const NAMES: [(&str, Metric); 33] = [
            ("ac_power", Metric::AcPower),
            ("energy", Metric::Energy),
            ("ac_voltage", Metric::AcVoltage),
            ("ac_current", Metric::AcCurrent),
            ("dc_power", Metric::DcPower),
            ("dc_voltage", Metric::DcVoltage),
            ("dc_current", Metric::DcCurrent),
            ("frequency", Metric::Frequency),
            ("temperature", Metric::Temperature),
            ("irradiance", Metric::Irradiance),
            ("import_energy", Metric::ImportEnergy),
            ("export_energy", Metric::ExportEnergy),
            ("pac", Metric::AcPower),
            ("p_ac", Metric::AcPower),
            ("power", Metric::AcPower),
            ("pdc", Metric::DcPower),
            ("p_dc", Metric::DcPower),
            ("e_total", Metric::Energy),
            ("total_energy", Metric::Energy),
            ("energy_total", Metric::Energy),
            ("uac", Metric::AcVoltage),
            ("vac", Metric::AcVoltage),
            ("u_ac", Metric::AcVoltage),
            ("iac", Metric::AcCurrent),
            ("i_ac", Metric::AcCurrent),
            ("udc", Metric::DcVoltage),
            ("vdc", Metric::DcVoltage),
            ("u_dc", Metric::DcVoltage),
            ("idc", Metric::DcCurrent),
            ("i_dc", Metric::DcCurrent),
            ("freq", Metric::Frequency),
            ("fac", Metric::Frequency),
            ("temp", Metric::Temperature),
        ];
        const MORE: [(&str, Metric); 5] = [
            ("irr", Metric::Irradiance),
            ("ghi", Metric::Irradiance),
            ("poa_irradiance", Metric::Irradiance),
            ("energy_import", Metric::ImportEnergy),
            ("energy_export", Metric::ExportEnergy),
        ];
        NAMES
            .iter()
            .chain(MORE.iter())
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
            .map(|(_, metric)| *metric)
    }

    /// Converts a value sent with an optional unit (absent means canonical) to the canonical unit.
    pub fn to_canonical(self, value: f64, unit: Option<&str>) -> Result<f64, UnitError> {
        match unit {
            None | Some("") => Ok(value),
            Some(spelling) => Ok(Unit::parse_for(spelling, self.quantity())?.to_canonical(value)),
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a metric value cannot be stored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricError {
    /// Not a number at all.
    #[error("value {0:?} of {1} is not a number")]
    NotANumber(String, String),
    /// NaN or infinite.
    #[error("value of {0} is not finite")]
    NotFinite(String),
    /// Finite but beyond any physical plausibility (|v| > 1e12 in canonical units).
    #[error("value {value} of {metric} is out of range (|value| must be at most 1e12)")]
    OutOfRange {
        /// Metric or extra name.
        metric: String,
        /// The converted value.
        value: f64,
    },
    /// The unit could not be understood or does not fit the metric.
    #[error("{metric}: {source}")]
    Unit {
        /// Metric or extra name.
        metric: String,
        /// The unit problem.
        source: UnitError,
    },
    /// An extra metric's name is empty, too long, or has unprintable characters.
    #[error("metric name {0:?} is not allowed: use 1-64 printable characters")]
    BadName(String),
}

/// Largest magnitude accepted for any value in canonical units.
pub const MAX_ABS_VALUE: f64 = 1e12;

/// The values of one reading: canonical metrics by slot, plus extras kept under their own names.
///
/// A slot's value is kept beside a bit saying whether it holds one, rather than as an
/// `Option<f64>` (16 bytes a slot): a reading is moved several times between the parser and the
/// store, and this keeps it 90 bytes smaller. It serializes as before, slots as `Option`s.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(from = "SerializedMetrics<BTreeMap<String, f64>>")]
pub struct Metrics {
    /// The canonical values by slot; a slot not in `present` holds 0.
    values: [f64; METRIC_SLOTS],
    /// Bit `i` set: slot `i` holds a value.
    present: u16,
    /// Metrics that are not canonical, kept as sent (name, with `[unit]` appended when one was given).
    pub extra: BTreeMap<String, f64>,
}

/// The number of canonical metrics, one bit each in [`Metrics::present`].
const METRIC_SLOTS: usize = Metric::ALL.len();
const _: () = assert!(METRIC_SLOTS <= u16::BITS as usize);

/// [`Metrics`] as the spool writes it and reads it back: canonical slots as optional values.
#[derive(Serialize, Deserialize)]
#[serde(rename = "Metrics")]
struct SerializedMetrics<Extra> {
    values: [Option<f64>; METRIC_SLOTS],
    extra: Extra,
}

impl From<SerializedMetrics<BTreeMap<String, f64>>> for Metrics {
    fn from(serialized: SerializedMetrics<BTreeMap<String, f64>>) -> Self {
        let mut metrics = Metrics { extra: serialized.extra, ..Metrics::default() };
        for (slot, value) in serialized.values.into_iter().enumerate() {
            metrics.put(slot, value);
        }
        metrics
    }
}

impl Serialize for Metrics {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SerializedMetrics { values: std::array::from_fn(|slot| self.slot(slot)), extra: &self.extra }
            .serialize(serializer)
    }
}

impl Metrics {
    /// The value of a canonical metric.
    #[inline]
    pub fn get(&self, metric: Metric) -> Option<f64> {
        self.slot(metric.index())
    }

    fn slot(&self, slot: usize) -> Option<f64> {
        (self.present & (1 << slot) != 0).then(|| self.values[slot])
    }

    fn put(&mut self, slot: usize, value: Option<f64>) {
        match value {
            Some(value) => {
                self.values[slot] = value;
                self.present |= 1 << slot;
            }
            None => {
                // Absent slots hold 0, so that equal metrics compare equal.
                self.values[slot] = 0.0;
                self.present &= !(1 << slot);
            }
        }
    }

    /// Sets a canonical metric (already in its canonical unit), checking it is finite and plausible.
    #[inline]
    pub fn set(&mut self, metric: Metric, value: f64) -> Result<(), MetricError> {
        Self::check_value(metric.name(), value)?;
        self.put(metric.index(), Some(value));
        Ok(())
    }

    /// Sets a canonical metric without checks; for values read back from the store.
    pub fn set_unchecked(&mut self, metric: Metric, value: Option<f64>) {
        self.put(metric.index(), value);
    }

    /// Adds a metric by name: canonical names and aliases are converted, others kept as extras.
    pub fn insert_named(&mut self, name: &str, value: f64, unit: Option<&str>) -> Result<(), MetricError> {
        match Metric::from_name(name) {
            Some(metric) => {
                let canonical = metric
                    .to_canonical(value, unit)
                    .map_err(|source| MetricError::Unit { metric: metric.name().to_owned(), source })?;
                self.set(metric, canonical)
            }
            None => self.insert_extra(name, value, unit),
        }
    }

    /// Keeps a non-canonical metric under its name (and unit, if given).
    pub fn insert_extra(&mut self, name: &str, value: f64, unit: Option<&str>) -> Result<(), MetricError> {
        if unit.is_some_and(|u| !u.is_empty() && !printable(u)) {
            return Err(bad_name(name));
        }
        Self::check_extra_name(name)?;
        Self::check_value(name, value)?;
        let key = match unit {
            Some(u) if !u.is_empty() => format!("{name}[{u}]"),
            _ => name.to_owned(),
        };
        self.extra.insert(key, value);
        Ok(())
    }

    /// Checks an extra's name as [`Self::insert_extra`] does, for callers that build
    /// [`Self::extra`] whole (its values are checked with [`Self::check_value`]).
    pub fn check_extra_name(name: &str) -> Result<(), MetricError> {
        if printable(name) { Ok(()) } else { Err(bad_name(name)) }
    }

    /// Checks that a value (of the metric or extra `name`) is finite and plausible, as
    /// [`Self::set`] and [`Self::insert_extra`] do.
    #[inline]
    pub fn check_value(name: &str, value: f64) -> Result<(), MetricError> {
        if !value.is_finite() {
            return Err(MetricError::NotFinite(name.to_owned()));
        }
        if value.abs() > MAX_ABS_VALUE {
            return Err(MetricError::OutOfRange { metric: name.to_owned(), value });
        }
        Ok(())
    }

    /// Canonical metrics that have a value.
    pub fn iter(&self) -> impl Iterator<Item = (Metric, f64)> + '_ {
        Metric::ALL.iter().filter_map(|m| self.get(*m).map(|v| (*m, v)))
    }

    /// True when neither a canonical metric nor an extra is present.
    pub fn is_empty(&self) -> bool {
        self.present == 0 && self.extra.is_empty()
    }
}

/// A name or unit an extra can be kept under: 1 to 64 bytes, no control characters.
fn printable(text: &str) -> bool {
    !text.is_empty() && text.len() <= 64 && text.chars().all(|c| !c.is_control())
}

fn bad_name(name: &str) -> MetricError {
    MetricError::BadName(name.chars().take(64).collect())
}

/// Parses a decimal value as gateways send it (surrounding whitespace allowed).
#[inline]
pub fn parse_value(metric: &str, text: &str) -> Result<f64, MetricError> {
    let trimmed = text.trim();
    short_decimal(trimmed)
        .or_else(|| trimmed.parse::<f64>().ok())
        .ok_or_else(|| MetricError::NotANumber(text.chars().take(32).collect(), metric.to_owned()))
}

/// The value of a plain decimal of at most 15 digits (`-1234.5`, `.5`, `7.`), exactly as
/// `str::parse` gives it: the digits as an integer and the power of ten are both exact
/// doubles, so their quotient is the correctly rounded value. `None` for anything else
/// (exponents, longer numbers, words), which is left to `str::parse`. Nearly every value a
/// gateway sends is such a decimal, and this skips the general parser's work for it.
fn short_decimal(text: &str) -> Option<f64> {
    const POWERS_OF_TEN: [f64; 16] =
        [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
    let bytes = text.as_bytes();
    let (negative, number) = match bytes.first()? {
        b'-' => (true, &bytes[1..]),
        b'+' => (false, &bytes[1..]),
        _ => (false, bytes),
    };
    let (mut mantissa, mut digits, mut point) = (0_u64, 0_usize, None);
    for (at, &byte) in number.iter().enumerate() {
        match byte {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(byte - b'0');
                digits += 1;
                if digits > 15 {
                    return None;
                }
            }
            b'.' if point.is_none() => point = Some(at),
            _ => return None,
        }
    }
    if digits == 0 {
        return None;
    }
    let decimals = point.map_or(0, |at| number.len() - at - 1);
    // At most 15 digits: the mantissa is below 2^53, so the conversion is exact.
    #[allow(clippy::cast_precision_loss)]
    let value = mantissa as f64 / POWERS_OF_TEN[decimals];
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_metrics_are_converted_to_canonical_units() {
        let mut m = Metrics::default();
        m.insert_named("ac_power", 1.5, Some("kW")).expect("valid");
        m.insert_named("Energy", 9876.54, Some("kWh")).expect("valid");
        m.insert_named("pac", 1600.0, None).expect("alias overrides");
        assert_eq!(m.get(Metric::AcPower), Some(1600.0));
        assert!((m.get(Metric::Energy).expect("set") - 9_876_540.0).abs() < 1e-6);
    }

    #[test]
    fn metrics_serialize_as_optional_slots_and_read_back_equal() {
        let mut m = Metrics::default();
        m.set(Metric::AcPower, 1500.0).expect("valid");
        m.set(Metric::Energy, 0.0).expect("valid");
        m.insert_extra("riso", 40.0, Some("kohm")).expect("valid");
        // The spool's files hold this form; it must not change with the in-memory layout.
        let json = serde_json::to_string(&m).expect("serializes");
        assert_eq!(
            json,
            r#"{"values":[1500.0,null,0.0,null,null,null,null,null,null,null,null,null],"extra":{"riso[kohm]":40.0}}"#
        );
        let back: Metrics = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back, m);
        assert_eq!((back.get(Metric::Energy), back.get(Metric::DcPower)), (Some(0.0), None));
        // A slot emptied again compares equal to one never set.
        let mut emptied = back.clone();
        emptied.set_unchecked(Metric::AcPower, Some(7.0));
        emptied.set_unchecked(Metric::AcPower, None);
        let mut never = back;
        never.set_unchecked(Metric::AcPower, None);
        assert_eq!(emptied, never);
        assert!(!never.is_empty());
        assert!(Metrics::default().is_empty());
    }

    #[test]
    fn unknown_metrics_are_kept_as_extras_with_their_unit() {
        let mut m = Metrics::default();
        m.insert_named("reactive_power", 120.0, Some("var")).expect("kept");
        m.insert_named("insulation", 3.2, None).expect("kept");
        assert_eq!(m.extra.get("reactive_power[var]"), Some(&120.0));
        assert_eq!(m.extra.get("insulation"), Some(&3.2));
    }

    #[test]
    fn non_finite_and_absurd_values_are_refused() {
        let mut m = Metrics::default();
        assert!(matches!(m.insert_named("ac_power", f64::NAN, None), Err(MetricError::NotFinite(_))));
        assert!(matches!(m.insert_named("ac_power", f64::INFINITY, None), Err(MetricError::NotFinite(_))));
        assert!(matches!(m.insert_named("ac_power", 1e308, None), Err(MetricError::OutOfRange { .. })));
        assert!(matches!(m.insert_named("energy", 1.0, Some("kW")), Err(MetricError::Unit { .. })));
        assert!(m.is_empty());
    }

    #[test]
    fn short_decimals_parse_to_exactly_what_the_general_parser_gives() {
        let mut texts: Vec<String> = [
            "0",
            "-0",
            "+0",
            ".5",
            "5.",
            "-.5",
            "007",
            "0.1",
            "0.3",
            "1234.5678",
            "999999999999999",
            "99999999999999.9",
            ".000000000000001",
            "123456789012345",
            "1234567890123456",
            "4.35",
            "230.1",
            "50.01",
            "-17.125",
            "9007199254740993",
            "1e3",
            "1.5E-2",
            "inf",
            "NaN",
            ".",
            "-",
            "+",
            "1.2.3",
            "--1",
            "1-",
            "",
            "12a",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        // Pseudo-random decimals of every length and point position.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let length = 1 + (state % 18) as usize;
            let mut text: String =
                (0..length).map(|i| char::from(b'0' + ((state >> (i * 3)) % 10) as u8)).collect();
            let point = (state >> 56) as usize % (length + 2);
            if point <= length {
                text.insert(point, '.');
            }
            if state & (1 << 62) != 0 {
                text.insert(0, '-');
            }
            texts.push(text);
        }
        for text in &texts {
            let general = text.parse::<f64>().ok().map(f64::to_bits);
            let parsed = parse_value("ac_power", text).ok().map(f64::to_bits);
            assert_eq!(parsed, general, "{text:?}");
        }
    }

    #[test]
    fn values_parse_with_whitespace_and_refuse_words() {
        assert_eq!(parse_value("ac_power", " 12.5\n"), Ok(12.5));
        assert!(parse_value("ac_power", "twelve").is_err());
    }
}
