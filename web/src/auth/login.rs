//! Logging in and out. The login form carries its own CSRF token (a signed cookie matched by a
//! hidden field); an attempt needs one of the few password-check slots (else `503` at once) and
//! the limiter's leave (else `429`, see `limiter`), which counts it before argon2 runs; unknown
//! providers or users cost the same argon2 work as wrong passwords so they cannot be told apart
//! by timing.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{TimeDelta, Utc};
use heliograph_shared::{ProviderSlug, User, Username};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::Scope;
use super::client::ClientAddr;
use super::keys::random_token;
use super::passwords::Slot;
use super::session::{LOGIN_COOKIE, SESSION_COOKIE, Session, clear_cookie, cookie, set_cookie};
use crate::error::AppError;
use crate::state::AppState;

const LOGIN_PURPOSE: &str = "login";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    provider: String,
    username: String,
    next: String,
    error: Option<String>,
}

/// `?next=` on the login page.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// The login form's fields.
#[derive(Deserialize)]
pub struct LoginForm {
    provider: String,
    username: String,
    password: String,
    csrf: String,
    #[serde(default)]
    next: String,
}

/// Renders the login page with a fresh form token (and its cookie).
fn login_page(
    state: &AppState,
    status: StatusCode,
    provider: &str,
    username: &str,
    next: &str,
    error: Option<String>,
) -> Result<Response, AppError> {
    let token = random_token();
    let page = LoginPage {
        csrf: token.clone(),
        provider: provider.chars().take(32).collect(),
        username: username.chars().take(64).collect(),
        next: safe_next(next).to_owned(),
        error,
    };
    let mut response = (status, Html(page.render()?)).into_response();
    let signed = state.keys.sign(LOGIN_PURPOSE, &token);
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(LOGIN_COOKIE, &signed, TimeDelta::hours(2), state.settings.cookie_secure),
    );
    Ok(response)
}

/// `GET /login`.
pub async fn form(
    State(state): State<AppState>,
    Query(query): Query<LoginQuery>,
) -> Result<Response, AppError> {
    login_page(&state, StatusCode::OK, "", "", query.next.as_deref().unwrap_or("/"), None)
}

