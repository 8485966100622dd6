//! What SunSpec's information models mean to Heliograph: which points map onto canonical metrics,
//! which sibling `*_SF` point scales each point, which points the models define as numbers, and
//! what kind of device a model describes. Point ids are case-sensitive, as in the SunSpec models
//! (inverters say `VAr`, meters `VAR`).

use heliograph_shared::{DeviceKind, Metric};

/// The model families Heliograph interprets; any other model's numbers are kept as extras.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Family {
    /// Model 1: manufacturer, model, serial number.
    Common,
    /// Models 101–103 (integers with scale factors) and 111–113 (floating point).
    Inverter,
    /// Model 160: multiple MPPT inputs, one repeating block per module.
    Mppt,
    /// Models 201–204 (integers with scale factors) and 211–214 (floating point).
    Meter,
    /// Model 302: irradiance.
    Irradiance,
    /// Model 303: back-of-module temperature.
    ModuleTemperature,
    /// Models 304 (inclinometer) and 307 (base meteorological): kept as extras.
    Environment,
    /// Any other model.
    Unknown,
}

/// What one point means in its model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// A canonical metric; when several points of a record map onto one metric, the earliest
    /// model wins, then the lowest `rank`, then the first repeat. The others become extras.
    Metric {
        /// The metric.
        metric: Metric,
        /// Preference among alternatives of one model (`TmpCab` before `TmpSnk` before `TmpOt`).
        rank: u8,
    },
    /// The operating state (`St`).
    Status,
    /// The common model's manufacturer (`Mn`).
    Manufacturer,
    /// The common model's model name (`Md`).
    ModelName,
    /// The common model's serial number (`SN`).
    Serial,
    /// Text that is not a measurement (an option string, a version, a module label): ignored.
    Text,
    /// A scale factor for sibling points; applied, not stored.
    ScaleFactor,
    /// An MPPT module's DC power: kept as an extra, and summed into `dc_power` when no inverter
    /// model gives one.
    ModulePower,
    /// Any other point: kept as an extra when it is a number.
    Extra,
}

/// Where a point's scale factor lives when the point has no `sf` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ScaleFactorPoint {
    /// A scale factor shared by a group of points (`V_SF` for every voltage).
    Shared(&'static str),
    /// The point's own `<id>_SF` sibling (`W_SF` for `W`), if the model has one.
    Own,
}

impl Family {
    /// The family of a model id.
    pub(super) fn of(model: u16) -> Self {
        match model {
            1 => Self::Common,
            101..=103 | 111..=113 => Self::Inverter,
            160 => Self::Mppt,
            201..=204 | 211..=214 => Self::Meter,
            302 => Self::Irradiance,
            303 => Self::ModuleTemperature,
            304 | 307 => Self::Environment,
            _ => Self::Unknown,
        }
    }

    /// The kind of device a record holding this model is, with its precedence (lower wins): an
    /// inverter with MPPT and meter models is an inverter.
    pub(super) fn device_kind(self) -> Option<(u8, DeviceKind)> {
        match self {
            Self::Inverter => Some((0, DeviceKind::Inverter)),
            Self::Meter => Some((1, DeviceKind::Meter)),
            Self::Mppt => Some((2, DeviceKind::StringMonitor)),
            Self::Irradiance | Self::ModuleTemperature | Self::Environment => {
                Some((3, DeviceKind::IrradianceSensor))
            }
            Self::Common | Self::Unknown => None,
        }
    }

