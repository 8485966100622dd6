//! Keyspace names: the only text formatted into CQL, built from a provider slug or parsed from
//! settings, so that no other input can reach a statement.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::{IdError, ProviderSlug};

/// A keyspace name: a valid unquoted CQL identifier (`[a-z][a-z0-9_]{0,47}`). Provider keyspaces
/// come from [`KeyspaceName::of_provider`]; the registry keyspace's name is parsed from settings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyspaceName(String);

impl KeyspaceName {
    /// Parses a keyspace name, refusing anything that is not a safe CQL identifier.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        let mut chars = value.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if first_ok && rest_ok && value.len() <= 48 {
            Ok(Self(value.to_owned()))
        } else {
            Err(IdError::Keyspace(value.chars().take(80).collect()))
        }
    }

    /// A provider's own keyspace: `hg_<slug>` (a slug is `[a-z][a-z0-9_]{0,31}`, so the name
    /// is always a safe identifier).
    pub fn of_provider(slug: &ProviderSlug) -> Self {
        Self(format!("hg_{}", slug.as_str()))
    }

    /// The name as text, ready to be placed in CQL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for KeyspaceName {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, IdError> {
        Self::parse(&value)
    }
}

impl From<KeyspaceName> for String {
    fn from(value: KeyspaceName) -> String {
        value.0
    }
}

impl fmt::Display for KeyspaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_providers_keyspace_derives_from_its_slug_and_names_are_safe_identifiers() {
        let slug = ProviderSlug::parse("acme").expect("valid slug");
        assert_eq!(KeyspaceName::of_provider(&slug).as_str(), "hg_acme");
        assert!(KeyspaceName::parse("heliograph").is_ok());
        for bad in ["", "Upper", "1st", "a-b", "a;drop", &"a".repeat(49)] {
            assert!(KeyspaceName::parse(bad).is_err(), "{bad}");
        }
    }
}
