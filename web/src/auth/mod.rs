//! Who is asking, and for which provider: the session middleware for the panel (with the CSRF
//! check on every form post), the bearer-token middleware for the API, and the [`Scope`] both
//! hand to handlers. A handler reaches data only through `Scope::tenant`, which is bound to the
//! caller's provider, so an id of another provider's customer or gateway is simply not found.

pub mod api_token;
pub mod client;
mod door;
pub mod keys;
pub mod limiter;
pub mod login;
pub mod operator;
pub mod passwords;
pub mod provider_names;
pub mod session;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use heliograph_shared::store::TenantStore;
use heliograph_shared::{Provider, ProviderSlug};

use self::session::{SESSION_COOKIE, Session, clear_cookie, cookie};
use crate::error::AppError;
use crate::state::AppState;

/// Largest form body accepted.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The caller's provider and the handle on its namespace.
#[derive(Clone)]
pub struct Scope {
    /// The provider (settings, timezone, branding).
    pub provider: Provider,
    /// Its namespace; the only way handlers reach data.
    pub tenant: Arc<dyn TenantStore>,
}

impl<S: Send + Sync> FromRequestParts<S> for Scope {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AppError> {
        parts.extensions.get::<Scope>().cloned().ok_or(AppError::Unauthenticated)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AppError> {
        parts.extensions.get::<Session>().cloned().ok_or(AppError::Unauthenticated)
    }
}

/// The scope of a session whose user is active and still has the session's stamp, or none.
async fn user_scope(state: &AppState, session: &Session) -> Result<Option<Scope>, AppError> {
    let Some(record) = state.store.provider(&session.provider).await? else { return Ok(None) };
    let tenant = state.store.tenant(&session.provider).await?;
    let current = tenant
        .user(&session.username)
        .await?
        .is_some_and(|user| user.active && state.keys.stamp_matches(&user, &session.stamp));
    Ok(current.then_some(Scope { provider: record, tenant }))
}

/// Panel middleware: a valid session of an active user whose stamp it still carries, or a
/// redirect to the login page; on anything but GET and HEAD, a form body carrying the session's
/// CSRF token or 403.
pub async fn require_session(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let now = Utc::now();
    let session =
        cookie(request.headers(), SESSION_COOKIE).and_then(|value| Session::decode(&state.keys, value, now));
    let scope = match &session {
        Some(s) => match user_scope(&state, s).await {
            Ok(scope) => scope,
            Err(e) => return e.into_response(),
        },
        None => None,
    };
    let (Some(session), Some(scope)) = (session, scope) else {
        return to_login(&request, state.settings.cookie_secure);
    };
    let mut request = if matches!(*request.method(), Method::GET | Method::HEAD) {
        request
    } else {
        match checked_form(|presented| session.csrf_matches(presented), request).await {
            Ok(request) => request,
            Err(e) => return e.into_response(),
        }
    };
    request.extensions_mut().insert(session);
    request.extensions_mut().insert(scope);
    next.run(request).await
}

/// A redirect to the login page that comes back to where the user was going.
fn to_login(request: &Request, secure: bool) -> Response {
    let target = if request.method() == Method::GET {
        let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
        format!("/login?{}", serde_urlencoded::to_string([("next", path)]).unwrap_or_default())
    } else {
        "/login".to_owned()
    };
    let mut response = Redirect::to(&target).into_response();
    if cookie(request.headers(), SESSION_COOKIE).is_some() {
        response.headers_mut().insert(header::SET_COOKIE, clear_cookie(SESSION_COOKIE, secure));
    }
    response
}

/// Reads a url-encoded form body, checks its `csrf` field with `csrf_ok` and puts the body back.
async fn checked_form(csrf_ok: impl Fn(&str) -> bool, request: Request) -> Result<Request, AppError> {
    let (parts, body) = request.into_parts();
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(AppError::Csrf);
    }
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| AppError::BadRequest(format!("forms are limited to {MAX_FORM_BYTES} bytes")))?;
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
        .map_err(|_| AppError::BadRequest("the form is not readable".into()))?;
    let presented = fields.iter().find(|(name, _)| name == "csrf").map_or("", |(_, value)| value.as_str());
    if !csrf_ok(presented) {
        return Err(AppError::Csrf);
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// API middleware: `Authorization: Bearer hgp_<provider>_<secret>` naming a stored token.
pub async fn require_api_token(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|token| api_token::parse(token.trim()));
    let scope = match presented {
        Some((provider, hash)) => api_scope(&state, &provider, &hash).await,
        None => Ok(None),
    };
    match scope {
        Ok(Some(scope)) => {
            request.extensions_mut().insert(scope);
            next.run(request).await
        }
        Ok(None) => {
            let mut response = AppError::Unauthenticated.into_json_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
            response
        }
        Err(e) => e.into_json_response(),
    }
}

async fn api_scope(
    state: &AppState,
    provider: &ProviderSlug,
    hash: &heliograph_shared::TokenHash,
) -> Result<Option<Scope>, AppError> {
    let Some(record) = state.store.provider(provider).await? else { return Ok(None) };
    let tenant = state.store.tenant(provider).await?;
    Ok(tenant.api_token(hash).await?.map(|_| Scope { provider: record, tenant }))
}
