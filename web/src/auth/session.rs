//! The session cookie: provider, user name, the account's stamp, expiry and CSRF token, signed
//! with HMAC-SHA256 and sent back as an HTTP-only, SameSite=Lax cookie. Every request looks the
//! user up in the store (on every web process alike) and needs the account active and its stamp
//! unchanged: logging out, deactivation or a new password change the stamp (see
//! `Keys::session_stamp`), which ends every session of the account at its next request.

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use heliograph_shared::{ProviderSlug, User, Username};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::keys::{Keys, random_token};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "hg_session";
/// The login form's CSRF cookie's name.
pub const LOGIN_COOKIE: &str = "hg_login";

const SESSION_PURPOSE: &str = "session";

/// A logged-in user of one provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// The provider; every query of the session goes to its namespace only.
    #[serde(rename = "p")]
    pub provider: ProviderSlug,
    /// The user.
    #[serde(rename = "u")]
    pub username: Username,
    /// The account's stamp when the session began.
    #[serde(rename = "s")]
    pub stamp: String,
    /// Expiry, Unix seconds.
    #[serde(rename = "e")]
    pub expires: i64,
    /// The token every form of the session carries.
    #[serde(rename = "c")]
    pub csrf: String,
}

impl Session {
    /// A new session of `user` lasting `lifetime` from `now`, with a fresh CSRF token.
    pub fn new(
        provider: ProviderSlug,
        user: &User,
        keys: &Keys,
        now: DateTime<Utc>,
        lifetime: TimeDelta,
    ) -> Self {
        Self {
            provider,
            username: user.username.clone(),
            stamp: keys.session_stamp(user),
            expires: (now + lifetime).timestamp(),
            csrf: random_token(),
        }
    }

    /// The signed cookie value.
    pub fn encode(&self, keys: &Keys) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        keys.sign(SESSION_PURPOSE, &URL_SAFE_NO_PAD.encode(json))
    }

    /// The session in a cookie value, if it is signed by `keys` and not expired at `now`.
    pub fn decode(keys: &Keys, value: &str, now: DateTime<Utc>) -> Option<Self> {
        let data = keys.verify(SESSION_PURPOSE, value)?;
        let session: Self = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(data).ok()?).ok()?;
        (session.expires > now.timestamp()).then_some(session)
    }

    /// True when `presented` is this session's CSRF token (constant-time comparison).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        csrf_matches(&self.csrf, presented)
    }
}

/// True when `presented` is the `expected` CSRF token (constant-time comparison).
pub fn csrf_matches(expected: &str, presented: &str) -> bool {
    !presented.is_empty() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A `Set-Cookie` value: HTTP-only, SameSite=Lax, path `/`, `Secure` when asked.
pub fn set_cookie(name: &str, value: &str, max_age: TimeDelta, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text =
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}", max_age.num_seconds());
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("hg_invalid=; Max-Age=0"))
}

/// A `Set-Cookie` value that removes the cookie.
pub fn clear_cookie(name: &str, secure: bool) -> HeaderValue {
    set_cookie(name, "", TimeDelta::zero(), secure)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(keys: &Keys, now: DateTime<Utc>) -> Session {
        let digest = heliograph_shared::PasswordDigest::from_stored(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        );
        let user = User::new(Username::parse("demo").expect("valid"), "Demo", digest);
        Session::new(ProviderSlug::parse("sunrise").expect("valid"), &user, keys, now, TimeDelta::hours(1))
    }

    #[test]
    fn a_session_survives_its_cookie_until_it_expires() {
        let keys = Keys::new(None);
        let now = Utc::now();
        let s = session(&keys, now);
        let cookie = s.encode(&keys);
        assert_eq!(Session::decode(&keys, &cookie, now), Some(s.clone()));
        assert_eq!(Session::decode(&keys, &cookie, now + TimeDelta::hours(2)), None);
        assert!(s.csrf_matches(&s.csrf));
        assert!(!s.csrf_matches(""));
        assert!(!s.csrf_matches("0000"));
    }

    #[test]
    fn a_session_edited_to_name_another_provider_is_refused() {
        let keys = Keys::new(None);
        let now = Utc::now();
        let cookie = session(&keys, now).encode(&keys);
        let (data, signature) = cookie.rsplit_once('.').expect("signed");
        let json = String::from_utf8(URL_SAFE_NO_PAD.decode(data).expect("base64")).expect("utf-8");
        let forged = URL_SAFE_NO_PAD.encode(json.replace("sunrise", "voltwerk"));
        assert_eq!(Session::decode(&keys, &format!("{forged}.{signature}"), now), None);
    }

    #[test]
    fn cookies_are_found_among_several() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; hg_session=xyz.sig; b=2"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("xyz.sig"));
        assert_eq!(cookie(&headers, "c"), None);
    }
}