    /// What a point of this family's models means.
    pub(super) fn role(self, point: &str) -> Role {
        if point.ends_with("_SF") {
            return Role::ScaleFactor;
        }
        let metric = |metric, rank| Role::Metric { metric, rank };
        match (self, point) {
            (Self::Common, "Mn") => Role::Manufacturer,
            (Self::Common, "Md") => Role::ModelName,
            (Self::Common, "SN") => Role::Serial,
            (Self::Common, "Opt" | "Vr") | (Self::Mppt, "IDStr") => Role::Text,
            (Self::Inverter, "W") | (Self::Meter, "W") => metric(Metric::AcPower, 0),
            (Self::Inverter, "WH") => metric(Metric::Energy, 0),
            (Self::Inverter, "A") | (Self::Meter, "A") => metric(Metric::AcCurrent, 0),
            (Self::Inverter, "PhVphA") | (Self::Meter, "PhV") => metric(Metric::AcVoltage, 0),
            (Self::Inverter, "PhV") | (Self::Meter, "PhVphA") => metric(Metric::AcVoltage, 1),
            (Self::Inverter, "Hz") | (Self::Meter, "Hz") => metric(Metric::Frequency, 0),
            (Self::Inverter, "DCA") => metric(Metric::DcCurrent, 0),
            (Self::Inverter, "DCV") => metric(Metric::DcVoltage, 0),
            (Self::Inverter, "DCW") => metric(Metric::DcPower, 0),
            (Self::Inverter, "TmpCab") | (Self::ModuleTemperature, "TmpBOM") => {
                metric(Metric::Temperature, 0)
            }
            (Self::Inverter, "TmpSnk") => metric(Metric::Temperature, 1),
            (Self::Inverter, "TmpOt") => metric(Metric::Temperature, 2),
            (Self::Inverter, "St") => Role::Status,
            (Self::Mppt, "DCW") => Role::ModulePower,
            (Self::Meter, "TotWhImp") => metric(Metric::ImportEnergy, 0),
            (Self::Meter, "TotWhExp") => metric(Metric::ExportEnergy, 0),
            (Self::Irradiance, "POAI") => metric(Metric::Irradiance, 0),
            (Self::Irradiance, "GHI") => metric(Metric::Irradiance, 1),
            _ => Role::Extra,
        }
    }

    /// The sibling point holding a point's scale factor, as the SunSpec models define it.
    pub(super) fn scale_factor_point(self, point: &str) -> ScaleFactorPoint {
        match self {
            Self::Inverter => match point {
                "A" | "AphA" | "AphB" | "AphC" => ScaleFactorPoint::Shared("A_SF"),
                "PPVphAB" | "PPVphBC" | "PPVphCA" | "PhVphA" | "PhVphB" | "PhVphC" | "PhV" => {
                    ScaleFactorPoint::Shared("V_SF")
                }
                "TmpCab" | "TmpSnk" | "TmpTrns" | "TmpOt" => ScaleFactorPoint::Shared("Tmp_SF"),
                _ => ScaleFactorPoint::Own,
            },
            Self::Meter => meter_group(point).map_or(ScaleFactorPoint::Own, ScaleFactorPoint::Shared),
            _ => ScaleFactorPoint::Own,
        }
    }

    /// True when the family's models define the point as a number, so that a word there is an
    /// error rather than a vendor's text to ignore.
    pub(super) fn defines_number(self, point: &str) -> bool {
        match self {
            Self::Common => point == "DA",
            Self::Inverter => matches!(
                point,
                "A" | "AphA"
                    | "AphB"
                    | "AphC"
                    | "PPVphAB"
                    | "PPVphBC"
                    | "PPVphCA"
                    | "PhVphA"
                    | "PhVphB"
                    | "PhVphC"
                    | "W"
                    | "Hz"
                    | "VA"
                    | "VAr"
                    | "PF"
                    | "WH"
                    | "DCA"
                    | "DCV"
                    | "DCW"
                    | "TmpCab"
                    | "TmpSnk"
                    | "TmpTrns"
                    | "TmpOt"
                    | "St"
                    | "StVnd"
                    | "Evt1"
                    | "Evt2"
                    | "EvtVnd1"
                    | "EvtVnd2"
                    | "EvtVnd3"
                    | "EvtVnd4"
            ),
            Self::Mppt => matches!(
                point,
                "Evt"
                    | "N"
                    | "TmsPer"
                    | "ID"
                    | "DCA"
                    | "DCV"
                    | "DCW"
                    | "DCWH"
                    | "Tms"
                    | "Tmp"
                    | "DCSt"
                    | "DCEvt"
            ),
            Self::Meter => meter_group(point).is_some() || matches!(point, "Hz" | "Evt"),
            Self::Irradiance => matches!(point, "GHI" | "POAI" | "DFI" | "DNI" | "OTI"),
            Self::ModuleTemperature => point == "TmpBOM",
            Self::Environment => matches!(
                point,
                "Inclx"
                    | "Incly"
                    | "Inclz"
                    | "TmpAmb"
                    | "RH"
                    | "Pres"
                    | "WndSpd"
                    | "WndDir"
                    | "Rain"
                    | "Snw"
                    | "PPT"
                    | "ElecFld"
                    | "SurWet"
                    | "SoilWet"
            ),
            Self::Unknown => false,
        }
    }
}

