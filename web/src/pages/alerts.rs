//! Taking an open alert on from the panel: who, when, and a note the next person reads.

use axum::extract::{Form, Path};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use chrono_tz::Tz;
use heliograph_shared::{Acknowledgement, Alert};
use serde::Deserialize;

use super::fleet::open_alerts;
use crate::auth::Scope;
use crate::auth::session::Session;
use crate::error::AppError;
use crate::format;

/// The acknowledgement form.
#[derive(Debug, Deserialize)]
pub struct AcknowledgeForm {
    /// What the user says, possibly nothing.
    #[serde(default)]
    pub note: String,
}

/// `POST /alerts/{id}/acknowledge`: the user takes the open alert on; back to its site.
pub async fn acknowledge(
    session: Session,
    scope: Scope,
    Path(id): Path<String>,
    Form(form): Form<AcknowledgeForm>,
) -> Result<Response, AppError> {
    let id = uuid::Uuid::parse_str(&id).map_err(|_| AppError::NotFound)?;
    // Only this provider's open alerts are looked in: an id of another's is not found.
    let alert = open_alerts(&scope).await.into_iter().find(|a| a.id == id).ok_or(AppError::NotFound)?;
    let acknowledgement =
        Acknowledgement { by: session.username.to_string(), at: Utc::now(), note: note(&form.note) };
    scope.tenant.acknowledge_alert(&alert, &acknowledgement).await?;
    tracing::info!(
        provider = %scope.provider.slug,
        gateway = %alert.gateway,
        alert = %alert.id,
        user = %session.username,
        "alert acknowledged"
    );
    Ok(Redirect::to(&format!("/sites/{}", alert.gateway)).into_response())
}

/// The note as kept: one line of at most [`Acknowledgement::MAX_NOTE_CHARS`] characters
/// without control characters.
fn note(typed: &str) -> String {
    typed
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .take(Acknowledgement::MAX_NOTE_CHARS)
        .collect()
}

/// "Taken on by anna on 2026-12-07 14:02: technician booked", or empty while nobody has.
pub fn acknowledgement_text(alert: &Alert, tz: Tz) -> String {
    let Some(taken) = &alert.acknowledged else { return String::new() };
    let when = format::local_datetime(taken.at, tz);
    if taken.note.is_empty() {
        format!("Taken on by {} on {when}", taken.by)
    } else {
        format!("Taken on by {} on {when}: {}", taken.by, taken.note)
    }
}

/// An open alert as a site's page shows it, with its acknowledgement or the form to give one.
pub struct AlertView {
    /// The alert's id, for the form's address.
    pub id: String,
    /// What it says ([`super::fleet::alert_text`]).
    pub text: String,
    /// Who took it on ([`acknowledgement_text`]); empty while nobody has.
    pub taken: String,
}

impl AlertView {
    /// The view of `alert`, times in `tz`.
    pub fn of(alert: &Alert, tz: Tz) -> Self {
        Self {
            id: alert.id.to_string(),
            text: super::fleet::alert_text(alert),
            taken: acknowledgement_text(alert, tz),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_is_one_bounded_line_without_control_characters() {
        assert_eq!(note("  technician\r\nbooked \u{7}for Monday  "), "technician booked for Monday");
        assert_eq!(note(&"x".repeat(2_000)).chars().count(), Acknowledgement::MAX_NOTE_CHARS);
        assert_eq!(note(""), "");
    }
}
