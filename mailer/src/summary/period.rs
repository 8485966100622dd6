//! The period a summary email covers, in the customer's timezone: a day, an ISO week (Monday to
//! Sunday) or a calendar month, with UTC bounds that follow DST (a spring-forward day has 23
//! hours, an autumn one 25). Its key names the delivery in the mail ledger; its figures come
//! from the shared report [`ReportPeriod`] it maps to, which has no weeks.

use std::fmt;
use std::ops::Range;

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, TimeDelta, Utc, Weekday};
use chrono_tz::Tz;
use heliograph_shared::ReportSchedule;
use heliograph_shared::reports::period::{Period as ReportPeriod, local_midnight};

/// How often a customer gets a summary, and so how long its period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cadence {
    /// One local day.
    Day,
    /// One ISO week, Monday to Sunday.
    Week,
    /// One calendar month.
    Month,
}

impl Cadence {
    /// The period a schedule sends; `None` for [`ReportSchedule::Never`].
    pub fn for_schedule(schedule: ReportSchedule) -> Option<Self> {
        match schedule {
            ReportSchedule::Daily => Some(Self::Day),
            ReportSchedule::Weekly => Some(Self::Week),
            ReportSchedule::Monthly => Some(Self::Month),
            ReportSchedule::Never => None,
        }
    }

    /// "daily", "weekly", "monthly", for subjects and footers.
    pub fn adjective(self) -> &'static str {
        match self {
            Self::Day => "daily",
            Self::Week => "weekly",
            Self::Month => "monthly",
        }
    }
}

/// Why a period cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "period {0:?} is not understood: use 2026-03-29 (a day), 2026-W13 (an ISO week) or 2026-03 (a month)"
)]
pub struct SummaryPeriodError(String);

/// A day, week or month, by its first local date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SummaryPeriod {
    kind: Cadence,
    start: NaiveDate,
}

impl SummaryPeriod {
    /// The period of `kind` that contains `date`.
    pub fn containing(kind: Cadence, date: NaiveDate) -> Self {
        let start = match kind {
            Cadence::Day => date,
            Cadence::Week => date - Days::new(u64::from(date.weekday().num_days_from_monday())),
            Cadence::Month => date.with_day(1).unwrap_or(date),
        };
        Self { kind, start }
    }

