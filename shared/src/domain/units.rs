//! Units as gateways spell them, and their conversion to each metric's canonical unit.

use std::fmt;

/// A physical quantity; each has one canonical unit that the store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quantity {
    /// Watts.
    Power,
    /// Watt-hours.
    Energy,
    /// Volts.
    Voltage,
    /// Amperes.
    Current,
    /// Hertz.
    Frequency,
    /// Degrees Celsius.
    Temperature,
    /// Watts per square metre.
    Irradiance,
}

impl Quantity {
    /// The canonical unit's symbol.
    pub fn canonical_symbol(self) -> &'static str {
        match self {
            Quantity::Power => "W",
            Quantity::Energy => "Wh",
            Quantity::Voltage => "V",
            Quantity::Current => "A",
            Quantity::Frequency => "Hz",
            Quantity::Temperature => "°C",
            Quantity::Irradiance => "W/m²",
        }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Quantity::Power => "power",
            Quantity::Energy => "energy",
            Quantity::Voltage => "voltage",
            Quantity::Current => "current",
            Quantity::Frequency => "frequency",
            Quantity::Temperature => "temperature",
            Quantity::Irradiance => "irradiance",
        };
        f.write_str(name)
    }
}

/// A unit that is not understood, or not one of the quantity a metric needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// Not a unit this server knows.
    #[error("unknown unit {0:?}")]
    Unknown(String),
    /// A known unit of another quantity (kWh given for a power metric, say).
    #[error("unit {unit:?} measures {found}, expected {expected} (canonical {canonical})", canonical = expected.canonical_symbol())]
    WrongQuantity {
        /// The unit as sent.
        unit: String,
        /// What the unit measures.
        found: Quantity,
        /// What the metric needs.
        expected: Quantity,
    },
}

/// A parsed unit: `canonical = value * scale + offset`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unit {
    /// What it measures.
    pub quantity: Quantity,
    scale: f64,
    offset: f64,
}

impl Unit {
    /// The canonical unit of a quantity.
    pub fn canonical(quantity: Quantity) -> Self {
        Self { quantity, scale: 1.0, offset: 0.0 }
    }

    /// Parses a unit spelling such as `W`, `kW`, `kWh`, `MWh`, `mA`, `Hz`, `°C`, `K`, `W/m2`, or
    /// a word as SunSpec loggers write it (`Watts`, `Volts`, `Amps`, `Hertz`, `kilowatt-hours`).
    pub fn parse(spelling: &str) -> Result<Self, UnitError> {
        let s = spelling.trim();
        if let Some(unit) = Self::temperature(s).or_else(|| Self::irradiance(s)) {
            return Ok(unit);
        }
        let unknown = || UnitError::Unknown(s.chars().take(32).collect());
        let (quantity, base_scale, prefix) =
            Self::split_base(s).or_else(|| Self::split_word(s)).ok_or_else(unknown)?;
        let prefix_scale = Self::prefix_scale(prefix).ok_or_else(unknown)?;
        Ok(Self { quantity, scale: base_scale * prefix_scale, offset: 0.0 })
    }

    /// Parses a unit and checks that it measures `expected`.
    pub fn parse_for(spelling: &str, expected: Quantity) -> Result<Self, UnitError> {
        let unit = Self::parse(spelling)?;
        if unit.quantity == expected {
            Ok(unit)
        } else {
            Err(UnitError::WrongQuantity {
                unit: spelling.chars().take(32).collect(),
                found: unit.quantity,
                expected,
            })
        }
    }

    /// Converts a value in this unit to the quantity's canonical unit.
    pub fn to_canonical(self, value: f64) -> f64 {
        value * self.scale + self.offset
    }

    fn temperature(s: &str) -> Option<Self> {
        let (scale, offset) = match s {
            "C" | "°C" | "degC" | "Cel" | "celsius" | "Celsius" | "℃" => (1.0, 0.0),
            "K" | "kelvin" | "Kelvin" => (1.0, -273.15),
            "°F" | "degF" | "fahrenheit" | "Fahrenheit" | "℉" => (5.0 / 9.0, -32.0 * 5.0 / 9.0),
            _ => return None,
        };
        Some(Self { quantity: Quantity::Temperature, scale, offset })
    }

