//! Report periods in a site's own timezone: a day, a month, a year or a range of days, their
//! UTC bounds, their buckets (hours, days or months) and their neighbours for navigation.
//!
//! Local days are found by their local midnights, so a day of a daylight-saving change has 23
//! or 25 hour buckets. In zones whose offset is not a whole number of hours, hour buckets start
//! at local hour boundaries and take the UTC rollup hour that starts inside them.

use std::fmt;
use std::ops::Range;

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// The longest range of days a report covers (ten years).
pub const MAX_RANGE_DAYS: i64 = 3_660;

/// A report period, in local calendar terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "view", rename_all = "snake_case")]
pub enum Period {
    /// One local day, in hours.
    Day {
        /// The day.
        date: NaiveDate,
    },
    /// One calendar month, in days.
    Month {
        /// Year.
        year: i32,
        /// Month, 1-12.
        month: u32,
    },
    /// One calendar year, in months.
    Year {
        /// Year.
        year: i32,
    },
    /// Any run of whole days (both ends included), in days, or in months beyond 92 days.
    Range {
        /// First day.
        first: NaiveDate,
        /// Last day, included.
        last: NaiveDate,
    },
}

/// Why a period could not be read from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    /// Not day, month, year or range.
    #[error("unknown report view {0:?}: use day, month, year or range")]
    View(String),
    /// The value does not fit the view.
    #[error("{value:?} is not a valid {view}: use {example}")]
    Value {
        /// The view.
        view: &'static str,
        /// The value as given (truncated).
        value: String,
        /// An example of a valid value.
        example: &'static str,
    },
    /// The range is reversed or too long.
    #[error("a range runs forward and covers at most {MAX_RANGE_DAYS} days")]
    RangeBounds,
}

/// The size of a period's buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// Hours.
    Hour,
    /// Local days.
    Day,
    /// Calendar months.
    Month,
}

/// One bucket of a period: `start <= t < end`, with a short local label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Start, UTC.
    pub start: DateTime<Utc>,
    /// End, UTC, excluded.
    pub end: DateTime<Utc>,
    /// "14:00", "21", "Jun".
    pub label: String,
}

