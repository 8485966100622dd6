//! When an alert condition holds, as pure functions of what the monitor observed.

use chrono::{DateTime, NaiveTime, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::domain::AlertBasis;
use crate::reports::performance::{G_REF_W_M2, PairedHours};

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

/// Below this expected specific yield (kWh/kWp) a day is too dark to judge.
const MIN_EXPECTED_YIELD: f64 = 0.05;

/// A site's day found far below what it should have made, and what it was measured against.
#[derive(Debug, Clone, PartialEq)]
pub struct Underperformance {
    /// The sentence for people.
    pub detail: String,
    /// The reference it fell short of.
    pub basis: AlertBasis,
}

/// What a site's day is judged on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayFigures<'a> {
    /// Specific yield of the day, kWh/kWp (from a day with enough data).
    pub yield_today: f64,
    /// The day's hours with both production and irradiance data, where the site has a sensor.
    pub irradiance: Option<PairedHours>,
    /// Installed capacity, kWp.
    pub capacity_kwp: f64,
    /// Specific yields of the site's own recent days.
    pub own_recent: &'a [f64],
    /// Specific yields of the provider's other sites on the same day.
    pub peers: &'a [f64],
}

/// Whether a site's day is far below what it should have made, and against what.
///
/// Where the site's irradiance sensor measured the day, the sensor says what the sun offered:
/// expected = capacity × insolation / G_ref × `reference_pr_percent`, and the energy of the same
/// hours (both sides measured, as for the performance ratio) below `percent` % of it is
/// underperformance, whatever other sites did. Elsewhere, peers at the same provider on the same
/// day saw the same weather, so when at least [`MIN_REFERENCES`] of them reported, the site is
/// compared with their median; otherwise with the median of its own recent days.
pub fn underperforming(
    day: DayFigures<'_>,
    reference_pr_percent: u8,
    percent: u8,
) -> Option<Underperformance> {
    let share = f64::from(percent) / 100.0;
    let reference_pr = f64::from(reference_pr_percent) / 100.0;
    let rated = day.capacity_kwp.is_finite() && day.capacity_kwp > 0.0;
    if let Some(hours) = day.irradiance.filter(|_| rated) {
        let reference_yield = hours.insolation_wh_m2 / G_REF_W_M2;
        let expected = reference_yield * reference_pr;
        if expected > MIN_EXPECTED_YIELD {
            let measured = hours.energy_wh / 1000.0 / day.capacity_kwp;
            if measured >= expected * share {
                return None;
            }
            return Some(Underperformance {
                detail: format!(
                    "produced {:.2} kWh per kWp, {:.0} % of the {:.2} kWh/kWp expected from the {:.2} kWh/m² \
                     of sunlight measured on site (performance ratio {:.0} % against {:.0} %)",
                    measured,
                    measured / expected * 100.0,
                    expected,
                    reference_yield,
                    measured / reference_yield * 100.0,
                    reference_pr * 100.0,
                ),
                basis: AlertBasis::Irradiance,
            });
        }
    }
    let (reference, against, basis) = if day.peers.len() >= MIN_REFERENCES {
        (median(day.peers)?, "other sites of your installer on the same day", AlertBasis::Peers)
    } else if day.own_recent.len() >= MIN_REFERENCES {
        (median(day.own_recent)?, "its own recent days", AlertBasis::OwnHistory)
    } else {
        return None;
    };
    if reference <= MIN_EXPECTED_YIELD || day.yield_today >= reference * share {
        return None;
    }
    Some(Underperformance {
        detail: format!(
            "produced {:.2} kWh per kWp, {:.0} % of the {:.2} kWh/kWp typical of {against}",
            day.yield_today,
            day.yield_today / reference * 100.0,
            reference
        ),
        basis,
    })
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

    fn day<'a>(yield_today: f64, own_recent: &'a [f64], peers: &'a [f64]) -> DayFigures<'a> {
        DayFigures { yield_today, irradiance: None, capacity_kwp: 10.0, own_recent, peers }
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
        assert_eq!(underperforming(day(1.1, &own, &[1.2, 1.3, 1.1]), 80, 60), None);
        // Peers made 4.2, this site 1.1.
        let verdict = underperforming(day(1.1, &own, &[4.2, 4.0, 4.3]), 80, 60).expect("underperforming");
        assert!(verdict.detail.contains("other sites"), "{}", verdict.detail);
        assert_eq!(verdict.basis, AlertBasis::Peers);
        // Without peers, its own history is the reference.
        let verdict = underperforming(day(1.1, &own, &[]), 80, 60).expect("underperforming");
        assert!(verdict.detail.contains("own recent days"));
        assert_eq!(verdict.basis, AlertBasis::OwnHistory);
        // Too little history: no verdict.
        assert_eq!(underperforming(day(0.1, &[4.0], &[]), 80, 60), None);
    }

    #[test]
    fn with_a_sensor_the_expected_energy_comes_from_the_measured_irradiance() {
        // 10 kWp under 5 kWh/m² in the paired hours: Yr = 5 h, expected 5 × 0.8 = 4 kWh/kWp.
        // It made 20 kWh in those hours: 2 kWh/kWp, 50 % of expected, below 60 %.
        let sunny = PairedHours { energy_wh: 20_000.0, insolation_wh_m2: 5_000.0 };
        let low_peers = [2.1, 1.9, 2.0];
        let with_sensor = DayFigures { irradiance: Some(sunny), ..day(2.0, &[], &low_peers) };
        // Peers made as little (they would call it weather), but the sensor saw the sun.
        assert_eq!(underperforming(DayFigures { irradiance: None, ..with_sensor }, 80, 60), None);
        let verdict = underperforming(with_sensor, 80, 60).expect("underperforming");
        assert_eq!(verdict.basis, AlertBasis::Irradiance);
        assert!(verdict.detail.contains("4.00 kWh/kWp expected from the 5.00 kWh/m²"), "{}", verdict.detail);
        assert!(verdict.detail.contains("50 %") && verdict.detail.contains("performance ratio 40 %"));
        // At 45 % the threshold is not crossed; with a reference PR of 60 % (expected 3), neither.
        assert_eq!(underperforming(with_sensor, 80, 45), None);
        assert_eq!(underperforming(with_sensor, 60, 60), None);
        // A dull day by the sensor is not underperformance, however well peers did.
        let dull = PairedHours { energy_wh: 8_000.0, insolation_wh_m2: 1_200.0 };
        let high_peers = [4.2, 4.0, 4.3];
        assert_eq!(
            underperforming(DayFigures { irradiance: Some(dull), ..day(0.8, &[], &high_peers) }, 80, 60),
            None
        );
        // A sensor that measured next to nothing leaves the verdict to the peers.
        let dark = PairedHours { energy_wh: 8_000.0, insolation_wh_m2: 10.0 };
        let verdict =
            underperforming(DayFigures { irradiance: Some(dark), ..day(0.8, &[], &high_peers) }, 80, 60)
                .expect("underperforming against peers");
        assert_eq!(verdict.basis, AlertBasis::Peers);
    }

    #[test]
    fn the_median_ignores_order_and_handles_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
