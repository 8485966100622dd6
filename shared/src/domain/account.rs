//! People and programs that use a provider's panel and API: users with argon2-hashed passwords,
//! and API tokens stored as SHA-256 hashes.

use std::fmt;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

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

    /// [`Self::verify`] with argon2's working memory taken from `memory` (grown once to what the
    /// digest's parameters need, then reused), so that repeated checks on one thread touch the
    /// same pages instead of having the allocator hand out, and keep, fresh ones each time.
    pub fn verify_in(&self, password: &str, memory: &mut PasswordMemory) -> bool {
        let Ok(hash) = PasswordHash::new(&self.0) else { return false };
        let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else { return false };
        let algorithm = Algorithm::try_from(hash.algorithm).ok();
        let version = hash.version.map_or(Ok(Version::default()), Version::try_from).ok();
        let (Some(algorithm), Some(version), Ok(params)) = (algorithm, version, Params::try_from(&hash))
        else {
            return false;
        };
        let mut salt_bytes = [0u8; 64];
        let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
        let blocks = params.block_count();
        if memory.0.len() < blocks {
            memory.0.resize(blocks, Block::default());
        }
        let mut computed = vec![0u8; expected.len()];
        Argon2::new(algorithm, version, params)
            .hash_password_into_with_memory(password.as_bytes(), salt, &mut computed, &mut memory.0[..blocks])
            .is_ok_and(|()| bool::from(computed.as_slice().ct_eq(expected.as_bytes())))
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

/// argon2's working memory, kept by a thread that checks passwords one after another (about
/// 19 MiB with the default parameters, allocated at the first check).
#[derive(Default)]
pub struct PasswordMemory(Vec<Block>);

/// What an account's sessions are bound to, besides its password: replaced to end them all
/// (logging out, deactivation). Random, so that an account made again under the same name never
/// matches the sessions of the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SessionGeneration(i64);

impl SessionGeneration {
    /// A new generation, unlike any before (with overwhelming probability).
    pub fn fresh() -> Self {
        Self(rand::random())
    }

    /// Rebuilds a stored generation.
    pub fn from_stored(value: i64) -> Self {
        Self(value)
    }

    /// The value, for storage and for signing into sessions.
    pub fn value(self) -> i64 {
        self.0
    }
}

/// A provider's panel user, or an operator.
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
    /// The generation its sessions must carry; see [`SessionGeneration`].
    pub session_generation: SessionGeneration,
}

impl User {
    /// An active account with a fresh session generation.
    pub fn new(username: Username, display_name: impl Into<String>, password: PasswordDigest) -> Self {
        Self {
            username,
            display_name: display_name.into(),
            password,
            active: true,
            session_generation: SessionGeneration::fresh(),
        }
    }

    /// Gives the account a new password, ending its sessions.
    pub fn set_password(&mut self, password: PasswordDigest) {
        self.password = password;
        self.session_generation = SessionGeneration::fresh();
    }

    /// Deactivates the account, ending its sessions for good: activating it again does not
    /// bring them back.
    pub fn deactivate(&mut self) {
        self.active = false;
        self.session_generation = SessionGeneration::fresh();
    }
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
    fn checks_in_kept_memory_agree_with_plain_checks() {
        let digest = PasswordDigest::hash("correct horse battery staple").expect("hashes");
        let mut memory = PasswordMemory::default();
        assert!(digest.verify_in("correct horse battery staple", &mut memory));
        let grown = memory.0.len();
        assert_eq!(grown, 19 * 1024, "argon2's default: 19 MiB in 1 KiB blocks");
        assert!(!digest.verify_in("Correct horse battery staple", &mut memory));
        assert!(digest.verify_in("correct horse battery staple", &mut memory), "after a failure too");
        assert_eq!(memory.0.len(), grown, "the memory is reused, not grown");
        assert!(!PasswordDigest::from_stored("not a digest".into()).verify_in("x", &mut memory));
    }

    #[test]
    fn user_names_are_case_folded_and_limited() {
        assert_eq!(Username::parse(" Anna.Huber@Acme ").expect("valid").as_str(), "anna.huber@acme");
        assert!(Username::parse("anna huber").is_err());
        assert!(Username::parse("<script>").is_err());
    }
}
