//! When an alert condition holds, as pure functions of what the monitor observed.

use chrono::{DateTime, NaiveTime, TimeDelta, Utc};
use chrono_tz::Tz;

/// The local hours the offline alert watches on one day: sunrise to sunset where the site's
/// location is known, else the hours it produced in on its own recent days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Daylight {
    /// Where the watched hours start, local time.
    pub from: NaiveTime,
    /// Where they end, local time.
    pub to: NaiveTime,
}

impl Daylight {
    /// Used until a site has produced on some recent day.
    pub const DEFAULT: Daylight = Daylight {
        from: NaiveTime::from_hms_opt(8, 0, 0).expect("08:00 is a valid time"),
        to: NaiveTime::from_hms_opt(18, 0, 0).expect("18:00 is a valid time"),
    };

    /// The local times of a day's daylight `span` (from
    /// [`DaylightRule::span`](crate::reports::daylight::DaylightRule::span)): all day for a polar
    /// day, none of it for a polar night (`None`).
    pub fn of_span(span: Option<std::ops::Range<DateTime<Utc>>>, tz: Tz) -> Self {
        let midnight = NaiveTime::MIN;
        let Some(span) = span else { return Daylight { from: midnight, to: midnight } };
        let (from, to) = (span.start.with_timezone(&tz), span.end.with_timezone(&tz));
        let to = if to.date_naive() > from.date_naive() {
            NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(midnight)
        } else {
            to.time()
        };
        Daylight { from: from.time(), to }
    }

    /// Today's daylight start in `tz`, if `now` is inside today's daylight.
    pub fn started_at(&self, now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&tz);
        let time = local.time();
        if time < self.from || time >= self.to {
            return None;
        }
        let start = local.date_naive().and_time(self.from);
        start.and_local_timezone(tz).earliest().map(|t| t.with_timezone(&Utc))
    }
}

/// A site is offline when, during daylight, it has been silent for `threshold` of daylight time
/// (night does not count: a gateway silent since yesterday evening is offline only once the
/// morning has run for `threshold` without data). A site that never reported is not watched.
pub fn offline(
    last_seen: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    threshold: TimeDelta,
    daylight: Daylight,
    tz: Tz,
) -> bool {
    let Some(last_seen) = last_seen else { return false };
    let Some(day_start) = daylight.started_at(now, tz) else { return false };
    now - last_seen.max(day_start) >= threshold
}

/// A site is back once it has reported within the threshold.
pub fn back_online(last_seen: Option<DateTime<Utc>>, now: DateTime<Utc>, threshold: TimeDelta) -> bool {
    last_seen.is_some_and(|seen| now - seen < threshold)
}

/// The median of the known values.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut known: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if known.is_empty() {
        return None;
    }
    known.sort_by(f64::total_cmp);
    let mid = known.len() / 2;
    Some(if known.len().is_multiple_of(2) { (known[mid - 1] + known[mid]) / 2.0 } else { known[mid] })
}

/// Fewest reference values a comparison needs.
pub const MIN_REFERENCES: usize = 3;

