//! A synthetic sun: plant power that rises and sets every day, for readings that look like a
//! plant's day without the simulator's solar geometry.

use chrono::{DateTime, Utc};

/// Power at `ts` of a plant peaking at `peak` W: a half sine from 06:00 to 18:00 UTC, zero at
/// night.
pub fn bell(ts: DateTime<Utc>, peak: f64) -> f64 {
    let seconds = ts.timestamp().rem_euclid(86_400);
    #[allow(clippy::cast_precision_loss)] // seconds of a day: exact in an f64
    let hour = seconds as f64 / 3600.0;
    if (6.0..18.0).contains(&hour) { peak * ((hour - 6.0) / 12.0 * std::f64::consts::PI).sin() } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_sun_peaks_at_noon_and_is_down_at_night() {
        let at = |hour| Utc.with_ymd_and_hms(2026, 6, 21, hour, 0, 0).single().expect("a time");
        assert!((bell(at(12), 5000.0) - 5000.0).abs() < 1e-6);
        assert_eq!(bell(at(3), 5000.0), 0.0);
        assert!(bell(at(9), 5000.0) > 0.0 && bell(at(9), 5000.0) < 5000.0);
    }
}
