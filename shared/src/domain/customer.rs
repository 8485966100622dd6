//! A provider's customer: the owner of one or more sites, and the recipient of their emails.

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::ids::CustomerId;

/// A syntactically plausible email address (one `@`, no spaces or control characters, ≤ 254 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Parses an address; the mail server has the last word on deliverability.
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        let ok = value.len() <= 254
            && value.split('@').count() == 2
            && value.split('@').all(|part| !part.is_empty())
            && value
                .chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && !matches!(c, '<' | '>' | ',' | ';' | '"'));
        if ok { Ok(Self(value.to_owned())) } else { Err(format!("{value:?} is not an email address")) }
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> String {
        value.0
    }
}

/// A customer of one provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    /// Id, unique within the provider.
    pub id: CustomerId,
    /// Name as shown in the panel and in emails.
    pub name: String,
    /// Where summaries and alerts go.
    pub emails: Vec<EmailAddress>,
    /// The customer's timezone; periods and day views follow it.
    pub timezone: Tz,
    /// Deactivated customers keep their data but get no mail.
    pub active: bool,
}
