//! Secrets that sign what the world hands back to us (session cookies, operator sessions,
//! unsubscribe links). A signing secret is accepted only when it decodes (hex or base64) to at
//! least [`MIN_SECRET_BYTES`] bytes that look random: a placeholder copied from a manifest or a
//! typed phrase would let anyone who guesses it forge every token.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

/// The fewest random bytes a signing secret must carry.
pub const MIN_SECRET_BYTES: usize = 32;

/// How to make a good secret, for every message that refuses one.
pub const SECRET_ADVICE: &str = "make one with `openssl rand -hex 32`";

/// Words of the placeholders in our manifests and documentation, and of their usual kin. None
/// can occur in hex, and a random base64 secret holds one with a chance of about 1 in 10^7.
const PLACEHOLDER_WORDS: [&str; 7] =
    ["change", "replace", "placeholder", "example", "secret", "password", "…"];

/// Why a secret is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// It is (or contains a word of) a placeholder.
    #[error("it is a placeholder, not a secret")]
    Placeholder,
    /// It is neither hex nor base64 of random bytes.
    #[error("it is neither hex nor base64 of random bytes")]
    NotEncoded,
    /// It decodes to too few bytes.
    #[error("it decodes to {0} bytes; at least {MIN_SECRET_BYTES} are needed")]
    TooShort(usize),
    /// Its bytes repeat too much to be random.
    #[error("its {len} bytes take only {distinct} different values, too few for random bytes")]
    LowEntropy {
        /// Different byte values seen.
        distinct: usize,
        /// Bytes decoded.
        len: usize,
    },
    /// It decodes to readable text: an encoded password, not random bytes.
    #[error("it decodes to readable text, not random bytes")]
    Text,
}

/// A checked signing secret. The HMAC key is the text as configured (it carries all of the
/// decoded bytes' randomness), so that tokens signed with the same setting before keep
/// verifying. Its `Debug` never shows it.
#[derive(Clone)]
pub struct SigningSecret(SecretString);

impl SigningSecret {
    /// Checks a configured secret (surrounding whitespace is ignored).
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        check(text)?;
        Ok(Self(SecretString::from(text.to_owned())))
    }

    /// A fresh random secret, hex-encoded: what `openssl rand -hex 32` makes.
    pub fn generate_hex() -> String {
        let mut bytes = [0u8; MIN_SECRET_BYTES];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
        hex::encode(bytes)
    }

    /// The key bytes.
    pub fn expose(&self) -> &[u8] {
        self.0.expose_secret().as_bytes()
    }
}

impl PartialEq for SigningSecret {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

impl<'de> Deserialize<'de> for SigningSecret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text)
            .map_err(|e| serde::de::Error::custom(format!("secret refused: {e}; {SECRET_ADVICE}")))
    }
}

/// Deserializes an optional secret where an empty value (an unset environment variable
/// interpolated into a manifest) means none.
pub fn optional_secret<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SigningSecret>, D::Error> {
    match Option::<String>::deserialize(deserializer)? {
        Some(text) if !text.trim().is_empty() => SigningSecret::parse(&text)
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("secret refused: {e}; {SECRET_ADVICE}"))),
        _ => Ok(None),
    }
}

fn check(text: &str) -> Result<(), SecretError> {
    let lower = text.to_lowercase();
    if PLACEHOLDER_WORDS.iter().any(|word| lower.contains(word)) {
        return Err(SecretError::Placeholder);
    }
    let bytes = decode(text).ok_or(SecretError::NotEncoded)?;
    if bytes.len() < MIN_SECRET_BYTES {
        return Err(SecretError::TooShort(bytes.len()));
    }
    // 32 random bytes take about 30 different values, and fewer than 16 with a chance below
    // 10^-20; a short pattern repeated, or a few random bytes padded out, take far fewer.
    let mut seen = [false; 256];
    for &b in &bytes {
        seen[usize::from(b)] = true;
    }
    let distinct = seen.iter().filter(|&&s| s).count();
    if distinct < (bytes.len() / 2).min(128) {
        return Err(SecretError::LowEntropy { distinct, len: bytes.len() });
    }
    // Random bytes are all printable with a chance of about 10^-14 for 32 of them.
    if bytes.iter().all(|b| (0x20..0x7f).contains(b)) {
        return Err(SecretError::Text);
    }
    Ok(())
}

/// The bytes of hex (checked first: hex digits are base64 letters too) or base64 text. Base64
/// must mix upper- and lower-case letters, as random base64 of this length always does: a
/// phrase typed in one case is not taken for encoded bytes.
fn decode(text: &str) -> Option<Vec<u8>> {
    if text.len().is_multiple_of(2) && !text.is_empty() && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex::decode(text).ok();
    }
    let mixed = text.bytes().any(|b| b.is_ascii_uppercase()) && text.bytes().any(|b| b.is_ascii_lowercase());
    if !mixed {
        return None;
    }
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD].iter().find_map(|engine| engine.decode(text).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_hex_and_base64_secrets_are_accepted() {
        for _ in 0..1000 {
            let hex = SigningSecret::generate_hex();
            assert!(SigningSecret::parse(&hex).is_ok(), "{hex}");
            let mut bytes = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
            for encoded in [STANDARD.encode(bytes), URL_SAFE_NO_PAD.encode(bytes)] {
                assert!(SigningSecret::parse(&encoded).is_ok(), "{encoded}");
            }
        }
        let secret =
            SigningSecret::parse("  00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210\n");
        assert!(secret.is_ok(), "surrounding whitespace is ignored");
    }

    #[test]
    fn placeholders_short_and_low_entropy_secrets_are_refused() {
        use SecretError::*;
        let cases: [(&str, SecretError); 11] = [
            ("change-me-to-64-random-hex-digits", Placeholder),
            ("change-me-to-64-random-hex-digits-too", Placeholder),
            ("…32 characters or more, the same for every web process…", Placeholder),
            ("cluster-test-session-secret-0123456789", Placeholder),
            ("correct horse battery staple and a few more words", NotEncoded),
            ("thisisalongpassphrasetypedinlowercasewithoutanyspaces", NotEncoded),
            (&"ab".repeat(16), TooShort(16)),
            (&"0".repeat(64), LowEntropy { distinct: 1, len: 32 }),
            (&"0123456789abcdef".repeat(4), LowEntropy { distinct: 8, len: 32 }),
            (&"deadbeef".repeat(16), LowEntropy { distinct: 4, len: 64 }),
            // "an encoded password, but long enough" in hex
            (&hex::encode("an encoded password, but long enough"), Text),
        ];
        for (text, expected) in cases {
            assert_eq!(SigningSecret::parse(text).err(), Some(expected), "{text}");
        }
    }

    #[test]
    fn a_secret_is_never_printed() {
        let hex = SigningSecret::generate_hex();
        let secret = SigningSecret::parse(&hex).expect("random");
        assert!(!format!("{secret:?}").contains(&hex));
        assert_eq!(secret.expose(), hex.as_bytes());
    }
}
