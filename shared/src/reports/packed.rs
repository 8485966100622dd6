//! The form stores keep hourly rollups in: postcard bytes with timestamps as Unix
//! milliseconds. A year view reads some 9,000 rollups per device; decoding them from JSON, with
//! every timestamp parsed from RFC 3339 text, took most of that page's time.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::rollup::HourlyRollup;
use crate::domain::{DeviceId, GatewayId};

/// A stored rollup could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("unreadable hourly rollup: {0}")]
pub struct RollupDecodeError(String);

#[derive(Serialize, Deserialize)]
struct Packed {
    gateway: String,
    device: String,
    hour: i64,
    samples: u32,
    minutes_with_data: u32,
    energy_first: Option<f64>,
    energy_last: Option<f64>,
    energy_gain: f64,
    power_integral: f64,
    peak_power: Option<f64>,
    peak_at: Option<i64>,
    import_first: Option<f64>,
    import_last: Option<f64>,
    import_gain: f64,
    export_first: Option<f64>,
    export_last: Option<f64>,
    export_gain: f64,
    insolation: f64,
    fault_samples: u32,
    last_power: Option<f64>,
    last_at: Option<i64>,
}

impl HourlyRollup {
    /// The stored form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let packed = Packed {
            gateway: self.gateway.to_string(),
            device: self.device.to_string(),
            hour: self.hour.timestamp_millis(),
            samples: self.samples,
            minutes_with_data: self.minutes_with_data,
            energy_first: self.energy_first,
            energy_last: self.energy_last,
            energy_gain: self.energy_gain,
            power_integral: self.power_integral,
            peak_power: self.peak_power,
            peak_at: self.peak_at.map(|t| t.timestamp_millis()),
            import_first: self.import_first,
            import_last: self.import_last,
            import_gain: self.import_gain,
            export_first: self.export_first,
            export_last: self.export_last,
            export_gain: self.export_gain,
            insolation: self.insolation,
            fault_samples: self.fault_samples,
            last_power: self.last_power,
            last_at: self.last_at.map(|t| t.timestamp_millis()),
        };
        // Serializing plain numbers and strings into a growable buffer cannot fail.
        postcard::to_allocvec(&packed).unwrap_or_default()
    }

    /// Reads a stored rollup.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RollupDecodeError> {
        let p: Packed = postcard::from_bytes(bytes).map_err(|e| RollupDecodeError(e.to_string()))?;
        let instant = |ms: i64| {
            DateTime::<Utc>::from_timestamp_millis(ms).ok_or_else(|| RollupDecodeError(format!("time {ms}")))
        };
        Ok(Self {
            gateway: GatewayId::parse(&p.gateway).map_err(|e| RollupDecodeError(e.to_string()))?,
            device: DeviceId::parse(&p.device).map_err(|e| RollupDecodeError(e.to_string()))?,
            hour: instant(p.hour)?,
            samples: p.samples,
            minutes_with_data: p.minutes_with_data,
            energy_first: p.energy_first,
            energy_last: p.energy_last,
            energy_gain: p.energy_gain,
            power_integral: p.power_integral,
            peak_power: p.peak_power,
            peak_at: p.peak_at.map(instant).transpose()?,
            import_first: p.import_first,
            import_last: p.import_last,
            import_gain: p.import_gain,
            export_first: p.export_first,
            export_last: p.export_last,
            export_gain: p.export_gain,
            insolation: p.insolation,
            fault_samples: p.fault_samples,
            last_power: p.last_power,
            last_at: p.last_at.map(instant).transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn sample() -> HourlyRollup {
        let hour = Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).single().expect("valid");
        HourlyRollup {
            gateway: GatewayId::parse("GW-0001").expect("valid"),
            device: DeviceId::parse("inv-1").expect("valid"),
            hour,
            samples: 60,
            minutes_with_data: 58,
            energy_first: Some(1_000.5),
            energy_last: Some(4_000.25),
            energy_gain: 3_000.0,
            power_integral: 2_990.0,
            peak_power: Some(5_123.0),
            peak_at: Some(hour + chrono::TimeDelta::minutes(31)),
            import_first: None,
            import_last: None,
            import_gain: 0.0,
            export_first: Some(10.0),
            export_last: Some(12.0),
            export_gain: 2.0,
            insolation: 650.0,
            fault_samples: 1,
            last_power: Some(4_000.0),
            last_at: Some(hour + chrono::TimeDelta::minutes(59)),
        }
    }

    #[test]
    fn a_packed_rollup_reads_back_equal_and_is_smaller_than_json() {
        let rollup = sample();
        let bytes = rollup.to_bytes();
        assert_eq!(HourlyRollup::from_bytes(&bytes).expect("decodes"), rollup);
        let json = serde_json::to_vec(&rollup).expect("serializes");
        assert!(bytes.len() * 3 < json.len(), "{} packed vs {} JSON bytes", bytes.len(), json.len());
        assert!(HourlyRollup::from_bytes(b"\x05nonsense").is_err());
    }
}
