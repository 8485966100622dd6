//! The one error type of the panel and the API, and its mapping to HTTP responses.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use heliograph_shared::store::StoreError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Nothing with that id in the caller's provider (ids of other providers end here too).
    #[error("not found")]
    NotFound,
    /// The request is malformed; the message says what to change.
    #[error("{0}")]
    BadRequest(String),
    /// A form arrived without the session's CSRF token.
    #[error("the form has expired or did not come from this site: reload the page and try again")]
    Csrf,
    /// No valid session or API token.
    #[error("log in first")]
    Unauthenticated,
    /// The change conflicts with what exists (an id taken).
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A template failed to render.
    #[error("page could not be rendered: {0}")]
    Render(#[from] askama::Error),
    /// Anything else that is our fault.
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    /// The status code this error maps to.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Csrf => StatusCode::FORBIDDEN,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Store(StoreError::GatewayTaken(_) | StoreError::GatewayExists(_)) => StatusCode::CONFLICT,
            Self::Store(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            Self::Store(_) | Self::Render(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the caller is told: internal details stay in the log.
    pub fn public_message(&self) -> String {
        match self.status() {
            StatusCode::INTERNAL_SERVER_ERROR => {
                "Something went wrong on our side; it has been logged.".into()
            }
            StatusCode::SERVICE_UNAVAILABLE => "The store is not answering; try again in a minute.".into(),
            _ => self.to_string(),
        }
    }

    fn log(&self) {
        if self.status().is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
    }

    /// The error as a JSON body, for the API.
    pub fn into_json_response(self) -> Response {
        self.log();
        let body = serde_json::json!({ "error": self.public_message() });
        (self.status(), axum::Json(body)).into_response()
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    reason: String,
    message: String,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log();
        let status = self.status();
        let page = ErrorPage {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("Error").to_owned(),
            message: self.public_message(),
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, self.public_message()).into_response(),
        }
    }
}