    /// Parses `2026-03-29`, `2026-W13` or `2026-03`.
    pub fn parse(text: &str) -> Result<Self, SummaryPeriodError> {
        let text = text.trim();
        let error = || SummaryPeriodError(text.chars().take(32).collect());
        if let Some((year, week)) = text.split_once("-W") {
            let year: i32 = year.parse().map_err(|_| error())?;
            let week: u32 = week.parse().map_err(|_| error())?;
            let start = NaiveDate::from_isoywd_opt(year, week, Weekday::Mon).ok_or_else(error)?;
            return Ok(Self { kind: Cadence::Week, start });
        }
        if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Ok(Self { kind: Cadence::Day, start: date });
        }
        let date = NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d").map_err(|_| error())?;
        if text.len() != 7 {
            return Err(error());
        }
        Ok(Self { kind: Cadence::Month, start: date })
    }

    /// Its kind.
    pub fn kind(&self) -> Cadence {
        self.kind
    }

    /// Its first local date.
    pub fn start_date(&self) -> NaiveDate {
        self.start
    }

    /// The local date after its last one.
    pub fn end_date(&self) -> NaiveDate {
        match self.kind {
            Cadence::Day => self.start + Days::new(1),
            Cadence::Week => self.start + Days::new(7),
            Cadence::Month => self.start + Months::new(1),
        }
    }

    /// Its local dates, in order.
    pub fn dates(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        let end = self.end_date();
        self.start.iter_days().take_while(move |d| *d < end)
    }

    /// The period before.
    pub fn previous(&self) -> Self {
        let date = self.start - Days::new(1);
        Self::containing(self.kind, date)
    }

    /// The period after.
    pub fn next(&self) -> Self {
        Self::containing(self.kind, self.end_date())
    }

    /// The same period a year earlier: the same date, ISO week number or month (none for
    /// 29 February, or week 53 in a year without one).
    pub fn a_year_earlier(&self) -> Option<Self> {
        match self.kind {
            Cadence::Day | Cadence::Month => {
                let start = self.start.with_year(self.start.year() - 1)?;
                Some(Self { kind: self.kind, start })
            }
            Cadence::Week => {
                let week = self.start.iso_week();
                let start = NaiveDate::from_isoywd_opt(week.year() - 1, week.week(), Weekday::Mon)?;
                Some(Self { kind: self.kind, start })
            }
        }
    }

    /// The shared report period that covers the same days, so that a summary's figures are
    /// the panel's: days and months as they are, a week as the range of its seven days.
    pub fn report_period(&self) -> ReportPeriod {
        match self.kind {
            Cadence::Day => ReportPeriod::Day { date: self.start },
            Cadence::Week => ReportPeriod::Range { first: self.start, last: self.start + Days::new(6) },
            Cadence::Month => ReportPeriod::Month { year: self.start.year(), month: self.start.month() },
        }
    }

    /// Its UTC bounds in `tz`: from the first local midnight to the one after the last day
    /// (the shared reports' definition of a local day, so mail and panel agree).
    pub fn bounds(&self, tz: Tz) -> Range<DateTime<Utc>> {
        local_midnight(tz, self.start)..local_midnight(tz, self.end_date())
    }

    /// The stable text form used in delivery keys and on the command line.
    pub fn key(&self) -> String {
        match self.kind {
            Cadence::Day => self.start.format("%Y-%m-%d").to_string(),
            Cadence::Week => {
                let week = self.start.iso_week();
                format!("{}-W{:02}", week.year(), week.week())
            }
            Cadence::Month => self.start.format("%Y-%m").to_string(),
        }
    }

    /// How people read it: "Sunday 29 March 2026", "23–29 March 2026 (week 13)", "March 2026".
    pub fn label(&self) -> String {
        match self.kind {
            Cadence::Day => self.start.format("%A %-d %B %Y").to_string(),
            Cadence::Week => {
                let last = self.end_date() - Days::new(1);
                let week = self.start.iso_week().week();
                if self.start.month() == last.month() {
                    format!("{}–{} (week {week})", self.start.format("%-d"), last.format("%-d %B %Y"))
                } else if self.start.year() == last.year() {
                    format!("{} – {} (week {week})", self.start.format("%-d %B"), last.format("%-d %B %Y"))
                } else {
                    format!("{} – {} (week {week})", self.start.format("%-d %B %Y"), last.format("%-d %B %Y"))
                }
            }
            Cadence::Month => self.start.format("%B %Y").to_string(),
        }
    }

    /// The periods of `kind` that closed in `tz` at least `delay` before `now` and at most
    /// `window` before it, oldest first: what a scheduler should have sent by `now`.
    pub fn closed_within(
        kind: Cadence,
        tz: Tz,
        now: DateTime<Utc>,
        delay: TimeDelta,
        window: TimeDelta,
    ) -> Vec<Self> {
        let today = now.with_timezone(&tz).date_naive();
        let mut period = Self::containing(kind, today);
        let mut found = Vec::new();
        loop {
            let end = period.bounds(tz).end;
            if end + delay <= now {
                if now - end > window {
                    break;
                }
                found.push(period);
            }
            period = period.previous();
            if found.len() > 64 {
                break;
            }
        }
        found.reverse();
        found
    }
}