/// The shared scale factor of a meter point: totals by their prefix (`TotWhExpPhA` → `TotWh_SF`),
/// instantaneous values by their quantity with an optional phase (`WphB` → `W_SF`).
fn meter_group(point: &str) -> Option<&'static str> {
    // Longer prefixes first: `TotVArh` before `TotVAh`, `VAR` before `VA`.
    const TOTALS: [(&str, &str); 3] =
        [("TotVArh", "TotVArh_SF"), ("TotVAh", "TotVAh_SF"), ("TotWh", "TotWh_SF")];
    const PHASED: [(&str, &str); 7] = [
        ("PhV", "V_SF"),
        ("PPV", "V_SF"),
        ("VAR", "VAR_SF"),
        ("VA", "VA_SF"),
        ("PF", "PF_SF"),
        ("W", "W_SF"),
        ("A", "A_SF"),
    ];
    let total = TOTALS.iter().find(|(prefix, _)| point.starts_with(prefix)).map(|(_, sf)| *sf);
    total.or_else(|| {
        PHASED
            .iter()
            .find_map(|(prefix, sf)| point.strip_prefix(prefix).filter(|phase| is_phase(phase)).map(|_| *sf))
    })
}

/// `""`, `phA`, `PhB`, `phAB`…: the phase suffixes of meter points.
fn is_phase(suffix: &str) -> bool {
    let Some(phases) = suffix.strip_prefix("ph").or_else(|| suffix.strip_prefix("Ph")) else {
        return suffix.is_empty();
    };
    (1..=2).contains(&phases.len()) && phases.chars().all(|c| matches!(c, 'A' | 'B' | 'C'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverter_points_share_the_scale_factors_the_models_define() {
        let inverter = Family::of(101);
        assert_eq!(inverter, Family::Inverter);
        assert_eq!(inverter.scale_factor_point("PhVphB"), ScaleFactorPoint::Shared("V_SF"));
        assert_eq!(inverter.scale_factor_point("AphC"), ScaleFactorPoint::Shared("A_SF"));
        assert_eq!(inverter.scale_factor_point("TmpSnk"), ScaleFactorPoint::Shared("Tmp_SF"));
        assert_eq!(inverter.scale_factor_point("WH"), ScaleFactorPoint::Own);
    }

    #[test]
    fn meter_totals_and_phases_find_their_group_scale_factor() {
        let meter = Family::of(202);
        let shared = |point| meter.scale_factor_point(point);
        assert_eq!(shared("TotWhExpPhB"), ScaleFactorPoint::Shared("TotWh_SF"));
        assert_eq!(shared("TotVAhImp"), ScaleFactorPoint::Shared("TotVAh_SF"));
        assert_eq!(shared("TotVArhImpQ2PhA"), ScaleFactorPoint::Shared("TotVArh_SF"));
        assert_eq!(shared("VARphA"), ScaleFactorPoint::Shared("VAR_SF"));
        assert_eq!(shared("VAphB"), ScaleFactorPoint::Shared("VA_SF"));
        assert_eq!(shared("PhVphAB"), ScaleFactorPoint::Shared("V_SF"));
        assert_eq!(shared("WphC"), ScaleFactorPoint::Shared("W_SF"));
        assert_eq!(shared("Hz"), ScaleFactorPoint::Own);
        assert_eq!(shared("Evt"), ScaleFactorPoint::Own);
        assert!(meter.defines_number("PFphA"));
        assert!(!meter.defines_number("Vendor"));
    }

    #[test]
    fn models_describe_the_device_kind_with_inverters_first() {
        assert_eq!(Family::of(113).device_kind(), Some((0, DeviceKind::Inverter)));
        assert_eq!(Family::of(214).device_kind(), Some((1, DeviceKind::Meter)));
        assert_eq!(Family::of(160).device_kind(), Some((2, DeviceKind::StringMonitor)));
        assert_eq!(Family::of(307).device_kind(), Some((3, DeviceKind::IrradianceSensor)));
        assert_eq!(Family::of(1).device_kind(), None);
        assert_eq!(Family::of(64_000).device_kind(), None);
    }

    #[test]
    fn alternatives_for_one_metric_are_ranked() {
        assert_eq!(Family::Inverter.role("TmpOt"), Role::Metric { metric: Metric::Temperature, rank: 2 });
        assert_eq!(Family::Meter.role("PhV"), Role::Metric { metric: Metric::AcVoltage, rank: 0 });
        assert_eq!(Family::Inverter.role("V_SF"), Role::ScaleFactor);
        assert_eq!(Family::Unknown.role("W"), Role::Extra);
    }
}
