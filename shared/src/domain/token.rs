//! Gateway tokens: random secrets shown once, stored only as SHA-256 hashes, compared in
//! constant time. Tokens carry 256 bits of entropy, so a fast hash is the right tool (argon2 is
//! for low-entropy passwords and would cost every document tens of milliseconds).

use std::fmt;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A plaintext gateway token. Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct GatewayToken(String);

impl GatewayToken {
    /// A new random token: 32 bytes, hex-encoded.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(hex::encode(bytes))
    }

    /// Wraps a token received from a gateway.
    pub fn from_presented(value: &str) -> Self {
        Self(value.to_owned())
    }

    /// The secret, for showing once to the person who created it.
    pub fn reveal(&self) -> &str {
        &self.0
    }

    /// The hash that is stored.
    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

impl fmt::Debug for GatewayToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GatewayToken(<redacted>)")
    }
}

/// The stored SHA-256 of a token.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// True when `token` hashes to this value; the comparison takes the same time either way.
    pub fn verify(&self, token: &GatewayToken) -> bool {
        token.hash().0.ct_eq(&self.0).into()
    }

    /// The hash as raw bytes, for storage.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Rebuilds a hash from stored bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", &hex::encode(self.0)[..8])
    }
}

impl TryFrom<String> for TokenHash {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        hex::decode(&value)
            .ok()
            .and_then(|b| Self::from_bytes(&b))
            .ok_or_else(|| "token hash must be 64 hex digits".to_owned())
    }
}

impl From<TokenHash> for String {
    fn from(value: TokenHash) -> String {
        hex::encode(value.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_against_its_own_hash_only() {
        let token = GatewayToken::generate();
        let other = GatewayToken::generate();
        assert_eq!(token.reveal().len(), 64);
        assert!(token.hash().verify(&token));
        assert!(!token.hash().verify(&other));
        assert!(!format!("{token:?}").contains(token.reveal()));
    }
}