impl fmt::Display for SummaryPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect("valid timestamp").with_timezone(&Utc)
    }

    #[test]
    fn a_spring_forward_day_in_berlin_has_23_hours_and_an_autumn_day_25() {
        let spring = SummaryPeriod::parse("2026-03-29").expect("a day");
        let bounds = spring.bounds(chrono_tz::Europe::Berlin);
        assert_eq!(bounds.start, utc("2026-03-28T23:00:00Z"));
        assert_eq!(bounds.end, utc("2026-03-29T22:00:00Z"));
        let autumn = SummaryPeriod::parse("2026-10-25").expect("a day").bounds(chrono_tz::Europe::Berlin);
        assert_eq!(autumn.end - autumn.start, TimeDelta::hours(25));
    }

    #[test]
    fn weeks_run_monday_to_sunday_and_months_are_calendar_months() {
        let week =
            SummaryPeriod::containing(Cadence::Week, NaiveDate::from_ymd_opt(2026, 3, 29).expect("date"));
        assert_eq!(week.key(), "2026-W13");
        assert_eq!(week.start_date(), NaiveDate::from_ymd_opt(2026, 3, 23).expect("date"));
        assert_eq!(week.label(), "23–29 March 2026 (week 13)");
        let march = SummaryPeriod::parse("2026-03").expect("a month");
        let bounds = march.bounds(chrono_tz::Europe::Berlin);
        assert_eq!(bounds.start, utc("2026-02-28T23:00:00Z"));
        assert_eq!(bounds.end, utc("2026-03-31T22:00:00Z"));
        assert_eq!(march.previous().key(), "2026-02");
        assert_eq!(march.a_year_earlier().map(|p| p.key()), Some("2025-03".to_owned()));
        assert_eq!(SummaryPeriod::parse("2026-W01").map(|p| p.previous().key()), Ok("2025-W52".to_owned()));
    }

    #[test]
    fn a_summary_covers_the_same_days_and_instants_as_its_report_period() {
        let tz = chrono_tz::Europe::Berlin;
        // The week of the autumn clock change: 168 + 1 hours.
        let week = SummaryPeriod::parse("2026-W43").expect("a week");
        let report = week.report_period();
        let date = |text| NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a date");
        assert_eq!(report, ReportPeriod::Range { first: date("2026-10-19"), last: date("2026-10-25") });
        assert_eq!(report.bounds(tz), week.bounds(tz));
        assert_eq!(week.bounds(tz).end - week.bounds(tz).start, TimeDelta::hours(169));
        for key in ["2026-03-29", "2026-03"] {
            let period = SummaryPeriod::parse(key).expect("a period");
            assert_eq!(period.report_period().bounds(tz), period.bounds(tz), "{key}");
        }
    }

    #[test]
    fn keys_parse_back_to_the_same_period_and_nonsense_is_refused() {
        for key in ["2026-03-29", "2026-W13", "2026-03", "2020-W53"] {
            assert_eq!(SummaryPeriod::parse(key).map(|p| p.key()), Ok(key.to_owned()));
        }
        for bad in ["", "2026", "2026-13", "2026-W60", "March", "2026-03-32", "2026-3"] {
            assert!(SummaryPeriod::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_period_is_due_only_after_it_closes_in_the_customers_timezone_plus_the_delay() {
        let tz = chrono_tz::America::New_York;
        let delay = TimeDelta::minutes(60);
        let window = TimeDelta::days(2);
        // 2026-11-02 00:30 in New York is 05:30Z: 1 November closed 30 minutes ago, not yet due.
        let due = SummaryPeriod::closed_within(Cadence::Day, tz, utc("2026-11-02T05:30:00Z"), delay, window);
        assert_eq!(due.iter().map(SummaryPeriod::key).collect::<Vec<_>>(), vec!["2026-10-31"]);
        let due = SummaryPeriod::closed_within(Cadence::Day, tz, utc("2026-11-02T06:00:00Z"), delay, window);
        assert_eq!(due.iter().map(SummaryPeriod::key).collect::<Vec<_>>(), vec!["2026-10-31", "2026-11-01"]);
        let months =
            SummaryPeriod::closed_within(Cadence::Month, tz, utc("2026-11-02T06:00:00Z"), delay, window);
        assert_eq!(months.iter().map(SummaryPeriod::key).collect::<Vec<_>>(), vec!["2026-10"]);
    }
}
