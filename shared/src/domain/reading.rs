//! One device's measurements at one instant: the unit of storage and of idempotency.

use std::fmt;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{DeviceId, GatewayId};
use super::metric::Metrics;

/// A reading, keyed by (gateway, device, timestamp): writing it twice stores it once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// The gateway that sent it.
    pub gateway: GatewayId,
    /// The device under that gateway.
    pub device: DeviceId,
    /// When it was measured, UTC.
    pub ts: DateTime<Utc>,
    /// The device's operating state, when reported.
    pub status: Option<DeviceStatus>,
    /// The measured values in canonical units.
    pub metrics: Metrics,
}

/// A device's operating state, from a native `<status>` or SunSpec's `St` point.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceStatus {
    /// Producing normally (SunSpec MPPT).
    Producing,
    /// Producing, but limited (SunSpec THROTTLED).
    Throttled,
    /// Starting, shutting down, sleeping or standing by: no fault, no production.
    Standby,
    /// Switched off.
    Off,
    /// Reporting a fault.
    Fault,
    /// A state this server does not interpret, kept verbatim (at most 32 printable characters).
    Other(String),
}

impl DeviceStatus {
    /// Interprets a status word as gateways send it; anything unknown is kept as [`Self::Other`].
    pub fn from_word(word: &str) -> Self {
        const WORDS: [(&[&str], DeviceStatus); 5] = [
            (&["ok", "producing", "running", "normal", "mppt", "on"], DeviceStatus::Producing),
            (&["throttled", "limited", "derating"], DeviceStatus::Throttled),
            (&["standby", "sleeping", "starting", "shutting_down", "idle", "night"], DeviceStatus::Standby),
            (&["off", "stopped"], DeviceStatus::Off),
            (&["fault", "error", "failure", "alarm"], DeviceStatus::Fault),
        ];
        let w = word.trim();
        WORDS.iter().find(|(words, _)| words.iter().any(|known| known.eq_ignore_ascii_case(w))).map_or_else(
            || Self::Other(w.chars().filter(|c| !c.is_control()).take(32).collect()),
            |(_, status)| status.clone(),
        )
    }

    /// Maps SunSpec's operating state enumeration (model 101-103 `St`).
    pub fn from_sunspec(state: u16) -> Self {
        match state {
            1 => Self::Off,
            2 | 3 | 6 | 8 => Self::Standby,
            4 => Self::Producing,
            5 => Self::Throttled,
            7 => Self::Fault,
            other => Self::Other(format!("sunspec_{other}")),
        }
    }

    /// True when the device says it is broken.
    pub fn is_fault(&self) -> bool {
        matches!(self, Self::Fault)
    }

    /// The stored word.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Producing => "producing",
            Self::Throttled => "throttled",
            Self::Standby => "standby",
            Self::Off => "off",
            Self::Fault => "fault",
            Self::Other(word) => word,
        }
    }
}

