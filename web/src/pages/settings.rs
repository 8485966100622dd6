//! The provider's own settings (branding, report schedule, timezone, alert thresholds,
//! retention), and its API tokens: issue one (shown once) or revoke one.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{Html, Redirect};
use chrono::Utc;
use heliograph_shared::{ApiToken, ReportSchedule, TokenHash};
use serde::Deserialize;

use super::{Layout, Saved, SecretPage, render, text_field, timezone_field};
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
    branding_name: String,
    schedules: Vec<ScheduleOption>,
    timezone: String,
    offline_after_minutes: u32,
    underperformance_percent: u8,
    retention_days: u32,
    tokens: Vec<TokenRow>,
    saved: bool,
}

/// `GET /settings`.
pub async fn page(
    session: Session,
    scope: Scope,
    Query(saved): Query<Saved>,
) -> Result<Html<String>, AppError> {
    let provider = &scope.provider;
    let preferences = &provider.preferences;
    let tokens = scope.tenant.api_tokens().await?;
    render(&SettingsPage {
        layout: Layout::new(&scope, &session, "settings"),
        display_name: provider.display_name.clone(),
        branding_name: preferences.branding_name.clone(),
        schedules: SCHEDULES
            .iter()
            .map(|(s, value, label)| ScheduleOption {
                value,
                label,
                selected: *s == preferences.report_schedule,
            })
            .collect(),
        timezone: provider.timezone.name().to_owned(),
        offline_after_minutes: preferences.offline_after_minutes,
        underperformance_percent: preferences.underperformance_percent,
        retention_days: provider.retention_days,
        tokens: tokens
            .into_iter()
            .map(|t| TokenRow {
                name: t.name,
                created: format::local_datetime(t.created_at, provider.timezone),
                hash: String::from(t.hash),
            })
            .collect(),
        saved: saved.is_saved(),
    })
}

/// The settings form's fields.
#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    branding_name: String,
    report_schedule: String,
    timezone: String,
    offline_after_minutes: String,
    underperformance_percent: String,
    retention_days: String,
}

/// A whole number from a form, within `range`.
fn number<T>(value: &str, name: &str, range: std::ops::RangeInclusive<T>) -> Result<T, AppError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    value.trim().parse::<T>().ok().filter(|v| range.contains(v)).ok_or_else(|| {
        AppError::BadRequest(format!(
            "{name} must be a whole number from {} to {}",
            range.start(),
            range.end()
        ))
    })
}

/// `POST /settings`.
pub async fn save(
    State(state): State<AppState>,
    scope: Scope,
    Form(form): Form<SettingsForm>,
) -> Result<Redirect, AppError> {
    let mut provider = scope.provider.clone();
    provider.preferences.branding_name = if form.branding_name.trim().is_empty() {
        String::new()
    } else {
        text_field(&form.branding_name, "the branding name", 80)?
    };
    provider.preferences.report_schedule = SCHEDULES
        .iter()
        .find(|(_, value, _)| *value == form.report_schedule)
        .map(|(s, _, _)| *s)
        .ok_or_else(|| AppError::BadRequest("choose a report schedule from the list".into()))?;
    provider.timezone = timezone_field(&form.timezone)?;
    provider.preferences.offline_after_minutes =
        number(&form.offline_after_minutes, "the offline threshold", 5..=10_080)?;
    provider.preferences.underperformance_percent =
        number(&form.underperformance_percent, "the underperformance threshold", 1..=100)?;
    provider.retention_days = number(&form.retention_days, "retention", 0..=36_500)?;
    state.store.update_provider(&provider).await?;
    tracing::info!(provider = %provider.slug, "settings saved");
    Ok(Redirect::to("/settings?saved=1"))
}

/// The issue-token form.
#[derive(Deserialize)]
pub struct IssueForm {
    name: String,
}

/// `POST /settings/api-tokens`: issues a token and shows it once.
pub async fn issue_token(
    session: Session,
    scope: Scope,
    Form(form): Form<IssueForm>,
) -> Result<Html<String>, AppError> {
    let name = text_field(&form.name, "the token's name", 80)?;
    let (token, hash) = api_token::issue(&scope.provider.slug);
    scope.tenant.add_api_token(&ApiToken { hash, name: name.clone(), created_at: Utc::now() }).await?;
    tracing::info!(provider = %scope.provider.slug, name, "API token issued");
    render(&SecretPage {
        layout: Layout::new(&scope, &session, "settings"),
        title: format!("API token “{name}”"),
        explanation: "Send it as `Authorization: Bearer <token>` to /api/v1/…. It is shown only this once; \
                      only its hash is stored."
            .into(),
        secret: token,
        back_href: "/settings".into(),
        back_label: "Back to settings".into(),
    })
}

/// The revoke form.
#[derive(Deserialize)]
pub struct RevokeForm {
    hash: String,
}

/// `POST /settings/api-tokens/revoke`.
pub async fn revoke_token(scope: Scope, Form(form): Form<RevokeForm>) -> Result<Redirect, AppError> {
    let hash = TokenHash::try_from(form.hash).map_err(AppError::BadRequest)?;
    scope.tenant.revoke_api_token(&hash).await?;
    tracing::info!(provider = %scope.provider.slug, "API token revoked");
    Ok(Redirect::to("/settings?saved=1"))
}
