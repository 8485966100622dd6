//! Signed unsubscribe links: a customer can stop summaries or alerts with one click, without an
//! account, and nobody can unsubscribe someone else by guessing a URL.
//!
//! A token is `<provider>.<customer>.<scope>.<mac>`: the MAC is HMAC-SHA256 over the first three
//! parts under the installation's unsubscribe key, hex, truncated to 128 bits. Every part is
//! URL-safe, so the link is `<public_url>/unsubscribe/<token>`. Tokens do not expire: a link in
//! an old email keeps working.

use std::fmt;
use std::str::FromStr;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::ids::{CustomerId, ProviderSlug};

/// Which mail an unsubscribe link stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnsubscribeScope {
    /// Periodic summaries.
    Summaries,
    /// Alert emails.
    Alerts,
}

impl UnsubscribeScope {
    /// The word in the token.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Summaries => "summaries",
            Self::Alerts => "alerts",
        }
    }

    fn from_word(word: &str) -> Option<Self> {
        match word {
            "summaries" => Some(Self::Summaries),
            "alerts" => Some(Self::Alerts),
            _ => None,
        }
    }
}

/// Why a presented token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsubscribeError {
    /// Not four dot-separated parts of the right shapes.
    #[error("the unsubscribe link is malformed; it may have been cut by the mail program")]
    Malformed,
    /// The signature does not match.
    #[error("the unsubscribe link is not valid for this installation")]
    BadSignature,
    /// The key is too short to be safe.
    #[error("the unsubscribe key must be at least 32 bytes")]
    WeakKey,
}

/// What a valid token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// The provider.
    pub provider: ProviderSlug,
    /// The customer.
    pub customer: CustomerId,
    /// What to stop.
    pub scope: UnsubscribeScope,
}

/// The secret that signs and verifies unsubscribe tokens; shared by the mailer and the web panel.
#[derive(Clone)]
pub struct UnsubscribeKey(Vec<u8>);

impl fmt::Debug for UnsubscribeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UnsubscribeKey(<redacted>)")
    }
}

/// Hex characters of the MAC kept in a token (128 bits).
const MAC_HEX_LEN: usize = 32;

impl UnsubscribeKey {
    /// A key from secret bytes (at least 32).
    pub fn new(secret: &[u8]) -> Result<Self, UnsubscribeError> {
        if secret.len() < 32 { Err(UnsubscribeError::WeakKey) } else { Ok(Self(secret.to_vec())) }
    }

    /// A fresh random key, hex-encoded for storing in a file or setting.
    pub fn generate_hex() -> String {
        let mut bytes = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
        hex::encode(bytes)
    }

    fn mac(&self, payload: &str) -> String {
        // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
        let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
        };
        mac.update(payload.as_bytes());
        let mut text = hex::encode(mac.finalize().into_bytes());
        text.truncate(MAC_HEX_LEN);
        text
    }

    /// The token for a customer and scope.
    pub fn sign(&self, provider: &ProviderSlug, customer: CustomerId, scope: UnsubscribeScope) -> String {
        let payload = format!("{provider}.{customer}.{}", scope.as_str());
        let mac = self.mac(&payload);
        format!("{payload}.{mac}")
    }

    /// Checks a presented token (constant-time on the MAC) and says what it names.
    pub fn verify(&self, token: &str) -> Result<Unsubscribe, UnsubscribeError> {
        let token = token.trim();
        let (payload, mac) = token.rsplit_once('.').ok_or(UnsubscribeError::Malformed)?;
        let mut parts = payload.split('.');
        let (Some(provider), Some(customer), Some(scope), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(UnsubscribeError::Malformed);
        };
        let provider = ProviderSlug::parse(provider).map_err(|_| UnsubscribeError::Malformed)?;
        let customer = CustomerId::from_str(customer).map_err(|_| UnsubscribeError::Malformed)?;
        let scope = UnsubscribeScope::from_word(scope).ok_or(UnsubscribeError::Malformed)?;
        if mac.len() != MAC_HEX_LEN {
            return Err(UnsubscribeError::Malformed);
        }
        let expected = self.mac(payload);
        if bool::from(expected.as_bytes().ct_eq(mac.to_ascii_lowercase().as_bytes())) {
            Ok(Unsubscribe { provider, customer, scope })
        } else {
            Err(UnsubscribeError::BadSignature)
        }
    }

    /// The link to put in an email: `<public_url>/unsubscribe/<token>`.
    pub fn url(
        &self,
        public_url: &str,
        provider: &ProviderSlug,
        customer: CustomerId,
        scope: UnsubscribeScope,
    ) -> String {
        format!("{}/unsubscribe/{}", public_url.trim_end_matches('/'), self.sign(provider, customer, scope))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> UnsubscribeKey {
        UnsubscribeKey::new(&[byte; 32]).expect("32 bytes is enough")
    }

    #[test]
    fn a_signed_token_verifies_and_names_its_customer_and_scope() {
        let provider = ProviderSlug::parse("acme").expect("valid slug");
        let customer = CustomerId::new_random();
        let token = key(1).sign(&provider, customer, UnsubscribeScope::Alerts);
        let named = key(1).verify(&token).expect("valid token");
        assert_eq!(named, Unsubscribe { provider, customer, scope: UnsubscribeScope::Alerts });
        assert!(token.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')));
    }

    #[test]
    fn tampered_or_foreign_tokens_are_refused() {
        let provider = ProviderSlug::parse("acme").expect("valid slug");
        let customer = CustomerId::new_random();
        let token = key(1).sign(&provider, customer, UnsubscribeScope::Summaries);
        assert_eq!(key(2).verify(&token), Err(UnsubscribeError::BadSignature));
        let other = token.replace("summaries", "alerts");
        assert_eq!(key(1).verify(&other), Err(UnsubscribeError::BadSignature));
        assert_eq!(key(1).verify("acme.x.summaries.00"), Err(UnsubscribeError::Malformed));
        assert_eq!(key(1).verify(""), Err(UnsubscribeError::Malformed));
        assert!(UnsubscribeKey::new(b"short").is_err());
    }
}
