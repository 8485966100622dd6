//! The provider's own settings (branding, report schedule, timezone, alert thresholds,
//! retention), and its API tokens: issue one (shown once) or revoke one (after a confirmation).
//! A form with a wrong field comes back with the message next to it and the input kept.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::Utc;
use heliograph_shared::{
    ApiToken, OFFLINE_AFTER_MINUTES, ReportSchedule, TokenHash, UNDERPERFORMANCE_PERCENT,
};
use serde::Deserialize;

use super::confirm::{self, ConfirmPage};
use super::form::{self, FieldErrors};
use super::{Done, Layout, SecretPage, render};
use crate::auth::Scope;
use crate::auth::api_token;
use crate::auth::session::Session;
use crate::error::AppError;
use crate::format;
use crate::state::AppState;

const SCHEDULES: [(ReportSchedule, &str, &str); 4] = [
    (ReportSchedule::Daily, "daily", "Daily"),
    (ReportSchedule::Weekly, "weekly", "Weekly"),
    (ReportSchedule::Monthly, "monthly", "Monthly"),
    (ReportSchedule::Never, "never", "Never"),
];

struct ScheduleOption {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

struct TokenRow {
    name: String,
    created: String,
    hash: String,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    layout: Layout,
    display_name: String,
    schedules: Vec<ScheduleOption>,
    timezones: Vec<&'static str>,
    tokens: Vec<TokenRow>,
    feedback: String,
    form: SettingsForm,
    errors: FieldErrors,
    token_name: String,
    token_errors: FieldErrors,
}

/// `GET /settings`.
pub async fn page(
    session: Session,
    scope: Scope,
    Query(done): Query<Done>,
) -> Result<Html<String>, AppError> {
    let feedback = match done.what() {
        "saved" => "Settings saved.",
        "revoked" => "API token revoked: requests that use it are refused from now on.",
        _ => "",
    };
    let mut page = settings_page(&session, &scope, current_settings(&scope), FieldErrors::new()).await?;
    page.feedback = feedback.into();
    render(&page)
}

/// The settings form holding what is stored.
fn current_settings(scope: &Scope) -> SettingsForm {
    let provider = &scope.provider;
    let preferences = &provider.preferences;
    SettingsForm {
        branding_name: preferences.branding_name.clone(),
        report_schedule: SCHEDULES
            .iter()
            .find(|(s, _, _)| *s == preferences.report_schedule)
            .map(|(_, value, _)| (*value).to_owned())
            .unwrap_or_default(),
        timezone: provider.timezone.name().to_owned(),
        offline_after_minutes: preferences.offline_after_minutes.to_string(),
        underperformance_percent: preferences.underperformance_percent.to_string(),
        reference_pr_percent: preferences.reference_pr_percent.to_string(),
        retention_days: provider.retention_days.to_string(),
    }
}

/// The settings page with the settings form holding `form` and its `errors`.
async fn settings_page(
    session: &Session,
    scope: &Scope,
    form: SettingsForm,
    errors: FieldErrors,
) -> Result<SettingsPage, AppError> {
    let provider = &scope.provider;
    let tokens = scope.tenant.api_tokens().await?;
    Ok(SettingsPage {
        layout: Layout::new(scope, session, "settings"),
        display_name: provider.display_name.clone(),
        schedules: SCHEDULES
            .iter()
            .map(|(_, value, label)| ScheduleOption {
                value,
                label,
                selected: *value == form.report_schedule,
            })
            .collect(),
        timezones: form::timezone_names(),
        tokens: tokens
            .into_iter()
            .map(|t| TokenRow {
                name: t.name,
                created: format::local_datetime(t.created_at, provider.timezone),
                hash: String::from(t.hash),
            })
            .collect(),
        feedback: String::new(),
        form,
        errors,
        token_name: String::new(),
        token_errors: FieldErrors::new(),
    })
}

/// The settings form's fields, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    branding_name: String,
    #[serde(default)]
    report_schedule: String,
    #[serde(default)]
    timezone: String,
    #[serde(default)]
    offline_after_minutes: String,
    #[serde(default)]
    underperformance_percent: String,
    #[serde(default)]
    reference_pr_percent: String,
    #[serde(default)]
    retention_days: String,
}

