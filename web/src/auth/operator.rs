//! Operator accounts: the people who run the installation. An operator creates providers and
//! their first users and sees no provider's data. Operators log in at `/operator/login` with
//! their own signed cookie (`hg_operator`, a purpose of its own, so a provider user's session
//! can never pass for an operator's or the reverse), CSRF-checked forms, and the same
//! password-check slots and login limiter as provider users.

use askama::Template;
use axum::Form;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use heliograph_shared::{User, Username};
use serde::{Deserialize, Serialize};

use super::client::ClientAddr;
use super::door::{Attempt, Door};
use super::keys::{Keys, random_token};
use super::session::{clear_cookie, cookie, csrf_matches};
use crate::error::AppError;
use crate::state::AppState;

/// The operator session cookie's name.
pub const OPERATOR_COOKIE: &str = "hg_operator";
const OPERATOR_PURPOSE: &str = "operator";
/// The operators' door: its form token and session cookies are its own, so a provider user's
/// can never pass for an operator's or the reverse.
const DOOR: Door = Door {
    form_cookie: "hg_operator_login",
    form_purpose: "operator-login",
    session_cookie: OPERATOR_COOKIE,
};

/// A logged-in operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatorSession {
    /// The operator.
    #[serde(rename = "o")]
    pub username: Username,
    /// The account's stamp when the session began (see `Keys::session_stamp`).
    #[serde(rename = "s")]
    pub stamp: String,
    /// Expiry, Unix seconds.
    #[serde(rename = "e")]
    pub expires: i64,
    /// The token every form of the session carries.
    #[serde(rename = "c")]
    pub csrf: String,
}

impl OperatorSession {
    fn new(operator: &User, keys: &Keys, now: DateTime<Utc>, lifetime: TimeDelta) -> Self {
        Self {
            username: operator.username.clone(),
            stamp: keys.session_stamp(operator),
            expires: (now + lifetime).timestamp(),
            csrf: random_token(),
        }
    }

    fn encode(&self, keys: &Keys) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        keys.sign(OPERATOR_PURPOSE, &URL_SAFE_NO_PAD.encode(json))
    }

    fn decode(keys: &Keys, value: &str, now: DateTime<Utc>) -> Option<Self> {
        let data = keys.verify(OPERATOR_PURPOSE, value)?;
        let session: Self = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(data).ok()?).ok()?;
        (session.expires > now.timestamp()).then_some(session)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for OperatorSession {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AppError> {
        parts.extensions.get::<OperatorSession>().cloned().ok_or(AppError::Unauthenticated)
    }
}

/// Operator middleware: a valid operator session of an active operator whose stamp it still
/// carries, or a redirect to the operator login; forms must carry the session's CSRF token.
pub async fn require_operator(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let now = Utc::now();
    let session = cookie(request.headers(), OPERATOR_COOKIE)
        .and_then(|value| OperatorSession::decode(&state.keys, value, now));
    let active = match &session {
        Some(s) => match state.store.operator(&s.username).await {
            Ok(record) => record.is_some_and(|o| o.active && state.keys.stamp_matches(&o, &s.stamp)),
            Err(e) => return AppError::from(e).into_response(),
        },
        None => false,
    };
    let Some(session) = session.filter(|_| active) else {
        let mut response = Redirect::to("/operator/login").into_response();
        if cookie(request.headers(), OPERATOR_COOKIE).is_some() {
            response
                .headers_mut()
                .insert(header::SET_COOKIE, clear_cookie(OPERATOR_COOKIE, state.settings.cookie_secure));
        }
        return response;
    };
    let mut request = if matches!(*request.method(), Method::GET | Method::HEAD) {
        request
    } else {
        match super::checked_form(|presented| csrf_matches(&session.csrf, presented), request).await {
            Ok(request) => request,
            Err(e) => return e.into_response(),
        }
    };
    request.extensions_mut().insert(session);
    next.run(request).await
}

#[derive(Template)]
#[template(path = "operator_login.html")]
struct LoginPage {
    csrf: String,
    username: String,
    error: Option<String>,
}

fn login_page(
    state: &AppState,
    status: StatusCode,
    username: &str,
    error: Option<String>,
) -> Result<Response, AppError> {
    DOOR.page(state, status, |csrf| {
        LoginPage { csrf, username: username.chars().take(64).collect(), error }.render()
    })
}

/// The operator login form's fields.
#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    csrf: String,
}

/// `GET /operator/login`.
pub async fn login_form(State(state): State<AppState>) -> Result<Response, AppError> {
    login_page(&state, StatusCode::OK, "", None)
}

/// `POST /operator/login`.
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    if !DOOR.form_token_matches(&state, &headers, &form.csrf) {
        return Err(AppError::Csrf);
    }
    let who: String =
        format!("operator:{}", form.username.trim().to_ascii_lowercase()).chars().take(100).collect();
    let find = async {
        let Ok(name) = Username::parse(form.username.trim()) else { return Ok(None) };
        let operator = state.store.operator(&name).await?.filter(|o| o.active);
        Ok(operator.map(|o| {
            let digest = o.password.clone();
            (o, digest)
        }))
    };
    let page = |status, error| login_page(&state, status, &form.username, Some(error));
    match DOOR.attempt(&state, client, &who, form.password.clone(), find).await? {
        Attempt::Held(held) => {
            page(held.status(), held.message()).map(|response| held.with_retry_after(response))
        }
        Attempt::Refused => page(StatusCode::UNAUTHORIZED, "User name or password is wrong.".into()),
        Attempt::Admitted(operator) => {
            tracing::info!(operator = %operator.username, "operator logged in");
            let session = OperatorSession::new(&operator, &state.keys, Utc::now(), state.session_lifetime());
            Ok(DOOR.signed_in(&state, "/operator", &session.encode(&state.keys)))
        }
    }
}

/// `POST /operator/logout`: ends every session of the operator, on every web process.
pub async fn logout(State(state): State<AppState>, session: OperatorSession) -> Response {
    if let Err(e) = state.store.end_operator_sessions(&session.username).await {
        return AppError::from(e).into_response();
    }
    tracing::info!(operator = %session.username, "operator logged out");
    let mut response = Redirect::to("/operator/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, clear_cookie(OPERATOR_COOKIE, state.settings.cookie_secure));
    response
}