impl Period {
    /// Reads a period from a view word and its value: `day 2026-06-01`, `month 2026-06`,
    /// `year 2026`, `range 2026-06-01..2026-06-30`.
    pub fn parse(view: &str, value: &str) -> Result<Self, PeriodError> {
        let truncated = || value.chars().take(40).collect::<String>();
        match view {
            "day" => NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .ok()
                .filter(|d| (1..=9999).contains(&d.year()))
                .map(|date| Self::Day { date })
                .ok_or_else(|| PeriodError::Value { view: "day", value: truncated(), example: "2026-06-01" }),
            "month" => value
                .split_once('-')
                .and_then(|(y, m)| Some((y.parse::<i32>().ok()?, m.parse::<u32>().ok()?)))
                .filter(|(y, m)| (1..=9999).contains(y) && (1..=12).contains(m) && value.len() == 7)
                .map(|(year, month)| Self::Month { year, month })
                .ok_or_else(|| PeriodError::Value { view: "month", value: truncated(), example: "2026-06" }),
            "year" => value
                .parse::<i32>()
                .ok()
                .filter(|y| (1..=9999).contains(y) && value.len() == 4)
                .map(|year| Self::Year { year })
                .ok_or_else(|| PeriodError::Value { view: "year", value: truncated(), example: "2026" }),
            "range" => {
                let bad = || PeriodError::Value {
                    view: "range",
                    value: truncated(),
                    example: "2026-06-01..2026-06-30",
                };
                let (first, last) = value.split_once("..").ok_or_else(bad)?;
                let date = |text: &str| NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| bad());
                Self::range(date(first)?, date(last)?)
            }
            other => Err(PeriodError::View(other.chars().take(16).collect())),
        }
    }

    /// A range of whole days, both included.
    pub fn range(first: NaiveDate, last: NaiveDate) -> Result<Self, PeriodError> {
        let days = (last - first).num_days();
        if (0..MAX_RANGE_DAYS).contains(&days) {
            Ok(Self::Range { first, last })
        } else {
            Err(PeriodError::RangeBounds)
        }
    }

    /// The period of kind `view` that contains `date`.
    pub fn containing(view: &str, date: NaiveDate) -> Result<Self, PeriodError> {
        match view {
            "day" => Ok(Self::Day { date }),
            "month" => Ok(Self::Month { year: date.year(), month: date.month() }),
            "year" => Ok(Self::Year { year: date.year() }),
            "range" => Ok(Self::Range { first: date, last: date }),
            other => Err(PeriodError::View(other.chars().take(16).collect())),
        }
    }

    /// "day", "month", "year" or "range".
    pub fn view(&self) -> &'static str {
        match self {
            Self::Day { .. } => "day",
            Self::Month { .. } => "month",
            Self::Year { .. } => "year",
            Self::Range { .. } => "range",
        }
    }

    /// The value that [`Period::parse`] reads back: "2026-06-01", "2026-06", "2026".
    pub fn key(&self) -> String {
        match self {
            Self::Day { date } => date.format("%Y-%m-%d").to_string(),
            Self::Month { year, month } => format!("{year:04}-{month:02}"),
            Self::Year { year } => format!("{year:04}"),
            Self::Range { first, last } => {
                format!("{}..{}", first.format("%Y-%m-%d"), last.format("%Y-%m-%d"))
            }
        }
    }

    /// A title for people: "Mon 1 June 2026", "June 2026", "2026".
    pub fn title(&self) -> String {
        match self {
            Self::Day { date } => date.format("%a %-d %B %Y").to_string(),
            Self::Month { .. } => self.first_day().format("%B %Y").to_string(),
            Self::Year { year } => year.to_string(),
            Self::Range { first, last } => {
                format!("{} – {}", first.format("%-d %b %Y"), last.format("%-d %b %Y"))
            }
        }
    }

    /// The first local day of the period.
    pub fn first_day(&self) -> NaiveDate {
        match *self {
            Self::Day { date } => date,
            Self::Month { year, month } => first_of_month(year, month),
            Self::Year { year } => first_of_month(year, 1),
            Self::Range { first, .. } => first,
        }
    }

    /// The day after the period's last day.
    pub fn end_day(&self) -> NaiveDate {
        let first = self.first_day();
        let end = match *self {
            Self::Day { date } => date.succ_opt(),
            Self::Month { .. } => first.checked_add_months(Months::new(1)),
            Self::Year { .. } => first.checked_add_months(Months::new(12)),
            Self::Range { last, .. } => last.succ_opt(),
        };
        end.unwrap_or(NaiveDate::MAX)
    }

    /// The period before this one (a range moves back by its own length).
    pub fn previous(&self) -> Self {
        self.shift(-1)
    }

    /// The period after this one.
    pub fn next(&self) -> Self {
        self.shift(1)
    }

    fn shift(&self, direction: i32) -> Self {
        match *self {
            Self::Day { date } => {
                let moved = if direction < 0 { date.pred_opt() } else { date.succ_opt() };
                Self::Day { date: moved.unwrap_or(date) }
            }
            Self::Month { year, month } => {
                let index = year * 12 + month as i32 - 1 + direction;
                Self::Month { year: index.div_euclid(12), month: index.rem_euclid(12) as u32 + 1 }
            }
            Self::Year { year } => Self::Year { year: year + direction },
            Self::Range { first, last } => {
                let length = last - first + TimeDelta::days(1);
                let by = if direction < 0 { -length } else { length };
                match (first.checked_add_signed(by), last.checked_add_signed(by)) {
                    (Some(first), Some(last)) => Self::Range { first, last },
                    _ => *self,
                }
            }
        }
    }

    /// The size of the buckets the period is split into.
    pub fn resolution(&self) -> Resolution {
        match self {
            Self::Day { .. } => Resolution::Hour,
            Self::Month { .. } => Resolution::Day,
            Self::Year { .. } => Resolution::Month,
            Self::Range { first, last } => {
                if (*last - *first).num_days() < 92 {
                    Resolution::Day
                } else {
                    Resolution::Month
                }
            }
        }
    }

    /// The period's bounds in UTC: from the first day's local midnight to the end day's.
    pub fn bounds(&self, tz: Tz) -> Range<DateTime<Utc>> {
        local_midnight(tz, self.first_day())..local_midnight(tz, self.end_day())
    }

    /// The period split into buckets of its [`Resolution`], in order, covering its bounds.
    pub fn buckets(&self, tz: Tz) -> Vec<Bucket> {
        let bounds = self.bounds(tz);
        match self.resolution() {
            Resolution::Hour => hour_buckets(tz, bounds),
            Resolution::Day => {
                let mut out = Vec::new();
                let mut day = self.first_day();
                while day < self.end_day() {
                    let next = day.succ_opt().unwrap_or(NaiveDate::MAX);
                    out.push(Bucket {
                        start: local_midnight(tz, day),
                        end: local_midnight(tz, next),
                        label: day.format("%-d").to_string(),
                    });
                    day = next;
                }
                out
            }
            Resolution::Month => {
                let mut out = Vec::new();
                let first = self.first_day();
                let mut month = first_of_month(first.year(), first.month());
                while month < self.end_day() {
                    let next = month.checked_add_months(Months::new(1)).unwrap_or(NaiveDate::MAX);
                    let (from, to) = (month.max(first), next.min(self.end_day()));
                    out.push(Bucket {
                        start: local_midnight(tz, from),
                        end: local_midnight(tz, to),
                        label: month.format("%b").to_string(),
                    });
                    month = next;
                }
                out
            }
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.view(), self.key())
    }
}

fn first_of_month(year: i32, month: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(NaiveDate::MIN)
}

/// The instant a local day begins. Where midnight falls in a daylight-saving gap the day
/// begins at the first local time that exists; where it is ambiguous, at the earlier one.
pub fn local_midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or(NaiveDateTime::MIN);
    for minutes in (0..=180).step_by(15) {
        let local = midnight + TimeDelta::minutes(minutes);
        if let Some(instant) = tz.from_local_datetime(&local).earliest() {
            return instant.with_timezone(&Utc);
        }
    }
    Utc.from_utc_datetime(&midnight)
}

