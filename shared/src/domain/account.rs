//! People and programs that use a provider's panel and API: users with argon2-hashed passwords,
//! and API tokens stored as SHA-256 hashes.

use std::fmt;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::token::TokenHash;

/// A login name: 1-64 characters of `[a-z0-9._@-]`, case-folded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    /// Parses a user name (lower-cased).
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim().to_ascii_lowercase();
        let ok = !value.is_empty()
            && value.len() <= 64
            && value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '@' | '-'));
        if ok {
            Ok(Self(value))
        } else {
            Err("a user name is 1-64 characters of a-z, 0-9, '.', '_', '@', '-'".into())
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Username {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value)
    }
}

impl From<Username> for String {
    fn from(value: Username) -> String {
        value.0
    }
}

/// An argon2id password hash in PHC string form. Hashing is slow by design: call it off the
/// async runtime (`spawn_blocking`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordDigest(String);

/// The shortest password accepted for a panel user or an operator.
pub const MIN_PASSWORD_CHARS: usize = 8;

impl PasswordDigest {
    /// Hashes a password with a fresh salt.
    pub fn hash(password: &str) -> Result<Self, String> {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| Self(hash.to_string()))
            .map_err(|e| format!("cannot hash password: {e}"))
    }

    /// True when `password` matches (constant-time comparison inside argon2).
    pub fn verify(&self, password: &str) -> bool {
        PasswordHash::new(&self.0)
            .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
            .unwrap_or(false)
    }

    /// Rebuilds a stored digest.
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    /// The PHC string, for storage.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordDigest(<redacted>)")
    }
}

/// A provider's panel user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Login name, unique within the provider.
    pub username: Username,
    /// Name shown in the panel.
    pub display_name: String,
    /// argon2id hash of the password.
    pub password: PasswordDigest,
    /// Deactivated users cannot log in.
    pub active: bool,
}

/// A provider's API token for `/api/v1` (only its hash is stored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiToken {
    /// Hash of the secret.
    pub hash: TokenHash,
    /// What it is for ("Grafana", "ERP export"…).
    pub name: String,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_against_their_own_argon2_hash_only() {
        let digest = PasswordDigest::hash("correct horse battery staple").expect("hashes");
        assert!(digest.as_str().starts_with("$argon2id$"));
        assert!(digest.verify("correct horse battery staple"));
        assert!(!digest.verify("Correct horse battery staple"));
        assert!(!format!("{digest:?}").contains("argon2"));
    }

    #[test]
    fn user_names_are_case_folded_and_limited() {
        assert_eq!(Username::parse(" Anna.Huber@Acme ").expect("valid").as_str(), "anna.huber@acme");
        assert!(Username::parse("anna huber").is_err());
        assert!(Username::parse("<script>").is_err());
    }
}
