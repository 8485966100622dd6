//! The confirmation step of a destructive action. The action's button posts its form without
//! `confirmed`; the handler answers with this page, which says what will happen and posts the
//! same fields again with `confirmed=yes`. It is server-side, so it works without JavaScript,
//! and the second post passes the session's CSRF check like every other form.

use askama::Template;
use axum::response::{IntoResponse, Response};

use super::{Layout, render};
use crate::error::AppError;

/// The value the confirmation page's button sends.
const CONFIRMED: &str = "yes";

/// True when a form's `confirmed` field comes from the confirmation page.
pub fn is_confirmed(field: Option<&str>) -> bool {
    field == Some(CONFIRMED)
}

/// A question before a destructive action.
#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    /// Page frame.
    pub layout: Layout,
    /// The question, e.g. "Deactivate gateway GW-1?".
    pub title: String,
    /// What will happen, and what will not.
    pub consequence: String,
    /// Where the form posts.
    pub action: String,
    /// The action's own fields, posted again.
    pub fields: Vec<(&'static str, String)>,
    /// The button's label, e.g. "Deactivate GW-1".
    pub button: String,
    /// Where "Cancel" goes.
    pub cancel_href: String,
}

impl ConfirmPage {
    /// The page as a response.
    pub fn respond(&self) -> Result<Response, AppError> {
        Ok(render(self)?.into_response())
    }

    /// The value the template puts into `confirmed`.
    pub fn confirmed_value(&self) -> &'static str {
        CONFIRMED
    }
}
