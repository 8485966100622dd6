//! A site's own alert thresholds and its maintenance window, on the gateway's page: blank
//! thresholds follow the provider's settings; a maintenance window mutes the site's alerts until
//! a local time, at most [`MAX_MAINTENANCE_DAYS`] ahead.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use heliograph_shared::{
    Gateway, OFFLINE_AFTER_MINUTES, Preferences, SiteAlerting, UNDERPERFORMANCE_PERCENT,
};
use serde::Deserialize;

use super::form::{self, FieldErrors};

/// The furthest ahead a maintenance window may end: a forgotten one must not mute a site for
/// good.
pub const MAX_MAINTENANCE_DAYS: i64 = 90;

/// The format of an `<input type="datetime-local">` value.
const LOCAL_INPUT: &str = "%Y-%m-%dT%H:%M";

/// The alerting form as typed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AlertingForm {
    /// Minutes, blank for the provider's.
    #[serde(default)]
    pub offline_after_minutes: String,
    /// Percent, blank for the provider's.
    #[serde(default)]
    pub underperformance_percent: String,
    /// Local date and time the window ends, blank for none.
    #[serde(default)]
    pub maintenance_until: String,
    /// Set by the "end maintenance now" button.
    #[serde(default)]
    pub end_maintenance: Option<String>,
}

impl AlertingForm {
    /// The form showing `alerting` as stored at `now`, times in `tz`: a window already over is
    /// not shown (saving it again would be refused as past).
    pub fn of(alerting: &SiteAlerting, tz: Tz, now: DateTime<Utc>) -> Self {
        Self {
            offline_after_minutes: alerting.offline_after_minutes.map(|m| m.to_string()).unwrap_or_default(),
            underperformance_percent: alerting
                .underperformance_percent
                .map(|p| p.to_string())
                .unwrap_or_default(),
            maintenance_until: alerting
                .maintenance_until
                .filter(|_| alerting.in_maintenance(now))
                .map(|t| t.with_timezone(&tz).format(LOCAL_INPUT).to_string())
                .unwrap_or_default(),
            end_maintenance: None,
        }
    }

    /// The alerting the form asks for at `now` (local times in `tz`), or what to correct.
    pub fn read(&self, tz: Tz, now: DateTime<Utc>) -> Result<SiteAlerting, FieldErrors> {
        let mut errors = FieldErrors::new();
        let offline = errors.take(
            "offline_after_minutes",
            given(&self.offline_after_minutes)
                .map(|v| form::whole_number(v, OFFLINE_AFTER_MINUTES))
                .transpose(),
        );
        let percent = errors.take(
            "underperformance_percent",
            given(&self.underperformance_percent)
                .map(|v| form::whole_number(v, UNDERPERFORMANCE_PERCENT))
                .transpose(),
        );
        let until = if self.end_maintenance.is_some() {
            Some(None)
        } else {
            errors.take(
                "maintenance_until",
                given(&self.maintenance_until).map(|v| maintenance_end(v, tz, now)).transpose(),
            )
        };
        match (offline, percent, until) {
            (Some(offline_after_minutes), Some(underperformance_percent), Some(maintenance_until)) => {
                Ok(SiteAlerting { offline_after_minutes, underperformance_percent, maintenance_until })
            }
            _ => Err(errors),
        }
    }
}

/// The field's text, or `None` when it is blank.
fn given(value: &str) -> Option<&str> {
    (!value.trim().is_empty()).then_some(value)
}

/// A window's end typed as a local date and time: in the future, at most
/// [`MAX_MAINTENANCE_DAYS`] ahead.
fn maintenance_end(value: &str, tz: Tz, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let local = NaiveDateTime::parse_from_str(value.trim(), LOCAL_INPUT)
        .map_err(|_| "Give a date and time, such as 2026-12-24T16:00.".to_owned())?;
    let at = local
        .and_local_timezone(tz)
        .earliest()
        .ok_or_else(|| "That time does not exist here (the clocks skip it): give another.".to_owned())?
        .with_timezone(&Utc);
    if at <= now {
        return Err("That time has passed: give a time to come, or end the maintenance.".into());
    }
    if at > now + TimeDelta::days(MAX_MAINTENANCE_DAYS) {
        return Err(format!("A maintenance window ends within {MAX_MAINTENANCE_DAYS} days."));
    }
    Ok(at)
}

