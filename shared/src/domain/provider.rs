//! The tenant: an installer or O&M company, with its own keyspace (or database) and settings.

use std::collections::BTreeMap;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::ids::ProviderSlug;

/// A provider and the settings that shape its namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provider {
    /// Tenant id; its keyspace is derived from it.
    pub slug: ProviderSlug,
    /// Name shown to its users and customers.
    pub display_name: String,
    /// Replication of its Cassandra keyspace.
    pub replication: Replication,
    /// A TCP port of its own for gateway ingest, as in one-server-per-provider deployments.
    pub ingest_port: Option<u16>,
    /// Default timezone for its customers and reports.
    pub timezone: Tz,
    /// How long raw readings are kept, in days (0 keeps them forever).
    pub retention_days: u32,
    /// The provider's own customizations of panel, reports and alerts.
    #[serde(default)]
    pub preferences: Preferences,
}

/// How often customers get summaries unless they chose otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportSchedule {
    /// Every day.
    Daily,
    /// Every week (Monday to Sunday).
    Weekly,
    /// Every calendar month.
    Monthly,
    /// No periodic summaries.
    Never,
}

impl ReportSchedule {
    /// The word stores keep: `daily`, `weekly`, `monthly` or `never` (as serde spells it).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
            Self::Never => "never",
        }
    }

    /// The schedule a stored word names.
    pub fn from_word(word: &str) -> Option<Self> {
        [Self::Daily, Self::Weekly, Self::Monthly, Self::Never].into_iter().find(|s| s.as_str() == word)
    }
}

/// A provider's customizations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Preferences {
    /// Name on the panel and in the sender of emails; the display name when empty.
    pub branding_name: String,
    /// Default summary schedule for customers.
    pub report_schedule: ReportSchedule,
    /// A site is offline after this many minutes without data in daylight.
    pub offline_after_minutes: u32,
    /// A site underperforms below this share (percent) of its expected yield.
    pub underperformance_percent: u8,
    /// The performance ratio (percent) a healthy plant of this provider reaches: where a site
    /// has an irradiance sensor, its expected energy is capacity × insolation × this ratio.
    pub reference_pr_percent: u8,
}

/// The offline thresholds a provider or one of its sites may set, minutes (a week at most).
pub const OFFLINE_AFTER_MINUTES: std::ops::RangeInclusive<u32> = 5..=10_080;
/// The underperformance thresholds a provider or one of its sites may set, percent.
pub const UNDERPERFORMANCE_PERCENT: std::ops::RangeInclusive<u8> = 1..=100;

impl Preferences {
    /// Minutes without data in daylight before `site` is offline: its own, else the provider's.
    pub fn offline_after_minutes_for(&self, site: &super::Gateway) -> u32 {
        site.alerting.offline_after_minutes.unwrap_or(self.offline_after_minutes)
    }

    /// The share (percent) of its expected yield below which `site` underperforms: its own, else
    /// the provider's.
    pub fn underperformance_percent_for(&self, site: &super::Gateway) -> u8 {
        site.alerting.underperformance_percent.unwrap_or(self.underperformance_percent)
    }
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            branding_name: String::new(),
            report_schedule: ReportSchedule::Monthly,
            offline_after_minutes: 60,
            underperformance_percent: 60,
            reference_pr_percent: 80,
        }
    }
}

impl Provider {
    /// A provider with single-copy replication, UTC and a two-year retention.
    pub fn new(slug: ProviderSlug, display_name: impl Into<String>) -> Self {
        Self {
            slug,
            display_name: display_name.into(),
            replication: Replication::default(),
            ingest_port: None,
            timezone: Tz::UTC,
            retention_days: 730,
            preferences: Preferences::default(),
        }
    }

    /// The name customers see: the branding name, else the display name.
    pub fn brand(&self) -> &str {
        if self.preferences.branding_name.trim().is_empty() {
            &self.display_name
        } else {
            &self.preferences.branding_name
        }
    }

    /// Retention as a Cassandra TTL in seconds (0 disables expiry).
    pub fn retention_ttl_seconds(&self) -> i32 {
        i32::try_from(u64::from(self.retention_days) * 86_400).unwrap_or(i32::MAX)
    }
}

/// Why a replication setting is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplicationError {
    /// A factor of 0 or more than 9.
    #[error("replication factor {0} is out of range 1-9")]
    Factor(u8),
    /// Data centre names end up in CQL text, so they are held to `[A-Za-z0-9_-]{1,48}`.
    #[error("data centre name {0:?} is not allowed: use 1-48 letters, digits, '_' or '-'")]
    DataCentre(String),
    /// NetworkTopologyStrategy needs at least one data centre.
    #[error("network topology replication needs at least one data centre")]
    NoDataCentre,
    /// Not `simple:N` or `dc1:N,dc2:M`.
    #[error("replication {0:?} is not understood: use simple:3 or dc1:3,dc2:2")]
    Syntax(String),
}

