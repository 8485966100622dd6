//! HMAC-SHA256 signatures over cookie values, with a purpose label so a value signed for one
//! cookie is never accepted as another.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use heliograph_shared::{SigningSecret, User};

type HmacSha256 = Hmac<Sha256>;

const STAMP_PURPOSE: &str = "session-stamp";

/// The signing key.
#[derive(Clone)]
pub struct Keys {
    key: Vec<u8>,
}

impl Keys {
    /// Keys from the configured secret, or a random key for this process only.
    pub fn new(secret: Option<&SigningSecret>) -> Self {
        match secret {
            Some(secret) => Self { key: secret.expose().to_vec() },
            None => {
                let mut key = vec![0u8; 32];
                rand::rng().fill_bytes(&mut key);
                Self { key }
            }
        }
    }

    fn mac(&self, purpose: &str, data: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(data.as_bytes());
        mac
    }

    /// `data.signature`.
    pub fn sign(&self, purpose: &str, data: &str) -> String {
        let signature = URL_SAFE_NO_PAD.encode(self.mac(purpose, data).finalize().into_bytes());
        format!("{data}.{signature}")
    }

    /// What a session of `account` carries to show it was made for the account as it is now:
    /// a MAC over its session generation and its password digest. A new password, a new
    /// generation (logout, deactivation) or an account made again under the same name (a new
    /// salt) gives another stamp, and the sessions carrying the old one end. It reveals nothing
    /// of the digest without the key.
    pub fn session_stamp(&self, account: &User) -> String {
        let data = format!("{}\0{}", account.session_generation.value(), account.password.as_str());
        let tag = self.mac(STAMP_PURPOSE, &data).finalize().into_bytes();
        URL_SAFE_NO_PAD.encode(&tag[..16])
    }

    /// True when `presented` is `account`'s current stamp (compared in constant time).
    pub fn stamp_matches(&self, account: &User, presented: &str) -> bool {
        bool::from(self.session_stamp(account).as_bytes().ct_eq(presented.as_bytes()))
    }

    /// The data of a signed value, if the signature is right (compared in constant time).
    pub fn verify<'a>(&self, purpose: &str, signed: &'a str) -> Option<&'a str> {
        let (data, signature) = signed.rsplit_once('.')?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        self.mac(purpose, data).verify_slice(&signature).ok()?;
        Some(data)
    }
}

/// A random token, hex-encoded (32 bytes).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_value_verifies_only_for_its_purpose_and_unaltered() {
        let keys = Keys::new(None);
        let signed = keys.sign("session", "payload");
        assert_eq!(keys.verify("session", &signed), Some("payload"));
        assert_eq!(keys.verify("login", &signed), None);
        assert_eq!(keys.verify("session", &signed.replace("payload", "payloae")), None);
        assert_eq!(Keys::new(None).verify("session", &signed), None, "another key");
        assert_eq!(keys.verify("session", "no-signature"), None);
    }

    #[test]
    fn a_stamp_changes_with_the_generation_the_password_and_the_key() {
        use heliograph_shared::{PasswordDigest, SessionGeneration, Username};
        let keys = Keys::new(None);
        let digest = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
        let mut user = User::new(
            Username::parse("anna").expect("valid"),
            "Anna",
            PasswordDigest::from_stored(digest.into()),
        );
        user.session_generation = SessionGeneration::from_stored(1);
        let stamp = keys.session_stamp(&user);
        assert!(keys.stamp_matches(&user, &stamp));
        assert!(!stamp.contains("aGFzaA"), "the digest is not in it");
        let mut later = user.clone();
        later.session_generation = SessionGeneration::from_stored(2);
        assert!(!keys.stamp_matches(&later, &stamp), "a new generation");
        let mut changed = user.clone();
        changed.password = PasswordDigest::from_stored(digest.replace("aGFzaA", "aGFzaB"));
        assert!(!keys.stamp_matches(&changed, &stamp), "a new password");
        assert!(!Keys::new(None).stamp_matches(&user, &stamp), "another key");
    }
}