/// What the page says of the site's alerting: its thresholds against the provider's, and the
/// window when one is on.
pub struct AlertingSummary {
    /// The provider's offline threshold, minutes, shown as the blank field's meaning.
    pub provider_offline_minutes: u32,
    /// The provider's underperformance threshold, percent.
    pub provider_underperformance_percent: u8,
    /// "Maintenance until …: alerts muted", or empty.
    pub maintenance: String,
    /// The zone the window's time is typed in.
    pub timezone: String,
}

impl AlertingSummary {
    /// The summary of `site` at `now`, times in `tz`.
    pub fn of(site: &Gateway, preferences: &Preferences, tz: Tz, now: DateTime<Utc>) -> Self {
        Self {
            provider_offline_minutes: preferences.offline_after_minutes,
            provider_underperformance_percent: preferences.underperformance_percent,
            maintenance: maintenance_text(&site.alerting, tz, now),
            timezone: tz.name().to_owned(),
        }
    }
}

/// "Maintenance until 24 Dec 16:00 CET: alerts muted" while a window is on; empty otherwise.
/// The fleet and the gateway's page say it the same way, in the provider's zone (the one the
/// window is typed in), named.
pub fn maintenance_text(alerting: &SiteAlerting, tz: Tz, now: DateTime<Utc>) -> String {
    match alerting.maintenance_until {
        Some(until) if alerting.in_maintenance(now) => {
            format!("Maintenance until {}: alerts muted", until.with_timezone(&tz).format("%-d %b %H:%M %Z"))
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn form(offline: &str, percent: &str, until: &str) -> AlertingForm {
        AlertingForm {
            offline_after_minutes: offline.into(),
            underperformance_percent: percent.into(),
            maintenance_until: until.into(),
            end_maintenance: None,
        }
    }

    #[test]
    fn blank_fields_follow_the_provider_and_a_window_is_read_in_local_time() {
        let tz = chrono_tz::Europe::Berlin;
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).single().expect("valid");
        assert_eq!(form("", " ", "").read(tz, now).expect("valid"), SiteAlerting::default());
        let read = form("240", "45", "2026-12-24T16:00").read(tz, now).expect("valid");
        assert_eq!(read.offline_after_minutes, Some(240));
        assert_eq!(read.underperformance_percent, Some(45));
        assert_eq!(read.maintenance_until, Utc.with_ymd_and_hms(2026, 12, 24, 15, 0, 0).single());
        assert_eq!(AlertingForm::of(&read, tz, now).maintenance_until, "2026-12-24T16:00", "shown as typed");
        let later = Utc.with_ymd_and_hms(2026, 12, 25, 0, 0, 0).single().expect("valid");
        assert_eq!(AlertingForm::of(&read, tz, later).maintenance_until, "", "a window over is not shown");
        let ended = AlertingForm { end_maintenance: Some("1".into()), ..form("", "", "2026-12-24T16:00") };
        assert_eq!(ended.read(tz, now).expect("valid").maintenance_until, None);
    }

    #[test]
    fn a_past_far_or_malformed_window_and_thresholds_out_of_range_are_refused() {
        let tz = chrono_tz::Europe::Berlin;
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).single().expect("valid");
        for (f, field) in [
            (form("2", "", ""), "offline_after_minutes"),
            (form("", "101", ""), "underperformance_percent"),
            (form("", "", "2026-12-01T10:00"), "maintenance_until"),
            (form("", "", "2027-06-01T10:00"), "maintenance_until"),
            (form("", "", "tomorrow"), "maintenance_until"),
        ] {
            let errors = f.read(tz, now).expect_err("refused");
            assert!(errors.get(field).is_some(), "{field}: {f:?}");
        }
    }
}
