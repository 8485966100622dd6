//! Identifiers that are parsed once at the boundary and trusted afterwards.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The provider slug breaks `[a-z][a-z0-9_]{0,31}`.
    #[error(
        "invalid provider slug {0:?}: use 1-32 characters, a lowercase letter first, then lowercase letters, digits or '_'"
    )]
    ProviderSlug(String),
    /// The gateway or device id breaks `[A-Za-z0-9][A-Za-z0-9._:-]{0,63}`.
    #[error(
        "invalid {kind} id {value:?}: use 1-64 characters, a letter or digit first, then letters, digits, '.', '_', ':' or '-'"
    )]
    Device {
        /// "gateway" or "device".
        kind: &'static str,
        /// The offending value, truncated for display.
        value: String,
    },
    /// The keyspace name breaks `[a-z][a-z0-9_]{0,47}`.
    #[error(
        "invalid keyspace name {0:?}: use 1-48 characters, a lowercase letter first, then lowercase letters, digits or '_'"
    )]
    Keyspace(String),
    /// Not a UUID.
    #[error("invalid customer id {0:?}: expected a UUID")]
    Customer(String),
}

fn truncated(value: &str) -> String {
    value.chars().take(80).collect()
}

/// A provider (tenant) id: `[a-z][a-z0-9_]{0,31}`, safe to embed in a CQL keyspace name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProviderSlug(String);

impl ProviderSlug {
    /// Parses a slug, refusing anything that is not a safe CQL identifier.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        let mut chars = value.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if first_ok && rest_ok && value.len() <= 32 {
            Ok(Self(value.to_owned()))
        } else {
            Err(IdError::ProviderSlug(truncated(value)))
        }
    }

    /// The slug as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn valid_device_like(value: &str) -> bool {
    let mut chars = value.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    first_ok
        && value.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
}

macro_rules! device_like_id {
    ($name:ident, $kind:literal, $doc:literal) => {
        #[doc = $doc]
        ///
        /// Shared, not copied, when cloned: every reading carries its gateway's and device's id.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(std::sync::Arc<str>);

        impl $name {
            /// Parses an id: 1-64 characters of `[A-Za-z0-9._:-]`, starting with a letter or digit.
            pub fn parse(value: &str) -> Result<Self, IdError> {
                if valid_device_like(value) {
                    Ok(Self(value.into()))
                } else {
                    Err(IdError::Device { kind: $kind, value: truncated(value) })
                }
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

device_like_id!(GatewayId, "gateway", "A gateway's id, unique across the installation.");
device_like_id!(DeviceId, "device", "A device's id, unique under its gateway.");

/// A customer's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CustomerId(pub uuid::Uuid);

impl CustomerId {
    /// A fresh random id.
    pub fn new_random() -> Self {
        Self(uuid::Uuid::new_v4())
    }
}

impl FromStr for CustomerId {
    type Err = IdError;
    fn from_str(value: &str) -> Result<Self, IdError> {
        uuid::Uuid::parse_str(value).map(Self).map_err(|_| IdError::Customer(truncated(value)))
    }
}

macro_rules! string_id_traits {
    ($($name:ident),*) => {$(
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl FromStr for $name {
            type Err = IdError;
            fn from_str(value: &str) -> Result<Self, IdError> {
                Self::parse(value)
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::parse(&value)
            }
        }
        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0.to_string()
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    )*};
}

string_id_traits!(ProviderSlug, GatewayId, DeviceId);

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_slugs_accept_only_safe_cql_identifiers() {
        for good in ["a", "acme", "solar_co_2", "a234567890123456789012345678901"] {
            assert!(ProviderSlug::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Acme",
            "1acme",
            "_acme",
            "acme-co",
            "acme;drop keyspace x",
            "acme\"",
            "a2345678901234567890123456789012x",
            "ünïcode",
        ] {
            assert!(ProviderSlug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn gateway_ids_refuse_markup_and_control_characters() {
        assert!(GatewayId::parse("GW-0001").is_ok());
        assert!(GatewayId::parse("sn:1234.a_b").is_ok());
        for bad in ["", "-GW", "GW 1", "<script>", "GW\u{0}", "a'b", &"x".repeat(65)] {
            assert!(GatewayId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