impl fmt::Display for DeviceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a single reading is set aside instead of stored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReadingError {
    /// The timestamp is not RFC 3339.
    #[error("timestamp {0:?} is not RFC 3339 (e.g. 2026-11-22T10:00:00Z)")]
    BadTimestamp(String),
    /// Too far in the future for clock skew to explain.
    #[error("timestamp {0} is in the future")]
    FutureTimestamp(DateTime<Utc>),
    /// Older than any plausible measurement.
    #[error("timestamp {0} is before {1}")]
    AncientTimestamp(DateTime<Utc>, DateTime<Utc>),
    /// A value was refused.
    #[error(transparent)]
    Metric(#[from] super::metric::MetricError),
    /// Nothing to store.
    #[error("reading has no values")]
    Empty,
    /// The device id is not valid.
    #[error(transparent)]
    Id(#[from] super::ids::IdError),
}

/// Which timestamps are plausible: not before `earliest`, not later than now + `max_skew`.
#[derive(Debug, Clone, Copy)]
pub struct TimestampPolicy {
    /// Oldest timestamp accepted.
    pub earliest: DateTime<Utc>,
    /// How far ahead of the server's clock a gateway's clock may run.
    pub max_skew: Duration,
}

impl Default for TimestampPolicy {
    fn default() -> Self {
        Self {
            earliest: Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single().unwrap_or_default(),
            max_skew: Duration::minutes(10),
        }
    }
}

impl TimestampPolicy {
    /// Parses an RFC 3339 timestamp and checks it is plausible at `now`.
    pub fn parse(&self, text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, ReadingError> {
        let text = text.trim();
        let ts = match utc_seconds(text) {
            Some(ts) => ts,
            None => DateTime::parse_from_rfc3339(text)
                .map_err(|_| ReadingError::BadTimestamp(text.chars().take(40).collect()))?
                .with_timezone(&Utc),
        };
        self.check(ts, now)
    }

    /// Parses a timestamp as data loggers write them, and checks it is plausible at `now`: RFC
    /// 3339 as [`Self::parse`] reads it, or a date and time with a space between them and no zone
    /// (`2026-11-22 10:00:00`, fractions allowed), which loggers mean as UTC.
    pub fn parse_logger_time(&self, text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, ReadingError> {
        match self.parse(text, now) {
            Err(ReadingError::BadTimestamp(shown)) => {
                let naive = chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S%.f")
                    .map_err(|_| ReadingError::BadTimestamp(shown))?;
                self.check(naive.and_utc(), now)
            }
            parsed => parsed,
        }
    }

    /// Checks a timestamp is plausible at `now`.
    pub fn check(&self, ts: DateTime<Utc>, now: DateTime<Utc>) -> Result<DateTime<Utc>, ReadingError> {
        if ts < self.earliest {
            return Err(ReadingError::AncientTimestamp(ts, self.earliest));
        }
        if ts > now + self.max_skew {
            return Err(ReadingError::FutureTimestamp(ts));
        }
        Ok(ts)
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the form nearly every gateway sends, read without the general RFC 3339
/// parser; `None` for any other form (offsets, fractions, leap seconds, lower case), which the
/// general parser reads, and for impossible dates, which it refuses.
fn utc_seconds(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.as_bytes();
    if bytes.len() != 20
        || [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':'), (19, b'Z')]
            .iter()
            .any(|&(at, separator)| bytes[at] != separator)
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| {
        bytes[range].iter().try_fold(0_u32, |value, &digit| {
            digit.is_ascii_digit().then(|| value * 10 + u32::from(digit - b'0'))
        })
    };
    let date =
        chrono::NaiveDate::from_ymd_opt(i32::try_from(number(0..4)?).ok()?, number(5..7)?, number(8..10)?)?;
    let time = chrono::NaiveTime::from_hms_opt(number(11..13)?, number(14..16)?, number(17..19)?)?;
    Some(date.and_time(time).and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loggers_time_with_a_space_and_no_zone_is_utc_and_still_checked() {
        let policy = TimestampPolicy::default();
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).single().expect("valid");
        let utc = |h, m, s| Utc.with_ymd_and_hms(2026, 11, 22, h, m, s).single().expect("valid");
        assert_eq!(policy.parse_logger_time("2026-11-22 10:00:00", now).ok(), Some(utc(10, 0, 0)));
        assert_eq!(
            policy.parse_logger_time(" 2026-11-22 10:00:01.5 ", now).map(|t| t.timestamp()).ok(),
            Some(utc(10, 0, 1).timestamp())
        );
        assert_eq!(policy.parse_logger_time("2026-11-22T10:00:00+01:00", now).ok(), Some(utc(9, 0, 0)));
        assert!(matches!(
            policy.parse_logger_time("2026-11-22 13:00:00", now),
            Err(ReadingError::FutureTimestamp(_))
        ));
        assert!(matches!(
            policy.parse_logger_time("22.11.2026 10:00", now),
            Err(ReadingError::BadTimestamp(_))
        ));
        assert!(
            matches!(policy.parse("2026-11-22 10:00:00", now), Err(ReadingError::BadTimestamp(_))),
            "native stays strict"
        );
    }

    #[test]
    fn the_usual_utc_form_reads_exactly_as_the_general_parser_reads_it() {
        let general = |text: &str| DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc));
        let mut texts = vec![
            "2026-11-22T10:00:00Z",
            "2024-02-29T23:59:59Z",
            "2023-02-29T10:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-31T00:00:00Z",
            "2026-11-22T24:00:00Z",
            "2026-11-22T10:60:00Z",
            "2016-12-31T23:59:60Z",
            "2026-11-22t10:00:00z",
            "2026-11-22 10:00:00Z",
            "2026-11-22T10:00:00+01:00",
            "0000-01-01T00:00:00Z",
            "2026-11-22T10:00:00.5Z",
            "2026-1-22T10:00:00Z",
            "2026-11-22T10:00:0xZ",
            "+026-11-22T10:00:00Z",
            "2026-11-22T10:00:00Z ",
            "",
        ];
        let generated: Vec<String> = (0..20_000_u32)
            .map(|i| {
                let (month, day, hour) = (1 + i % 13, 1 + (i / 13) % 32, (i / 7) % 25);
                format!(
                    "20{:02}-{month:02}-{day:02}T{hour:02}:{:02}:{:02}Z",
                    i % 100,
                    (i * 7) % 61,
                    (i * 11) % 61
                )
            })
            .collect();
        texts.extend(generated.iter().map(String::as_str));
        for text in texts {
            assert_eq!(utc_seconds(text).or_else(|| general(text)), general(text), "{text:?}");
        }
        assert_eq!(
            utc_seconds("2026-11-22T10:00:00Z"),
            Some(Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).single().expect("valid date"))
        );
    }

    #[test]
    fn timestamps_outside_the_plausible_window_are_refused() {
        let policy = TimestampPolicy::default();
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).single().expect("valid date");
        assert!(policy.parse("2026-11-22T10:00:00Z", now).is_ok());
        assert!(policy.parse("2026-11-22T11:00:00+01:00", now).is_ok());
        assert!(matches!(policy.parse("2026-11-22T13:00:00Z", now), Err(ReadingError::FutureTimestamp(_))));
        assert!(matches!(policy.parse("1970-01-01T00:00:00Z", now), Err(ReadingError::AncientTimestamp(..))));
        assert!(matches!(policy.parse("9999-12-31T23:59:59Z", now), Err(ReadingError::FutureTimestamp(_))));
        assert!(matches!(policy.parse("yesterday", now), Err(ReadingError::BadTimestamp(_))));
    }

    #[test]
    fn status_words_and_sunspec_states_map_to_one_vocabulary() {
        assert_eq!(DeviceStatus::from_word("MPPT"), DeviceStatus::Producing);
        assert_eq!(DeviceStatus::from_word("Fault"), DeviceStatus::Fault);
        assert_eq!(DeviceStatus::from_sunspec(7), DeviceStatus::Fault);
        assert_eq!(DeviceStatus::from_sunspec(4), DeviceStatus::Producing);
        assert_eq!(DeviceStatus::from_word("grid-lost").as_str(), "grid-lost");
    }
}
