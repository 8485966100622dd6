//! Where a site is on the earth: what its sunrise and sunset are computed from.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A site's latitude and longitude in decimal degrees (WGS 84), checked to be on the earth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawLocation")]
pub struct SiteLocation {
    latitude: f64,
    longitude: f64,
}

/// The unchecked form, so that a deserialized location is checked like a typed one.
#[derive(Deserialize)]
struct RawLocation {
    latitude: f64,
    longitude: f64,
}

impl TryFrom<RawLocation> for SiteLocation {
    type Error = LocationError;
    fn try_from(raw: RawLocation) -> Result<Self, Self::Error> {
        Self::new(raw.latitude, raw.longitude)
    }
}

/// Why a location was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LocationError {
    /// Not two numbers.
    #[error("write the location as latitude, longitude in decimal degrees, e.g. 48.137, 11.575")]
    Format,
    /// A latitude beyond a pole.
    #[error("latitude must be between -90 and 90 degrees")]
    Latitude,
    /// A longitude beyond the date line.
    #[error("longitude must be between -180 and 180 degrees")]
    Longitude,
}

impl SiteLocation {
    /// A location from decimal degrees: latitude -90..=90 (north positive), longitude
    /// -180..=180 (east positive).
    pub fn new(latitude: f64, longitude: f64) -> Result<Self, LocationError> {
        if !latitude.is_finite() || !(-90.0..=90.0).contains(&latitude) {
            return Err(LocationError::Latitude);
        }
        if !longitude.is_finite() || !(-180.0..=180.0).contains(&longitude) {
            return Err(LocationError::Longitude);
        }
        // Kept to six decimals (about 10 cm), the precision it is written back with: a form that
        // shows a location and saves it unchanged must not move it.
        let six = |degrees: f64| (degrees * 1e6).round() / 1e6;
        Ok(Self { latitude: six(latitude), longitude: six(longitude) })
    }

    /// Parses "latitude, longitude" as a map application copies it ("48.137154, 11.576124");
    /// a space alone also separates them. `None` for blank text: no location.
    pub fn parse(text: &str) -> Result<Option<Self>, LocationError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let parts: Vec<&str> = text
            .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
            .filter(|p| !p.is_empty())
            .collect();
        let [latitude, longitude] = parts.as_slice() else { return Err(LocationError::Format) };
        let number = |p: &str| p.parse::<f64>().map_err(|_| LocationError::Format);
        Self::new(number(latitude)?, number(longitude)?).map(Some)
    }

    /// A location from stored coordinates: both, or none for no location.
    pub fn from_coordinates(
        latitude: Option<f64>,
        longitude: Option<f64>,
    ) -> Result<Option<Self>, LocationError> {
        match (latitude, longitude) {
            (Some(latitude), Some(longitude)) => Self::new(latitude, longitude).map(Some),
            _ => Ok(None),
        }
    }

    /// Latitude, degrees north.
    pub fn latitude(&self) -> f64 {
        self.latitude
    }

    /// Longitude, degrees east.
    pub fn longitude(&self) -> f64 {
        self.longitude
    }
}

/// As [`SiteLocation::parse`] reads it back exactly: "48.137154, 11.576124", without trailing
/// zeros ("-33.9, 151.2").
impl fmt::Display for SiteLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let degrees = |value: f64| {
            let text = format!("{value:.6}");
            text.trim_end_matches('0').trim_end_matches('.').to_owned()
        };
        write!(f, "{}, {}", degrees(self.latitude), degrees(self.longitude))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_copied_from_a_map_is_read_and_written_back_the_same_way() {
        let location = SiteLocation::parse(" 48.137154, 11.576124 ").expect("valid").expect("given");
        assert_eq!((location.latitude(), location.longitude()), (48.137154, 11.576124));
        assert_eq!(location.to_string(), "48.137154, 11.576124");
        let precise = SiteLocation::parse("48.13715449, 11.5761241").expect("valid").expect("given");
        let again = SiteLocation::parse(&precise.to_string()).expect("valid").expect("given");
        assert_eq!(again, precise, "what is shown saves back unchanged");
        assert_eq!(SiteLocation::new(-33.9, 151.2).expect("valid").to_string(), "-33.9, 151.2");
        assert_eq!(
            SiteLocation::parse(&location.to_string()).expect("valid").map(|l| l.to_string()),
            Some(location.to_string())
        );
        assert_eq!(
            SiteLocation::parse("-33.8688 151.2093").expect("valid").map(|l| l.latitude()),
            Some(-33.8688)
        );
        assert_eq!(SiteLocation::parse("   "), Ok(None));
    }

    #[test]
    fn what_is_not_on_the_earth_is_refused_with_its_reason() {
        assert_eq!(SiteLocation::parse("91, 10"), Err(LocationError::Latitude));
        assert_eq!(SiteLocation::parse("45, -180.5"), Err(LocationError::Longitude));
        assert_eq!(SiteLocation::parse("45"), Err(LocationError::Format));
        assert_eq!(SiteLocation::parse("45, 10, 3"), Err(LocationError::Format));
        assert_eq!(SiteLocation::parse("north, east"), Err(LocationError::Format));
        assert_eq!(SiteLocation::parse("NaN, 10"), Err(LocationError::Latitude));
        assert!(serde_json::from_str::<SiteLocation>(r#"{"latitude": 95, "longitude": 0}"#).is_err());
    }
}
