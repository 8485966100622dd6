//! What counts as daylight at a site: between sunrise and sunset where the site's location is
//! known (the sun's position for that place and date), else the local clock hours 06:00 to 20:00.
//! Availability, the offline alert and a day's "reported" all ask this one rule, so a site in
//! Tromsø in December is not unavailable for the dark and one in Munich in June is watched from
//! five in the morning.

use std::ops::Range;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Timelike, Utc};
use chrono_tz::Tz;
use sunrise::{Coordinates, SolarDay, SolarEvent};

use crate::domain::SiteLocation;

/// Local clock hours counted as daylight where a site's location is not known (06:00 to 20:00).
pub const CLOCK_DAYLIGHT: Range<u32> = 6..20;

/// The sun on one day at one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SunDay {
    /// The sun rises and sets.
    Rises {
        /// Sunrise (the sun's upper rim on the horizon, refraction included).
        sunrise: DateTime<Utc>,
        /// Sunset.
        sunset: DateTime<Utc>,
    },
    /// The sun does not set (midsummer beyond a polar circle).
    PolarDay,
    /// The sun does not rise (midwinter beyond a polar circle).
    PolarNight,
}

/// The sun at `location` on its local solar day `date` (the day around that date's solar noon
/// there).
pub fn sun_day(location: SiteLocation, date: NaiveDate) -> SunDay {
    let Some(coordinates) = Coordinates::new(location.latitude(), location.longitude()) else {
        // A SiteLocation is checked to be on the earth, as Coordinates asks; kept total anyway.
        return SunDay::PolarNight;
    };
    let day = SolarDay::new(coordinates, date);
    match (day.event_time(SolarEvent::Sunrise), day.event_time(SolarEvent::Sunset)) {
        (Some(sunrise), Some(sunset)) => SunDay::Rises { sunrise, sunset },
        // Neither event happens only beyond a polar circle: the sun stays up while it stands
        // over the site's hemisphere (its declination has the latitude's sign), else down.
        _ => {
            if (declination_degrees(date) >= 0.0) == (location.latitude() >= 0.0) {
                SunDay::PolarDay
            } else {
                SunDay::PolarNight
            }
        }
    }
}

/// The sun's declination on `date`, degrees (north positive), to within a degree or so: enough to
/// tell which hemisphere it stands over, which is all it decides here.
fn declination_degrees(date: NaiveDate) -> f64 {
    let day = f64::from(date.ordinal());
    -23.44 * (std::f64::consts::TAU / 365.0 * (day + 10.0)).cos()
}

/// The local solar date of an instant at `longitude`: the date of its local mean time, which
/// keeps a site's day whole whatever the time zone its customer is in.
fn solar_date(at: DateTime<Utc>, longitude: f64) -> NaiveDate {
    // 4 minutes of time per degree of longitude; at most 12 hours either way.
    let offset = TimeDelta::seconds((longitude * 240.0).round() as i64);
    (at + offset).date_naive()
}

/// Which hours are daylight at a site.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DaylightRule {
    /// Between sunrise and sunset at the site's location.
    Sun(SiteLocation),
    /// The local clock hours [`CLOCK_DAYLIGHT`]: the site's location is not known.
    Clock,
}

impl DaylightRule {
    /// The rule for a site at `location`, when known.
    pub fn of(location: Option<SiteLocation>) -> Self {
        location.map_or(Self::Clock, Self::Sun)
    }

    /// Whether the sun decides (the site's location is known).
    pub fn follows_the_sun(&self) -> bool {
        matches!(self, Self::Sun(_))
    }

    /// Whether the hour starting at `hour` counts as daylight: with the sun, when the sun is up
    /// at its middle (so an hour is daylight when at least about half of it is); by the clock,
    /// when its local hour in `tz` is one of [`CLOCK_DAYLIGHT`].
    pub fn is_daylight_hour(&self, hour: DateTime<Utc>, tz: Tz) -> bool {
        let middle = hour + TimeDelta::minutes(30);
        match self {
            Self::Clock => CLOCK_DAYLIGHT.contains(&hour.with_timezone(&tz).hour()),
            Self::Sun(location) => match sun_day(*location, solar_date(middle, location.longitude())) {
                SunDay::Rises { sunrise, sunset } => sunrise <= middle && middle < sunset,
                SunDay::PolarDay => true,
                SunDay::PolarNight => false,
            },
        }
    }