    fn irradiance(s: &str) -> Option<Self> {
        let (prefix, rest) = match s.strip_prefix('k') {
            Some(rest) => (1e3, rest),
            None => (1.0, s),
        };
        matches!(rest, "W/m2" | "W/m²" | "W/m^2" | "Wm-2" | "W.m-2" | "W/sqm" | "w/m2").then_some(Self {
            quantity: Quantity::Irradiance,
            scale: prefix,
            offset: 0.0,
        })
    }

    /// The factor of an SI prefix, as a symbol (`k`, `M`, `m`…) or a word (`kilo`, `Mega`…).
    fn prefix_scale(prefix: &str) -> Option<f64> {
        match prefix {
            "" => Some(1.0),
            "m" => Some(1e-3),
            "k" | "K" => Some(1e3),
            "M" => Some(1e6),
            "G" => Some(1e9),
            word if word.eq_ignore_ascii_case("milli") => Some(1e-3),
            word if word.eq_ignore_ascii_case("kilo") => Some(1e3),
            word if word.eq_ignore_ascii_case("mega") => Some(1e6),
            word if word.eq_ignore_ascii_case("giga") => Some(1e9),
            _ => None,
        }
    }

    /// Splits `KiloWatt-hours` into (Energy, 1.0, "Kilo"): unit names in words, in any ASCII case,
    /// as some SunSpec loggers write the `u` attribute (`Watts`, `Volts`, `Amps`, `Hertz`).
    fn split_word(s: &str) -> Option<(Quantity, f64, &str)> {
        // Longer words first, so that "watt-hours" is not read as some prefix before "hours".
        const WORDS: [(&str, Quantity, f64); 17] = [
            ("watt-hours", Quantity::Energy, 1.0),
            ("watt hours", Quantity::Energy, 1.0),
            ("watthours", Quantity::Energy, 1.0),
            ("watt-hour", Quantity::Energy, 1.0),
            ("watt hour", Quantity::Energy, 1.0),
            ("watthour", Quantity::Energy, 1.0),
            ("joules", Quantity::Energy, 1.0 / 3600.0),
            ("joule", Quantity::Energy, 1.0 / 3600.0),
            ("amperes", Quantity::Current, 1.0),
            ("ampere", Quantity::Current, 1.0),
            ("hertz", Quantity::Frequency, 1.0),
            ("watts", Quantity::Power, 1.0),
            ("volts", Quantity::Voltage, 1.0),
            ("watt", Quantity::Power, 1.0),
            ("volt", Quantity::Voltage, 1.0),
            ("amps", Quantity::Current, 1.0),
            ("amp", Quantity::Current, 1.0),
        ];
        WORDS.iter().find_map(|(word, quantity, scale)| {
            let cut = s.len().checked_sub(word.len())?;
            let (prefix, tail) = (s.get(..cut)?, s.get(cut..)?);
            tail.eq_ignore_ascii_case(word).then_some((*quantity, *scale, prefix))
        })
    }

