//! A device under a gateway: an inverter, a meter, an irradiance sensor.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{DeviceId, GatewayId};

/// What a device is, as far as reports care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// Produces AC power.
    Inverter,
    /// Measures a grid connection point or consumption.
    Meter,
    /// Measures irradiance (and often temperature).
    IrradianceSensor,
    /// A DC string monitor or optimiser (SunSpec MPPT model).
    StringMonitor,
    /// Anything else.
    Other,
}

impl DeviceKind {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inverter => "inverter",
            Self::Meter => "meter",
            Self::IrradianceSensor => "irradiance_sensor",
            Self::StringMonitor => "string_monitor",
            Self::Other => "other",
        }
    }

    /// Reads a stored or sent word; unknown words are [`Self::Other`].
    pub fn from_word(word: &str) -> Self {
        match word.trim().to_ascii_lowercase().as_str() {
            "inverter" | "inv" => Self::Inverter,
            "meter" => Self::Meter,
            "irradiance_sensor" | "irradiance" | "sensor" | "pyranometer" => Self::IrradianceSensor,
            "string_monitor" | "mppt" => Self::StringMonitor,
            _ => Self::Other,
        }
    }
}

/// A device as last described by its gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    /// Gateway it hangs under.
    pub gateway: GatewayId,
    /// Id under that gateway.
    pub id: DeviceId,
    /// What it is.
    pub kind: DeviceKind,
    /// Manufacturer, model and serial number when the gateway reports them.
    pub manufacturer: Option<String>,
    /// Model name.
    pub model: Option<String>,
    /// Serial number.
    pub serial: Option<String>,
    /// When the device last sent a reading.
    pub last_seen: Option<DateTime<Utc>>,
}
