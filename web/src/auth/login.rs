//! Provider users logging in and out at `/login`; what every login form does (CSRF token,
//! password-check slots, the limiter, equal work for unknown accounts) is the [`Door`]'s.
//!
//! The provider field takes what people type: the slug in any case and with stray spaces, or the
//! provider's displayed name when exactly one provider has it. The last provider that logged in
//! on this browser is remembered in a cookie to fill the field next time.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{TimeDelta, Utc};
use heliograph_shared::{PasswordDigest, ProviderSlug, User, Username};
use serde::Deserialize;

use super::Scope;
use super::client::ClientAddr;
use super::door::{Attempt, Door};
use super::session::{LOGIN_COOKIE, SESSION_COOKIE, Session, clear_cookie, cookie, set_cookie};
use crate::error::AppError;
use crate::state::AppState;

/// The provider users' door.
const DOOR: Door = Door { form_cookie: LOGIN_COOKIE, form_purpose: "login", session_cookie: SESSION_COOKIE };

/// The cookie that remembers the last provider logged in on this browser: only its slug, which
/// fills the form's provider field and grants nothing.
pub const PROVIDER_COOKIE: &str = "hg_provider";

/// How long the provider is remembered.
const PROVIDER_REMEMBERED: TimeDelta = TimeDelta::days(365);

/// The one answer to a refused login. It does not say which field is wrong, the provider
/// included: slugs appear in no URL of the panel (only inside API tokens, which are secret), so
/// saying "no such provider" would let anyone list the companies that use this installation.
pub const REFUSED: &str = "Provider, user name or password is wrong.";

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
    DOOR.page(state, status, |csrf| {
        LoginPage {
            csrf,
            provider: provider.chars().take(32).collect(),
            username: username.chars().take(64).collect(),
            next: safe_next(next).to_owned(),
            error,
        }
        .render()
    })
}

/// `GET /login`: the provider field holds the remembered provider, if any.
pub async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Result<Response, AppError> {
    let remembered = cookie(&headers, PROVIDER_COOKIE)
        .and_then(|value| ProviderSlug::parse(value).ok())
        .map(|slug| slug.to_string())
        .unwrap_or_default();
    login_page(&state, StatusCode::OK, &remembered, "", query.next.as_deref().unwrap_or("/"), None)
}

/// The provider the login form's field names: its slug in any case, or a displayed name that
/// exactly one provider has; else the field as typed, lowercased, for the limiter's key.
async fn resolve_provider(state: &AppState, typed: &str) -> Result<Result<ProviderSlug, String>, AppError> {
    let typed = typed.split_whitespace().collect::<Vec<_>>().join(" ");
    let lowered = typed.to_lowercase();
    if let Ok(slug) = ProviderSlug::parse(&lowered)
        && state.store.provider(&slug).await?.is_some()
    {
        return Ok(Ok(slug));
    }
    if typed.is_empty() || typed.chars().count() > 120 {
        return Ok(Err(lowered.chars().take(40).collect()));
    }
    let named = state.provider_names.named(state.store.as_ref(), &lowered).await?;
    Ok(match <[ProviderSlug; 1]>::try_from(named) {
        Ok([slug]) => Ok(slug),
        Err(_) => Err(lowered.chars().take(40).collect()),
    })
}

/// `POST /login`.
pub async fn submit(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    if !DOOR.form_token_matches(&state, &headers, &form.csrf) {
        return Err(AppError::Csrf);
    }
    // Resolved before the limiter counts, so that "Sunrise", " sunrise " and the displayed name
    // are one account to it, not three with five tries each.
    let provider = resolve_provider(&state, &form.provider).await?;
    let who: String = format!(
        "{}/{}",
        provider.as_ref().map_or_else(String::clone, ProviderSlug::to_string),
        form.username.trim()
    )
    .to_ascii_lowercase()
    .chars()
    .take(100)
    .collect();
    let page =
        |status, error| login_page(&state, status, &form.provider, &form.username, &form.next, Some(error));
    let find = find_user(&state, provider.ok(), &form.username);
    match DOOR.attempt(&state, client, &who, form.password.clone(), find).await? {
        Attempt::Held(held) => {
            page(held.status(), held.message()).map(|response| held.with_retry_after(response))
        }
        Attempt::Refused => page(StatusCode::UNAUTHORIZED, REFUSED.into()),
        Attempt::Admitted((provider, user)) => {
            tracing::info!(provider = %provider, user = %user.username, "logged in");
            let remembered = provider.to_string();
            let session = Session::new(provider, &user, &state.keys, Utc::now(), state.session_lifetime());
            let mut response = DOOR.signed_in(&state, safe_next(&form.next), &session.encode(&state.keys));
            response.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(PROVIDER_COOKIE, &remembered, PROVIDER_REMEMBERED, state.settings.cookie_secure),
            );
            Ok(response)
        }
    }
}

/// The active user of `provider` with the form's user name, with the digest to check its
/// password against.
async fn find_user(
    state: &AppState,
    provider: Option<ProviderSlug>,
    username: &str,
) -> Result<Option<((ProviderSlug, User), PasswordDigest)>, AppError> {
    let names = provider.zip(Username::parse(username.trim()).ok());
    let Some((provider, username)) = names else { return Ok(None) };
    let tenant = state.store.tenant(&provider).await?;
    let user = tenant.user(&username).await?.filter(|u| u.active);
    Ok(user.map(|user| {
        let digest = user.password.clone();
        ((provider, user), digest)
    }))
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