/// `POST /login`.
pub async fn submit(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    if !form_token_matches(&state, &headers, LOGIN_COOKIE, LOGIN_PURPOSE, &form.csrf) {
        return Err(AppError::Csrf);
    }
    let who: String = format!("{}/{}", form.provider.trim(), form.username.trim())
        .to_ascii_lowercase()
        .chars()
        .take(100)
        .collect();
    let slot = match admit(&state, client, &who) {
        Ok(slot) => slot,
        Err(held) => {
            let page = login_page(
                &state,
                held.status(),
                &form.provider,
                &form.username,
                &form.next,
                Some(held.message()),
            );
            return page.map(|response| held.with_retry_after(response));
        }
    };
    match authenticate(&state, &form, slot).await? {
        Some((provider, user)) => {
            state.limiter.succeeded(client, &who);
            tracing::info!(provider = %provider, user = %user.username, "logged in");
            let session = Session::new(provider, &user, &state.keys, Utc::now(), state.session_lifetime());
            let mut response = Redirect::to(safe_next(&form.next)).into_response();
            let secure = state.settings.cookie_secure;
            let cookies = response.headers_mut();
            cookies.append(
                header::SET_COOKIE,
                set_cookie(SESSION_COOKIE, &session.encode(&state.keys), state.session_lifetime(), secure),
            );
            cookies.append(header::SET_COOKIE, clear_cookie(LOGIN_COOKIE, secure));
            Ok(response)
        }
        None => {
            tracing::info!(%client, who, "login failed");
            let message = "Provider, user name or password is wrong.".to_owned();
            login_page(
                &state,
                StatusCode::UNAUTHORIZED,
                &form.provider,
                &form.username,
                &form.next,
                Some(message),
            )
        }
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
    pub(super) fn status(&self) -> StatusCode {
        match self {
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Wait(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// What the login page says.
    pub(super) fn message(&self) -> String {
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
    pub(super) fn with_retry_after(&self, mut response: Response) -> Response {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(self.retry_after_secs()));
        response
    }
}

/// A password-check slot for an attempt on `account` from `client`, the attempt counted by the
/// limiter; or why not. The slot is taken first, so an attempt refused for want of one is not
/// counted against the account.
pub(super) fn admit(state: &AppState, client: IpAddr, account: &str) -> Result<Slot, Held> {
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

/// The provider and user when the password is right.
async fn authenticate(
    state: &AppState,
    form: &LoginForm,
    slot: Slot,
) -> Result<Option<(ProviderSlug, User)>, AppError> {
    let names = ProviderSlug::parse(form.provider.trim()).ok().zip(Username::parse(&form.username).ok());
    let mut account = None;
    if let Some((provider, username)) = &names
        && state.store.provider(provider).await?.is_some()
    {
        let tenant = state.store.tenant(provider).await?;
        account = tenant.user(username).await?.filter(|u| u.active).map(|user| (provider.clone(), user));
    }
    let digest = account.as_ref().map(|(_, user)| user.password.clone());
    let verified = slot.verify(digest, form.password.clone()).await?;
    Ok(account.filter(|_| verified))
}

/// True when a login form's `presented` token is the one signed into its cookie.
pub(super) fn form_token_matches(
    state: &AppState,
    headers: &HeaderMap,
    cookie_name: &str,
    purpose: &str,
    presented: &str,
) -> bool {
    cookie(headers, cookie_name).and_then(|value| state.keys.verify(purpose, value)).is_some_and(|token| {
        !presented.is_empty() && bool::from(token.as_bytes().ct_eq(presented.as_bytes()))
    })
}

/// Where to go after login: `next` when it is a path on this site, else the fleet page.
///
/// Browsers are lenient with `Location`: they drop tabs and newlines, read `\\` as `/`, and
/// take `//host` (also after such clean-up) as another site. So only a path made of visible
/// ASCII is followed, starting with one `/`, without backslashes, and parsed as a path and
/// query (which refuses a scheme, an authority and a fragment).
fn safe_next(next: &str) -> &str {
    const FLEET: &str = "/";
    let visible = next.bytes().all(|b| b.is_ascii_graphic());
    let local = visible
        && next.len() < 2048
        && next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.starts_with("/login")
        && next.parse::<axum::http::uri::PathAndQuery>().is_ok_and(|p| p.as_str() == next);
    if local { next } else { FLEET }
}

/// `POST /logout` (behind the session middleware, so CSRF-checked): ends every session of the
/// user, on every web process and device, not only this browser's.
pub async fn logout(State(state): State<AppState>, session: Session, scope: Scope) -> Response {
    if let Err(e) = scope.tenant.end_sessions(&session.username).await {
        // The sessions go on: say so rather than pretend, and keep the cookie to try again with.
        return AppError::from(e).into_response();
    }
    tracing::info!(provider = %session.provider, user = %session.username, "logged out");
    let mut response = Redirect::to("/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, clear_cookie(SESSION_COOKIE, state.settings.cookie_secure));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        for local in
            ["/", "/sites?sort=power", "/sites/SUN-1/day/2026-06-01", "/customers/%2F%2Fevil.example"]
        {
            assert_eq!(safe_next(local), local, "{local:?} is a path on this site");
        }
        let hostile = [
            "https://evil.example/",
            "http:evil.example",
            "javascript:alert(1)",
            "//evil.example/",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "\t//evil.example",
            " //evil.example",
            "/ /evil.example",
            "/\u{0}/evil.example",
            "/\u{7f}/evil.example",
            "/\u{a0}/evil.example",
            "/\u{2028}/evil.example",
            "/\u{3000}/evil.example",
            "/ｅvil.example",
            "/sites#//evil.example",
            "evil.example",
            "",
            "/login",
            "/login?next=//evil.example",
        ];
        for value in hostile {
            assert_eq!(safe_next(value), "/", "{value:?} is not followed");
        }
        assert_eq!(safe_next(&format!("/{}", "a".repeat(4096))), "/", "overlong");
    }
}
