//! A plausible PV plant: power follows the sun's elevation at the site, thinned by drifting
//! clouds; the lifetime energy counter integrates that power; voltages, frequency and
//! temperatures wobble around their nominal values. Deterministic for a given seed.

use chrono::{DateTime, Datelike, Timelike, Utc};

/// The sun's elevation above the horizon, degrees (NOAA's simplified equations; good to ~1°).
pub fn sun_elevation(ts: DateTime<Utc>, latitude: f64, longitude: f64) -> f64 {
    let day = f64::from(ts.ordinal0());
    let hour = f64::from(ts.hour()) + f64::from(ts.minute()) / 60.0 + f64::from(ts.second()) / 3600.0;
    let gamma = 2.0 * std::f64::consts::PI / 365.0 * (day + (hour - 12.0) / 24.0);
    let equation_of_time = 229.18
        * (0.000075 + 0.001868 * gamma.cos()
            - 0.032077 * gamma.sin()
            - 0.014615 * (2.0 * gamma).cos()
            - 0.040849 * (2.0 * gamma).sin());
    let declination = 0.006918 - 0.399912 * gamma.cos() + 0.070257 * gamma.sin()
        - 0.006758 * (2.0 * gamma).cos()
        + 0.000907 * (2.0 * gamma).sin()
        - 0.002697 * (3.0 * gamma).cos()
        + 0.00148 * (3.0 * gamma).sin();
    let solar_minutes = hour * 60.0 + equation_of_time + 4.0 * longitude;
    let hour_angle = (solar_minutes / 4.0 - 180.0).to_radians();
    let lat = latitude.to_radians();
    let cos_zenith = lat.sin() * declination.sin() + lat.cos() * declination.cos() * hour_angle.cos();
    90.0 - cos_zenith.clamp(-1.0, 1.0).acos().to_degrees()
}

/// A cheap deterministic hash to [0, 1) (SplitMix64), so clouds need no stored state.
fn unit(seed: u64) -> f64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Cloud transmission in [0.15, 1]: smooth noise over 20-minute knots, varying per site and day.
pub fn cloudiness(seed: u64, ts: DateTime<Utc>) -> f64 {
    let knot = 20.0 * 60.0;
    let t = ts.timestamp() as f64 / knot;
    let k = t.floor();
    let frac = t - k;
    let day_clear = unit(seed ^ (ts.timestamp() as u64 / 86_400).wrapping_mul(31));
    let at = |i: f64| unit(seed.wrapping_mul(1_000_003) ^ (i as i64 as u64));
    let smooth = frac * frac * (3.0 - 2.0 * frac);
    let noise = at(k) * (1.0 - smooth) + at(k + 1.0) * smooth;
    // Clear days are mostly clear; cloudy days are mostly dim.
    let depth = if day_clear > 0.6 { 0.15 } else { 0.75 };
    (1.0 - depth * noise).clamp(0.15, 1.0)
}

/// One simulated site.
#[derive(Debug, Clone)]
pub struct Plant {
    /// Installed capacity, kWp.
    pub capacity_kwp: f64,
    /// Latitude and longitude.
    pub latitude: f64,
    /// Longitude, degrees east.
    pub longitude: f64,
    /// Seed for clouds.
    pub seed: u64,
    /// The share of its rated output the plant delivers (1.0 healthy; a soiled array or a
    /// failed string less; a tripped inverter nothing).
    pub derate: f64,
    /// Lifetime counter, Wh.
    pub energy_wh: f64,
    /// Time of the last reading, for integration.
    pub last: Option<DateTime<Utc>>,
}