    /// The daylight of the local day `date` in `tz`, from its start to its end; `None` on a polar
    /// night. A polar day runs from the local day's start to its end.
    pub fn span(&self, date: NaiveDate, tz: Tz) -> Option<Range<DateTime<Utc>>> {
        let local = |hour: u32| {
            date.and_hms_opt(hour, 0, 0)
                .and_then(|t| t.and_local_timezone(tz).earliest())
                .map(|t| t.with_timezone(&Utc))
        };
        match self {
            Self::Clock => Some(local(CLOCK_DAYLIGHT.start)?..local(CLOCK_DAYLIGHT.end)?),
            Self::Sun(location) => match sun_day(*location, date) {
                SunDay::Rises { sunrise, sunset } => Some(sunrise..sunset),
                SunDay::PolarDay => {
                    let next = date.succ_opt()?.and_hms_opt(0, 0, 0)?.and_local_timezone(tz).earliest()?;
                    Some(local(0)?..next.with_timezone(&Utc))
                }
                SunDay::PolarNight => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn place(latitude: f64, longitude: f64) -> SiteLocation {
        SiteLocation::new(latitude, longitude).expect("on the earth")
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    /// A table's local time: hour and minute.
    type ClockTime = (u32, u32);

    /// Sunrise and sunset within `tolerance_minutes` of a published table's, given as the
    /// zone's local clock times the table prints; `None` where the table gives no figure.
    fn assert_near(
        location: SiteLocation,
        day: NaiveDate,
        tz: Tz,
        (rise, set): (Option<ClockTime>, Option<ClockTime>),
        tolerance_minutes: i64,
    ) {
        let SunDay::Rises { sunrise, sunset } = sun_day(location, day) else {
            panic!("the sun rises and sets at {location} on {day}")
        };
        let at = |(h, m): (u32, u32)| {
            tz.from_local_datetime(&day.and_hms_opt(h, m, 0).expect("valid"))
                .single()
                .expect("unambiguous")
                .with_timezone(&Utc)
        };
        for (what, computed, published) in [("sunrise", sunrise, rise), ("sunset", sunset, set)] {
            let Some(published) = published.map(at) else { continue };
            let off = (computed - published).num_seconds().abs();
            assert!(
                off <= tolerance_minutes * 60,
                "{what} at {location} on {day}: computed {}, table {}",
                computed.with_timezone(&tz),
                published.with_timezone(&tz)
            );
        }
    }

    /// Published times, to the minute: on the equator (Quito, timeanddate.com's table), at 60
    /// degrees north in June and December (Helsinki, the Finnish Meteorological Institute's
    /// figures as printed), and across both daylight-saving changes (Munich, Bayerischer
    /// Rundfunk's table for March 2017; Zürich, SRF Meteo for the end of summer time in 2019).
    #[test]
    fn sunrise_and_sunset_agree_with_published_tables_within_two_minutes() {
        let quito = place(-0.1807, -78.4678);
        assert_near(
            quito,
            date(2018, 3, 21),
            chrono_tz::America::Guayaquil,
            (Some((6, 18)), Some((18, 24))),
            2,
        );
        let helsinki = place(60.1699, 24.9384);
        assert_near(
            helsinki,
            date(2012, 6, 21),
            chrono_tz::Europe::Helsinki,
            (Some((3, 54)), Some((22, 50))),
            2,
        );
        assert_near(
            helsinki,
            date(2008, 12, 21),
            chrono_tz::Europe::Helsinki,
            (Some((9, 24)), Some((15, 13))),
            2,
        );
        // Munich: 06:17 CET on 20 March, 06:54 CEST on 31 March (5:54 CET: the same sun, an
        // hour later on the clock after the change on the 26th).
        let munich = place(48.1372, 11.5755);
        assert_near(munich, date(2017, 3, 20), chrono_tz::Europe::Berlin, (Some((6, 17)), Some((18, 27))), 2);
        assert_near(munich, date(2017, 3, 31), chrono_tz::Europe::Berlin, (Some((6, 54)), None), 2);
        // Zürich: sunset 18:19 CEST on Saturday 26 October 2019, 17:17 CET on the Sunday after
        // the clocks went back, sunrise 07:01 CET.
        let zurich = place(47.3769, 8.5417);
        assert_near(zurich, date(2019, 10, 26), chrono_tz::Europe::Zurich, (None, Some((18, 19))), 2);
        assert_near(zurich, date(2019, 10, 27), chrono_tz::Europe::Zurich, (Some((7, 1)), Some((17, 17))), 2);
    }

    #[test]
    fn beyond_a_polar_circle_the_sun_stays_up_in_summer_and_down_in_winter() {
        let tromso = place(69.6492, 18.9553);
        assert_eq!(sun_day(tromso, date(2026, 6, 21)), SunDay::PolarDay);
        assert_eq!(sun_day(tromso, date(2026, 12, 21)), SunDay::PolarNight);
        let mcmurdo = place(-77.85, 166.67);
        assert_eq!(sun_day(mcmurdo, date(2026, 12, 21)), SunDay::PolarDay);
        assert_eq!(sun_day(mcmurdo, date(2026, 6, 21)), SunDay::PolarNight);
        // At the poles the sun's side of the equator decides, days after the equinoxes too.
        let south_pole = place(-90.0, 0.0);
        assert_eq!(sun_day(south_pole, date(2026, 9, 28)), SunDay::PolarDay, "up since about 23 September");
        assert_eq!(sun_day(south_pole, date(2026, 3, 28)), SunDay::PolarNight, "down since about 21 March");
        let north_pole = place(90.0, 0.0);
        assert_eq!(sun_day(north_pole, date(2026, 3, 28)), SunDay::PolarDay);
        let sun = DaylightRule::Sun(tromso);
        let tz = chrono_tz::Europe::Oslo;
        let midnight = Utc.with_ymd_and_hms(2026, 6, 21, 22, 0, 0).single().expect("valid");
        assert!(sun.is_daylight_hour(midnight, tz), "the midnight sun");
        let noon = Utc.with_ymd_and_hms(2026, 12, 21, 11, 0, 0).single().expect("valid");
        assert!(!sun.is_daylight_hour(noon, tz), "the polar night");
        assert_eq!(sun.span(date(2026, 12, 21), tz), None);
    }

    #[test]
    fn with_a_location_daylight_follows_the_sun_and_without_one_the_clock() {
        let munich = DaylightRule::of(Some(place(48.137, 11.575)));
        let tz = chrono_tz::Europe::Berlin;
        let utc = |m: u32, d: u32, h: u32| Utc.with_ymd_and_hms(2026, m, d, h, 0, 0).single().expect("valid");
        // December: the sun rises about 08:00 and sets about 16:20 local (07:00 and 15:20 UTC).
        assert!(!munich.is_daylight_hour(utc(12, 21, 6), tz), "07:00-08:00 local is still dark");
        assert!(munich.is_daylight_hour(utc(12, 21, 8), tz));
        assert!(!munich.is_daylight_hour(utc(12, 21, 16), tz), "17:00 local is night");
        // June: the sun is up from about 05:15 to 21:15 local.
        assert!(munich.is_daylight_hour(utc(6, 21, 4), tz), "06:00-07:00 local");
        assert!(munich.is_daylight_hour(utc(6, 21, 18), tz), "20:00-21:00 local");
        let clock = DaylightRule::of(None);
        assert!(clock.is_daylight_hour(utc(12, 21, 6), tz), "the clock says 07:00 is daylight");
        assert!(!clock.is_daylight_hour(utc(6, 21, 18), tz), "and 20:00 is not");
        assert!(!clock.follows_the_sun() && munich.follows_the_sun());
    }
}
