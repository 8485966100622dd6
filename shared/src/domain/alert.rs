//! Alerts about a customer's plants: opened by the mailer's monitor, cleared when the condition
//! passes, notified once on each change, and kept so that the panel can show them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{CustomerId, DeviceId, GatewayId};

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// No data from the site for the provider's threshold during daylight.
    SiteOffline,
    /// A device reports a fault status.
    DeviceFault,
    /// The site produced far less than its own recent days or its peers on the same day.
    Underperformance,
}

impl AlertKind {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SiteOffline => "site_offline",
            Self::DeviceFault => "device_fault",
            Self::Underperformance => "underperformance",
        }
    }

    /// Reads a stored word.
    pub fn from_word(word: &str) -> Option<Self> {
        match word {
            "site_offline" => Some(Self::SiteOffline),
            "device_fault" => Some(Self::DeviceFault),
            "underperformance" => Some(Self::Underperformance),
            _ => None,
        }
    }
}

/// What a site's production was held against when it was found underperforming, so that the
/// people reading the alert know how much to trust it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertBasis {
    /// The energy expected from the irradiance measured on site (capacity × insolation × a
    /// reference performance ratio).
    Irradiance,
    /// The median of other sites of the same provider on the same day.
    Peers,
    /// The median of the site's own recent days.
    OwnHistory,
}

impl AlertBasis {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Irradiance => "irradiance",
            Self::Peers => "peers",
            Self::OwnHistory => "own_history",
        }
    }

    /// Reads a stored word.
    pub fn from_word(word: &str) -> Option<Self> {
        [Self::Irradiance, Self::Peers, Self::OwnHistory].into_iter().find(|b| b.as_str() == word)
    }

    /// How people read it: "expected from the irradiance measured on site".
    pub fn words(self) -> &'static str {
        match self {
            Self::Irradiance => "expected from the irradiance measured on site",
            Self::Peers => "compared with other sites on the same day",
            Self::OwnHistory => "compared with the site's own recent days",
        }
    }
}

/// One alert, open or cleared. At most one alert per (kind, gateway, device) is open at a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Id.
    pub id: uuid::Uuid,
    /// What it is about.
    pub kind: AlertKind,
    /// The site.
    pub gateway: GatewayId,
    /// The device, for device alerts.
    pub device: Option<DeviceId>,
    /// The customer the site belonged to when the alert opened.
    pub customer: Option<CustomerId>,
    /// When the condition was detected.
    pub opened_at: DateTime<Utc>,
    /// When it passed.
    pub cleared_at: Option<DateTime<Utc>>,
    /// A sentence for people ("no data since 09:40", "produced 31 % of its recent median").
    pub detail: String,
    /// What an underperformance was measured against; none for other kinds (and for alerts
    /// stored before the basis was recorded).
    pub basis: Option<AlertBasis>,
    /// Who took the alert on, when and with what note, once someone has.
    #[serde(default)]
    pub acknowledged: Option<Acknowledgement>,
    /// The delivery topic that notified the opening, once one has taken it.
    pub open_notice: Option<String>,
    /// The delivery topic that notified the clearing, once one has taken it.
    pub clear_notice: Option<String>,
}

/// A panel user taking an open alert on: the installer's "I am on it".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    /// The user's login name.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// What they said (a technician booked, a part ordered), possibly empty.
    pub note: String,
}

impl Acknowledgement {
    /// Longest note kept, characters.
    pub const MAX_NOTE_CHARS: usize = 500;
}

impl Alert {
    /// A new open alert.
    pub fn open(
        kind: AlertKind,
        gateway: GatewayId,
        device: Option<DeviceId>,
        customer: Option<CustomerId>,
        opened_at: DateTime<Utc>,
        detail: String,
    ) -> Self {
        Self {
            id: uuid::Uuid::new_v4(),
            kind,
            gateway,
            device,
            customer,
            opened_at,
            cleared_at: None,
            detail,
            basis: None,
            acknowledged: None,
            open_notice: None,
            clear_notice: None,
        }
    }

    /// The same alert, saying what its production was measured against.
    pub fn with_basis(self, basis: Option<AlertBasis>) -> Self {
        Self { basis, ..self }
    }

    /// True while not cleared.
    pub fn is_open(&self) -> bool {
        self.cleared_at.is_none()
    }
}

/// A customer's mail choices; the defaults apply until the customer or provider changes them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MailPreferences {
    /// The customer's own summary schedule; the provider's default when `None`.
    pub schedule: Option<super::ReportSchedule>,
    /// The customer unsubscribed from periodic summaries.
    pub unsubscribed_summaries: bool,
    /// The customer unsubscribed from alert emails.
    pub unsubscribed_alerts: bool,
}

impl MailPreferences {
    /// Records an unsubscribe (from a verified link, see [`super::UnsubscribeKey::verify`]).
    pub fn unsubscribe(&mut self, scope: super::UnsubscribeScope) {
        match scope {
            super::UnsubscribeScope::Summaries => self.unsubscribed_summaries = true,
            super::UnsubscribeScope::Alerts => self.unsubscribed_alerts = true,
        }
    }
}