/// `POST /settings`.
pub async fn save(
    State(state): State<AppState>,
    session: Session,
    scope: Scope,
    Form(form): Form<SettingsForm>,
) -> Result<Response, AppError> {
    let mut errors = FieldErrors::new();
    let branding_name = if form.branding_name.trim().is_empty() {
        Some(String::new())
    } else {
        errors.take("branding_name", form::text(&form.branding_name, 80))
    };
    let schedule = errors.take(
        "report_schedule",
        SCHEDULES
            .iter()
            .find(|(_, value, _)| *value == form.report_schedule)
            .map(|(s, _, _)| *s)
            .ok_or_else(|| "Choose a report schedule from the list.".to_owned()),
    );
    let timezone = errors.take("timezone", form::timezone(&form.timezone));
    let offline = errors.take(
        "offline_after_minutes",
        form::whole_number(&form.offline_after_minutes, OFFLINE_AFTER_MINUTES),
    );
    let underperformance = errors.take(
        "underperformance_percent",
        form::whole_number(&form.underperformance_percent, UNDERPERFORMANCE_PERCENT),
    );
    let reference_pr =
        errors.take("reference_pr_percent", form::whole_number(&form.reference_pr_percent, 50..=100));
    let retention = errors.take("retention_days", form::whole_number(&form.retention_days, 0..=36_500));
    let (
        Some(branding_name),
        Some(schedule),
        Some(timezone),
        Some(offline),
        Some(underperformance),
        Some(reference_pr),
        Some(retention),
    ) = (branding_name, schedule, timezone, offline, underperformance, reference_pr, retention)
    else {
        return form::invalid(&settings_page(&session, &scope, form, errors).await?);
    };
    let mut provider = scope.provider.clone();
    provider.preferences.branding_name = branding_name;
    provider.preferences.report_schedule = schedule;
    provider.timezone = timezone;
    provider.preferences.offline_after_minutes = offline;
    provider.preferences.underperformance_percent = underperformance;
    provider.preferences.reference_pr_percent = reference_pr;
    provider.retention_days = retention;
    state.store.update_provider(&provider).await?;
    tracing::info!(provider = %provider.slug, "settings saved");
    Ok(Redirect::to("/settings?done=saved").into_response())
}

/// The issue-token form.
#[derive(Deserialize)]
pub struct IssueForm {
    #[serde(default)]
    name: String,
}

/// `POST /settings/api-tokens`: issues a token and shows it once.
pub async fn issue_token(
    session: Session,
    scope: Scope,
    Form(form): Form<IssueForm>,
) -> Result<Response, AppError> {
    let name = match form::text(&form.name, 80) {
        Ok(name) => name,
        Err(message) => {
            let mut page =
                settings_page(&session, &scope, current_settings(&scope), FieldErrors::new()).await?;
            let message = if form.name.trim().is_empty() {
                "Name the token, so that you know later what uses it: e.g. ERP export.".to_owned()
            } else {
                message
            };
            page.token_errors.add("name", message);
            page.token_name = form.name;
            return form::invalid(&page);
        }
    };
    let (token, hash) = api_token::issue(&scope.provider.slug);
    scope.tenant.add_api_token(&ApiToken { hash, name: name.clone(), created_at: Utc::now() }).await?;
    tracing::info!(provider = %scope.provider.slug, name, "API token issued");
    Ok(render(&SecretPage {
        layout: Layout::new(&scope, &session, "settings"),
        title: format!("API token “{name}” — shown once"),
        explanation: "Send it as `Authorization: Bearer <token>` to /api/v1/…. It is shown only this once; \
                      only its hash is stored."
            .into(),
        secret: token,
        back_href: "/settings".into(),
        back_label: "Back to settings".into(),
    })?
    .into_response())
}

/// The revoke form.
#[derive(Deserialize)]
pub struct RevokeForm {
    hash: String,
    #[serde(default)]
    confirmed: Option<String>,
}

/// `POST /settings/api-tokens/revoke`: asks first, naming the token.
pub async fn revoke_token(
    session: Session,
    scope: Scope,
    Form(form): Form<RevokeForm>,
) -> Result<Response, AppError> {
    let hash = TokenHash::try_from(form.hash.clone()).map_err(|_| AppError::NotFound)?;
    let token = scope.tenant.api_token(&hash).await?.ok_or(AppError::NotFound)?;
    if !confirm::is_confirmed(form.confirmed.as_deref()) {
        return ConfirmPage {
            layout: Layout::new(&scope, &session, "settings"),
            title: format!("Revoke the API token “{}”?", token.name),
            consequence: format!(
                "Every request that uses “{}” is refused from now on; whatever uses it stops working \
                 until it gets a new token. This cannot be undone.",
                token.name
            ),
            action: "/settings/api-tokens/revoke".into(),
            fields: vec![("hash", form.hash)],
            button: format!("Revoke “{}”", token.name),
            cancel_href: "/settings".into(),
        }
        .respond();
    }
    scope.tenant.revoke_api_token(&hash).await?;
    tracing::info!(provider = %scope.provider.slug, "API token revoked");
    Ok(Redirect::to("/settings?done=revoked").into_response())
}