/// A reading's values, canonical units.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// AC power, W.
    pub ac_power: f64,
    /// DC power, W.
    pub dc_power: f64,
    /// Lifetime energy, Wh.
    pub energy: f64,
    /// AC voltage, V.
    pub ac_voltage: f64,
    /// AC current, A.
    pub ac_current: f64,
    /// DC voltage, V.
    pub dc_voltage: f64,
    /// DC current, A.
    pub dc_current: f64,
    /// Grid frequency, Hz.
    pub frequency: f64,
    /// Inverter temperature, °C.
    pub temperature: f64,
    /// Plane-of-array irradiance, W/m².
    pub irradiance: f64,
}

impl Plant {
    /// Advances the plant to `ts` and reports what it measures there.
    pub fn sample(&mut self, ts: DateTime<Utc>) -> Sample {
        let elevation = sun_elevation(ts, self.latitude, self.longitude);
        let sun = (elevation.to_radians().sin()).max(0.0);
        let clear_sky = 1000.0 * sun.powf(1.15);
        let irradiance = clear_sky * cloudiness(self.seed, ts);
        let dc_power = self.capacity_kwp * irradiance * 0.92 * self.derate;
        let ac_power = (dc_power * 0.965).min(self.capacity_kwp * 1000.0);
        if let Some(last) = self.last {
            let hours = (ts - last).num_milliseconds().max(0) as f64 / 3_600_000.0;
            self.energy_wh += ac_power * hours;
        }
        self.last = Some(ts);
        let wobble = unit(self.seed ^ ts.timestamp() as u64) - 0.5;
        let ac_voltage = 230.0 + 3.0 * wobble;
        let dc_voltage = if dc_power > 0.0 { 580.0 + 40.0 * sun } else { 0.0 };
        Sample {
            ac_power: round(ac_power, 1),
            dc_power: round(dc_power, 1),
            energy: round(self.energy_wh, 1),
            ac_voltage: round(ac_voltage, 1),
            ac_current: round(ac_power / ac_voltage, 2),
            dc_voltage: round(dc_voltage, 1),
            dc_current: if dc_voltage > 0.0 { round(dc_power / dc_voltage, 2) } else { 0.0 },
            frequency: round(50.0 + 0.04 * wobble, 3),
            temperature: round(12.0 + 25.0 * sun * cloudiness(self.seed, ts) + 2.0 * wobble, 1),
            irradiance: round(irradiance, 1),
        }
    }
}

fn round(value: f64, places: i32) -> f64 {
    let factor = 10f64.powi(places);
    (value * factor).round() / factor
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).single().expect("valid time")
    }

    #[test]
    fn the_sun_is_high_at_noon_in_june_and_below_the_horizon_at_midnight() {
        // Munich: solar noon is about 11:15 UTC; the June elevation is about 65°.
        let noon = sun_elevation(at(2026, 6, 21, 11), 48.14, 11.58);
        assert!((60.0..70.0).contains(&noon), "noon elevation {noon}");
        assert!(sun_elevation(at(2026, 6, 21, 23), 48.14, 11.58) < 0.0);
        let winter = sun_elevation(at(2026, 12, 21, 11), 48.14, 11.58);
        assert!((15.0..22.0).contains(&winter), "winter noon elevation {winter}");
    }

    #[test]
    fn power_is_zero_at_night_and_the_counter_only_rises() {
        let mut plant = Plant {
            capacity_kwp: 10.0,
            latitude: 48.14,
            longitude: 11.58,
            seed: 1,
            derate: 1.0,
            energy_wh: 5e6,
            last: None,
        };
        let night = plant.sample(at(2026, 6, 21, 0));
        assert_eq!(night.ac_power, 0.0);
        let mut previous = night.energy;
        for minute in 0..(24 * 60) {
            let sample = plant.sample(at(2026, 6, 21, 0) + chrono::Duration::minutes(minute));
            assert!(sample.energy >= previous);
            assert!(sample.ac_power <= 10_000.0);
            previous = sample.energy;
        }
        // A 10 kWp plant in June makes tens of kWh a day, not hundreds, not nothing.
        let day = previous - night.energy;
        assert!((15_000.0..90_000.0).contains(&day), "daily energy {day} Wh");
    }
}