/// How a provider's keyspace is replicated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "strategy", rename_all = "snake_case")]
pub enum Replication {
    /// SimpleStrategy with one factor.
    Simple {
        /// Copies of each row.
        factor: u8,
    },
    /// NetworkTopologyStrategy: copies per data centre, so a provider's data can stay in one.
    NetworkTopology {
        /// Copies per data centre.
        data_centres: BTreeMap<String, u8>,
    },
}

impl Default for Replication {
    fn default() -> Self {
        Self::Simple { factor: 1 }
    }
}

impl Replication {
    /// Parses `simple:3` or `dc1:3,dc2:2`.
    pub fn parse(text: &str) -> Result<Self, ReplicationError> {
        let syntax = || ReplicationError::Syntax(text.chars().take(64).collect());
        if let Some(factor) = text.strip_prefix("simple:") {
            let factor = factor.trim().parse().map_err(|_| syntax())?;
            let replication = Self::Simple { factor };
            replication.validate()?;
            return Ok(replication);
        }
        let mut data_centres = BTreeMap::new();
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
            let (dc, factor) = part.split_once(':').ok_or_else(syntax)?;
            let factor = factor.trim().parse().map_err(|_| syntax())?;
            data_centres.insert(dc.trim().to_owned(), factor);
        }
        let replication = Self::NetworkTopology { data_centres };
        replication.validate()?;
        Ok(replication)
    }

    /// Checks factors and data centre names.
    pub fn validate(&self) -> Result<(), ReplicationError> {
        let check_factor = |f: u8| {
            if (1..=9).contains(&f) { Ok(()) } else { Err(ReplicationError::Factor(f)) }
        };
        match self {
            Self::Simple { factor } => check_factor(*factor),
            Self::NetworkTopology { data_centres } => {
                if data_centres.is_empty() {
                    return Err(ReplicationError::NoDataCentre);
                }
                for (dc, factor) in data_centres {
                    let ok = !dc.is_empty()
                        && dc.len() <= 48
                        && dc.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if !ok {
                        return Err(ReplicationError::DataCentre(dc.chars().take(64).collect()));
                    }
                    check_factor(*factor)?;
                }
                Ok(())
            }
        }
    }

    /// The CQL replication map, e.g. `{'class': 'SimpleStrategy', 'replication_factor': 3}`.
    /// Validated first, so nothing unchecked reaches CQL text.
    pub fn to_cql(&self) -> Result<String, ReplicationError> {
        self.validate()?;
        Ok(match self {
            Self::Simple { factor } => {
                format!("{{'class': 'SimpleStrategy', 'replication_factor': {factor}}}")
            }
            Self::NetworkTopology { data_centres } => {
                let dcs: Vec<String> = data_centres.iter().map(|(dc, f)| format!("'{dc}': {f}")).collect();
                format!("{{'class': 'NetworkTopologyStrategy', {}}}", dcs.join(", "))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_schedule_words_are_the_serde_spelling_and_read_back() {
        for schedule in
            [ReportSchedule::Daily, ReportSchedule::Weekly, ReportSchedule::Monthly, ReportSchedule::Never]
        {
            let json = serde_json::to_string(&schedule).expect("serializes");
            assert_eq!(json, format!("\"{}\"", schedule.as_str()));
            assert_eq!(ReportSchedule::from_word(schedule.as_str()), Some(schedule));
        }
        assert_eq!(ReportSchedule::from_word("hourly"), None);
    }

    #[test]
    fn replication_renders_validated_cql_maps() {
        assert_eq!(
            Replication::parse("simple:3").and_then(|r| r.to_cql()),
            Ok("{'class': 'SimpleStrategy', 'replication_factor': 3}".to_owned())
        );
        assert_eq!(
            Replication::parse("eu_west:3,eu-central:2").and_then(|r| r.to_cql()),
            Ok("{'class': 'NetworkTopologyStrategy', 'eu-central': 2, 'eu_west': 3}".to_owned())
        );
    }

    #[test]
    fn hostile_replication_settings_are_refused() {
        assert!(Replication::parse("simple:0").is_err());
        assert!(Replication::parse("dc1':3}; DROP KEYSPACE x; --:1").is_err());
        assert!(Replication::parse("").is_err());
        assert!(Replication::parse("simple:300").is_err());
    }
}