/// Whether a site's day (specific yield, kWh/kWp) is far below what it should be, and why.
///
/// Peers at the same provider on the same day saw the same weather, so when at least
/// [`MIN_REFERENCES`] of them reported, the site is compared with their median; otherwise with
/// the median of its own recent days. Below `percent` % of the reference is underperformance.
pub fn underperforming(yield_today: f64, own_recent: &[f64], peers: &[f64], percent: u8) -> Option<String> {
    let share = f64::from(percent) / 100.0;
    let (reference, against) = if peers.len() >= MIN_REFERENCES {
        (median(peers)?, "other sites of your installer on the same day")
    } else if own_recent.len() >= MIN_REFERENCES {
        (median(own_recent)?, "its own recent days")
    } else {
        return None;
    };
    if reference <= 0.05 || yield_today >= reference * share {
        return None;
    }
    Some(format!(
        "produced {:.2} kWh per kWp, {:.0} % of the {:.2} kWh/kWp typical of {against}",
        yield_today,
        yield_today / reference * 100.0,
        reference
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect("valid timestamp").with_timezone(&Utc)
    }

    #[test]
    fn a_site_silent_overnight_is_offline_only_after_the_threshold_of_daylight() {
        let tz = chrono_tz::Europe::Berlin;
        let threshold = TimeDelta::minutes(60);
        let evening = Some(utc("2026-06-01T17:00:00Z"));
        // 08:30 Berlin (06:30Z): daylight started 30 minutes ago.
        assert!(!offline(evening, utc("2026-06-02T06:30:00Z"), threshold, Daylight::DEFAULT, tz));
        // 09:00 Berlin: an hour of daylight without data.
        assert!(offline(evening, utc("2026-06-02T07:00:00Z"), threshold, Daylight::DEFAULT, tz));
        // Night: never.
        assert!(!offline(evening, utc("2026-06-02T01:00:00Z"), threshold, Daylight::DEFAULT, tz));
        // Never reported: not watched.
        assert!(!offline(None, utc("2026-06-02T10:00:00Z"), threshold, Daylight::DEFAULT, tz));
        assert!(back_online(Some(utc("2026-06-02T09:50:00Z")), utc("2026-06-02T10:00:00Z"), threshold));
    }

    #[test]
    fn with_a_location_the_offline_alert_waits_for_sunrise_and_stops_at_sunset() {
        use crate::domain::SiteLocation;
        use crate::reports::daylight::DaylightRule;
        let tz = chrono_tz::Europe::Berlin;
        let munich = DaylightRule::Sun(SiteLocation::new(48.137, 11.575).expect("on the earth"));
        let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 21).expect("valid");
        let december = Daylight::of_span(munich.span(day, tz), tz);
        let threshold = TimeDelta::minutes(60);
        let evening = Some(utc("2026-12-20T16:00:00Z"));
        // 08:30 local: the default hours would have watched for half an hour; the sun rose at
        // about 08:02, so the hour without data has not run yet.
        assert!(!offline(evening, utc("2026-12-21T07:30:00Z"), threshold, december, tz));
        assert!(offline(evening, utc("2026-12-21T08:10:00Z"), threshold, december, tz));
        // 16:45 local: after sunset, a silent site is not offline.
        assert!(!offline(evening, utc("2026-12-21T15:45:00Z"), threshold, december, tz));
        // Beyond the polar circle in December the sun does not rise: never offline.
        let tromso = DaylightRule::Sun(SiteLocation::new(69.65, 18.96).expect("on the earth"));
        let night = Daylight::of_span(tromso.span(day, chrono_tz::Europe::Oslo), chrono_tz::Europe::Oslo);
        assert!(!offline(evening, utc("2026-12-21T11:00:00Z"), threshold, night, chrono_tz::Europe::Oslo));
    }

    #[test]
    fn a_cloudy_day_for_everyone_is_not_underperformance_but_a_lone_low_site_is() {
        let own = [4.1, 4.3, 3.9, 4.4];
        // Everyone produced about 1.2 kWh/kWp: weather, not a fault.
        assert_eq!(underperforming(1.1, &own, &[1.2, 1.3, 1.1], 60), None);
        // Peers made 4.2, this site 1.1.
        let reason = underperforming(1.1, &own, &[4.2, 4.0, 4.3], 60).expect("underperforming");
        assert!(reason.contains("other sites"), "{reason}");
        // Without peers, its own history is the reference.
        assert!(underperforming(1.1, &own, &[], 60).is_some_and(|r| r.contains("own recent days")));
        // Too little history: no verdict.
        assert_eq!(underperforming(0.1, &[4.0], &[], 60), None);
    }

    #[test]
    fn the_median_ignores_order_and_handles_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
