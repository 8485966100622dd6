//! What every login form does, whoever logs in through it (a provider's user at `/login`, an
//! operator at `/operator/login`): its own CSRF token (a signed cookie matched by a hidden
//! field), one of the few password-check slots (else `503` at once), the limiter's leave (else
//! `429`, see `limiter`) counted before argon2 runs, the same argon2 work for an unknown account
//! as for a wrong password (so the two cannot be told apart by timing), and on success the
//! session cookie set and the form's cookie cleared. A door says only where its accounts live,
//! which cookies are its own and what its page looks like.

use std::future::Future;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::TimeDelta;
use heliograph_shared::PasswordDigest;

use super::keys::random_token;
use super::passwords::Slot;
use super::session::{clear_cookie, cookie, csrf_matches, set_cookie};
use crate::error::AppError;
use crate::state::AppState;

/// How long a login form stays usable.
const FORM_LIFETIME: TimeDelta = TimeDelta::hours(2);

/// One login form's cookies: the form token's and the session's it hands out.
#[derive(Debug, Clone, Copy)]
pub(super) struct Door {
    /// The cookie that carries the signed form token.
    pub form_cookie: &'static str,
    /// The signing purpose of the form token, distinct per door.
    pub form_purpose: &'static str,
    /// The cookie the session goes into.
    pub session_cookie: &'static str,
}

/// What came of one attempt at a door.
pub(super) enum Attempt<A> {
    /// It did not get to the password check.
    Held(Held),
    /// The account is unknown, inactive, or the password is wrong (not said which).
    Refused,
    /// The password is right: the account.
    Admitted(A),
}

impl Door {
    /// True when a form's `presented` token is the one signed into this door's form cookie.
    pub fn form_token_matches(&self, state: &AppState, headers: &HeaderMap, presented: &str) -> bool {
        cookie(headers, self.form_cookie)
            .and_then(|value| state.keys.verify(self.form_purpose, value))
            .is_some_and(|token| csrf_matches(token, presented))
    }

    /// The page `render` makes from a fresh form token, with that token's signed cookie.
    pub fn page(
        &self,
        state: &AppState,
        status: StatusCode,
        render: impl FnOnce(String) -> Result<String, askama::Error>,
    ) -> Result<Response, AppError> {
        let token = random_token();
        let signed = state.keys.sign(self.form_purpose, &token);
        let mut response = (status, Html(render(token)?)).into_response();
        response.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(self.form_cookie, &signed, FORM_LIFETIME, state.settings.cookie_secure),
        );
        Ok(response)
    }

    /// Checks `password` for the account `find` looks up, as `who` (the limiter's key) from
    /// `client`. `find` runs only once a slot is held and the limiter has counted the attempt.
    pub async fn attempt<A, F>(
        &self,
        state: &AppState,
        client: IpAddr,
        who: &str,
        password: String,
        find: F,
    ) -> Result<Attempt<A>, AppError>
    where
        F: Future<Output = Result<Option<(A, PasswordDigest)>, AppError>>,
    {
        let slot = match admit(state, client, who) {
            Ok(slot) => slot,
            Err(held) => return Ok(Attempt::Held(held)),
        };
        let account = find.await?;
        let digest = account.as_ref().map(|(_, digest)| digest.clone());
        let verified = slot.verify(digest, password).await?;
        Ok(match account.filter(|_| verified) {
            Some((account, _)) => {
                state.limiter.succeeded(client, who);
                Attempt::Admitted(account)
            }
            None => {
                tracing::info!(%client, who, door = self.form_purpose, "login failed");
                Attempt::Refused
            }
        })
    }

    /// A redirect to `to` that sets the session cookie to `session` and clears the form's.
    pub fn signed_in(&self, state: &AppState, to: &str, session: &str) -> Response {
        let secure = state.settings.cookie_secure;
        let mut response = Redirect::to(to).into_response();
        let cookies = response.headers_mut();
        cookies.append(
            header::SET_COOKIE,
            set_cookie(self.session_cookie, session, state.session_lifetime(), secure),
        );
        cookies.append(header::SET_COOKIE, clear_cookie(self.form_cookie, secure));
        response
    }
}

/// Why a login attempt did not get to its password check.
pub(super) enum Held {
    /// Every password-check slot is taken.
    Busy,
    /// The limiter says to wait this long.
    Wait(Duration),
}

impl Held {
    /// The status to answer with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Wait(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// What the login page says.
    pub fn message(&self) -> String {
        match self {
            Self::Busy => "The server is busy checking other logins; try again in a moment.".into(),
            Self::Wait(_) => {
                format!("Too many failed logins: try again in {} seconds.", self.retry_after_secs())
            }
        }
    }

    fn retry_after_secs(&self) -> u64 {
        match self {
            Self::Busy => 1,
            Self::Wait(wait) => wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
        }
    }

    /// `response` with `Retry-After`.
    pub fn with_retry_after(&self, mut response: Response) -> Response {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(self.retry_after_secs()));
        response
    }
}

/// A password-check slot for an attempt on `account` from `client`, the attempt counted by the
/// limiter; or why not. The slot is taken first, so an attempt refused for want of one is not
/// counted against the account.
fn admit(state: &AppState, client: IpAddr, account: &str) -> Result<Slot, Held> {
    let Some(slot) = state.passwords.try_slot() else {
        tracing::debug!(%client, account, "login refused: every password check slot is taken");
        return Err(Held::Busy);
    };
    match state.limiter.reserve(client, account, Instant::now()) {
        Ok(()) => Ok(slot),
        Err(wait) => {
            tracing::warn!(%client, account, wait_secs = wait.as_secs_f64(), "login refused: too many failures");
            Err(Held::Wait(wait))
        }
    }
}