/// The local date of an instant.
pub fn local_date(tz: Tz, instant: DateTime<Utc>) -> NaiveDate {
    instant.with_timezone(&tz).date_naive()
}

/// Hour buckets from `bounds.start`, one per elapsed hour, labelled with the local time.
fn hour_buckets(tz: Tz, bounds: Range<DateTime<Utc>>) -> Vec<Bucket> {
    let mut out = Vec::new();
    let mut start = bounds.start;
    while start < bounds.end {
        let end = (start + TimeDelta::hours(1)).min(bounds.end);
        out.push(Bucket { start, end, label: start.with_timezone(&tz).format("%H:%M").to_string() });
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    #[test]
    fn periods_read_back_what_they_write() {
        for (view, value) in [
            ("day", "2026-03-29"),
            ("month", "2026-12"),
            ("year", "2026"),
            ("range", "2026-06-01..2026-06-30"),
        ] {
            let period = Period::parse(view, value).expect("valid");
            assert_eq!((period.view(), period.key().as_str()), (view, value));
        }
        for (view, value) in [
            ("day", "2026-02-30"),
            ("month", "2026-13"),
            ("month", "2026-1"),
            ("year", "26"),
            ("week", "2026-1"),
            ("range", "2026-06-30..2026-06-01"),
            ("day", "<script>"),
        ] {
            assert!(Period::parse(view, value).is_err(), "{view} {value}");
        }
    }

    #[test]
    fn navigation_crosses_month_and_year_ends() {
        assert_eq!(
            Period::Month { year: 2026, month: 1 }.previous(),
            Period::Month { year: 2025, month: 12 }
        );
        assert_eq!(Period::Month { year: 2026, month: 12 }.next(), Period::Month { year: 2027, month: 1 });
        assert_eq!(
            Period::Day { date: date(2026, 3, 1) }.previous(),
            Period::Day { date: date(2026, 2, 28) }
        );
        assert_eq!(
            Period::Range { first: date(2026, 6, 1), last: date(2026, 6, 10) }.next(),
            Period::Range { first: date(2026, 6, 11), last: date(2026, 6, 20) }
        );
    }

    #[test]
    fn a_spring_forward_day_in_berlin_has_twenty_three_hours() {
        let tz: Tz = "Europe/Berlin".parse().expect("known zone");
        let day = Period::Day { date: date(2026, 3, 29) };
        let bounds = day.bounds(tz);
        assert_eq!(bounds.start, Utc.with_ymd_and_hms(2026, 3, 28, 23, 0, 0).single().expect("valid"));
        assert_eq!(bounds.end, Utc.with_ymd_and_hms(2026, 3, 29, 22, 0, 0).single().expect("valid"));
        let buckets = day.buckets(tz);
        assert_eq!(buckets.len(), 23);
        let labels: Vec<&str> = buckets.iter().take(4).map(|b| b.label.as_str()).collect();
        assert_eq!(labels, ["00:00", "01:00", "03:00", "04:00"]);
    }

    #[test]
    fn a_fall_back_day_in_berlin_has_twenty_five_hours_with_two_o_clock_twice() {
        let tz: Tz = "Europe/Berlin".parse().expect("known zone");
        let buckets = Period::Day { date: date(2026, 10, 25) }.buckets(tz);
        assert_eq!(buckets.len(), 25);
        let labels: Vec<&str> = buckets.iter().take(5).map(|b| b.label.as_str()).collect();
        assert_eq!(labels, ["00:00", "01:00", "02:00", "02:00", "03:00"]);
    }

    #[test]
    fn month_and_year_buckets_follow_local_midnights() {
        let tz: Tz = "Europe/Berlin".parse().expect("known zone");
        let march = Period::Month { year: 2026, month: 3 }.buckets(tz);
        assert_eq!(march.len(), 31);
        assert_eq!(march[28].end - march[28].start, TimeDelta::hours(23), "29 March is 23 hours long");
        let year = Period::Year { year: 2026 }.buckets(tz);
        assert_eq!(year.len(), 12);
        assert_eq!(year[0].start, Utc.with_ymd_and_hms(2025, 12, 31, 23, 0, 0).single().expect("valid"));
        assert_eq!(year[6].start, Utc.with_ymd_and_hms(2026, 6, 30, 22, 0, 0).single().expect("valid"));
        assert_eq!(year[11].label, "Dec");
    }

    #[test]
    fn a_midnight_that_does_not_exist_begins_the_day_at_the_first_local_time_that_does() {
        // Asia/Beirut moved its clocks from 00:00 to 01:00 on 26 March 2023.
        let tz: Tz = "Asia/Beirut".parse().expect("known zone");
        let start = local_midnight(tz, date(2023, 3, 26));
        assert_eq!(start.with_timezone(&tz).format("%H:%M").to_string(), "01:00");
    }
}