    /// Splits `kWh` into (Energy, 1.0, "k"): the longest base symbol that ends the spelling wins.
    fn split_base(s: &str) -> Option<(Quantity, f64, &str)> {
        // Longer symbols first so "Wh" is not read as "W" with prefix "h"-less garbage. Lower- and
        // upper-case spellings such as "kw" and "KWH" are common enough to accept; "m" stays milli.
        const BASES: [(&str, Quantity, f64); 12] = [
            ("Wh", Quantity::Energy, 1.0),
            ("wh", Quantity::Energy, 1.0),
            ("WH", Quantity::Energy, 1.0),
            ("Hz", Quantity::Frequency, 1.0),
            ("hz", Quantity::Frequency, 1.0),
            ("HZ", Quantity::Frequency, 1.0),
            ("J", Quantity::Energy, 1.0 / 3600.0),
            ("W", Quantity::Power, 1.0),
            ("w", Quantity::Power, 1.0),
            ("V", Quantity::Voltage, 1.0),
            ("v", Quantity::Voltage, 1.0),
            ("A", Quantity::Current, 1.0),
        ];
        BASES.iter().find_map(|(symbol, quantity, scale)| {
            s.strip_suffix(symbol).map(|prefix| (*quantity, *scale, prefix))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(spelling: &str, value: f64) -> (Quantity, f64) {
        let unit = Unit::parse(spelling).expect("known unit");
        (unit.quantity, unit.to_canonical(value))
    }

    #[test]
    fn power_and_energy_prefixes_convert_to_watts_and_watt_hours() {
        assert_eq!(convert("W", 1234.5), (Quantity::Power, 1234.5));
        assert_eq!(convert("kW", 1.5), (Quantity::Power, 1500.0));
        assert_eq!(convert("KW", 2.0), (Quantity::Power, 2000.0));
        assert_eq!(convert("kw", 2.0), (Quantity::Power, 2000.0));
        assert_eq!(convert("MW", 0.5), (Quantity::Power, 500_000.0));
        assert_eq!(convert("kWh", 9876.54), (Quantity::Energy, 9_876_540.0));
        assert_eq!(convert("MWh", 1.25), (Quantity::Energy, 1_250_000.0));
        assert_eq!(convert("Wh", 7.0), (Quantity::Energy, 7.0));
        assert_eq!(convert("kJ", 3.6), (Quantity::Energy, 1.0));
    }

    #[test]
    fn electrical_and_environmental_units_convert() {
        assert_eq!(convert("mA", 250.0), (Quantity::Current, 0.25));
        assert_eq!(convert("kV", 0.4), (Quantity::Voltage, 400.0));
        assert_eq!(convert("Hz", 50.0), (Quantity::Frequency, 50.0));
        assert_eq!(convert("C", 21.5), (Quantity::Temperature, 21.5));
        assert_eq!(convert("°C", 21.5), (Quantity::Temperature, 21.5));
        let (q, kelvin) = convert("K", 300.0);
        assert_eq!(q, Quantity::Temperature);
        assert!((kelvin - 26.85).abs() < 1e-9);
        let (_, fahrenheit) = convert("°F", 212.0);
        assert!((fahrenheit - 100.0).abs() < 1e-9);
        assert_eq!(convert("W/m2", 800.0), (Quantity::Irradiance, 800.0));
        assert_eq!(convert("kW/m2", 0.8), (Quantity::Irradiance, 800.0));
    }

    #[test]
    fn unit_words_as_sunspec_loggers_write_them_convert() {
        assert_eq!(convert("Watts", 6701.3), (Quantity::Power, 6701.3));
        assert_eq!(convert("watt", 5.0), (Quantity::Power, 5.0));
        assert_eq!(convert("kWatts", 1.5), (Quantity::Power, 1500.0));
        assert_eq!(convert("KiloWatts", 2.0), (Quantity::Power, 2000.0));
        assert_eq!(convert("Volts", 221.6), (Quantity::Voltage, 221.6));
        assert_eq!(convert("VOLT", 12.0), (Quantity::Voltage, 12.0));
        assert_eq!(convert("Amps", 30.43), (Quantity::Current, 30.43));
        assert_eq!(convert("milliamps", 250.0), (Quantity::Current, 0.25));
        assert_eq!(convert("Amperes", 3.0), (Quantity::Current, 3.0));
        assert_eq!(convert("Hertz", 60.01), (Quantity::Frequency, 60.01));
        assert_eq!(convert("Watt-hours", 7.0), (Quantity::Energy, 7.0));
        assert_eq!(convert("kilowatt hours", 1.5), (Quantity::Energy, 1500.0));
        assert_eq!(convert("MegaWattHours", 2.0), (Quantity::Energy, 2_000_000.0));
        assert_eq!(convert("Joules", 3600.0), (Quantity::Energy, 1.0));
    }

    #[test]
    fn unit_words_with_unknown_prefixes_or_of_the_wrong_quantity_are_refused() {
        assert!(matches!(Unit::parse("Wattage"), Err(UnitError::Unknown(_))));
        assert!(matches!(Unit::parse("superwatts"), Err(UnitError::Unknown(_))));
        assert!(matches!(Unit::parse("Watts per hour"), Err(UnitError::Unknown(_))));
        assert!(matches!(Unit::parse_for("Volts", Quantity::Power), Err(UnitError::WrongQuantity { .. })));
    }

    #[test]
    fn unknown_units_and_wrong_quantities_are_refused_with_a_reason() {
        assert!(matches!(Unit::parse("furlongs"), Err(UnitError::Unknown(_))));
        assert!(matches!(Unit::parse("xW"), Err(UnitError::Unknown(_))));
        let err = Unit::parse_for("kWh", Quantity::Power).expect_err("energy is not power");
        assert_eq!(err.to_string(), "unit \"kWh\" measures energy, expected power (canonical W)");
    }
}
