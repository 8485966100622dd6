//! The operator console: every provider of the installation (names and settings only, never
//! their data) and a form that creates a provider with its namespace and first panel user.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use heliograph_shared::store::StoreError;
use heliograph_shared::{MIN_PASSWORD_CHARS, Provider, ProviderSlug, User, Username};
use serde::Deserialize;

use super::form::{self, FieldErrors};
use crate::auth::operator::OperatorSession;
use crate::error::AppError;
use crate::state::AppState;

/// One provider row.
struct ProviderRow {
    slug: String,
    name: String,
    timezone: String,
    ingest_port: String,
    users: usize,
}

#[derive(Template)]
#[template(path = "operator.html")]
struct ConsolePage {
    operator: String,
    csrf: String,
    providers: Vec<ProviderRow>,
    created: Option<String>,
    error: Option<String>,
    form: NewProvider,
    errors: FieldErrors,
    timezones: Vec<&'static str>,
}

/// `?created=` after a provider was made.
#[derive(Deserialize)]
pub struct ConsoleQuery {
    created: Option<String>,
}

/// The new-provider form.
#[derive(Deserialize, Default)]
pub struct NewProvider {
    slug: String,
    name: String,
    #[serde(default)]
    timezone: String,
    #[serde(default)]
    ingest_port: String,
    username: String,
    #[serde(default)]
    user_display_name: String,
    #[serde(default)]
    password: String,
}

/// `GET /operator`.
pub async fn console(
    State(state): State<AppState>,
    session: OperatorSession,
    Query(query): Query<ConsoleQuery>,
) -> Result<Response, AppError> {
    let created = query.created.filter(|slug| ProviderSlug::parse(slug).is_ok());
    let form = NewProvider { timezone: "Europe/Berlin".into(), ..NewProvider::default() };
    render(&state, &session, StatusCode::OK, created, None, form).await
}

/// `POST /operator/providers`: creates the provider (its keyspace or database) and its first user.
pub async fn create_provider(
    State(state): State<AppState>,
    session: OperatorSession,
    Form(mut form): Form<NewProvider>,
) -> Result<Response, AppError> {
    let checked = match check(&form) {
        Ok(checked) => checked,
        Err(errors) => {
            form.password.clear();
            let page = page(&state, &session, None, None, form).await?;
            return respond(StatusCode::BAD_REQUEST, ConsolePage { errors, ..page });
        }
    };
    let (provider, username) = checked;
    let slug = provider.slug.clone();
    let Some(slot) = state.passwords.try_slot() else {
        let message = "The server is busy checking passwords; try again in a moment.".to_owned();
        form.password.clear();
        return render(&state, &session, StatusCode::SERVICE_UNAVAILABLE, None, Some(message), form).await;
    };
    let digest = slot.hash(std::mem::take(&mut form.password)).await?;
    match state.store.create_provider(&provider).await {
        Ok(()) => {}
        Err(StoreError::ProviderExists(_)) => {
            let mut errors = FieldErrors::new();
            errors.add("slug", format!("A provider {slug} exists already; choose another id."));
            let page = page(&state, &session, None, None, form).await?;
            return respond(StatusCode::CONFLICT, ConsolePage { errors, ..page });
        }
        Err(e) => return Err(e.into()),
    }
    let display_name = if form.user_display_name.trim().is_empty() {
        username.to_string()
    } else {
        form.user_display_name.trim().to_owned()
    };
    let tenant = state.store.tenant(&slug).await?;
    tenant.upsert_user(&User::new(username.clone(), display_name, digest)).await?;
    tracing::info!(operator = %session.username, provider = %slug, user = %username, "provider created");
    Ok(Redirect::to(&format!("/operator?created={slug}")).into_response())
}

/// The provider and first user the form describes, or what to correct, by field.
fn check(form: &NewProvider) -> Result<(Provider, Username), FieldErrors> {
    let mut errors = FieldErrors::new();
    let slug =
        errors.take("slug", ProviderSlug::parse(form.slug.trim()).map_err(|e| format!("Provider id: {e}")));
    let name = errors.take("name", form::text(&form.name, 120));
    let timezone = errors.take("timezone", form::timezone(&form.timezone));
    let ingest_port = errors.take(
        "ingest_port",
        match form.ingest_port.trim() {
            "" => Ok(None),
            text => text
                .parse::<u16>()
                .ok()
                .filter(|port| *port >= 1024)
                .map(Some)
                .ok_or_else(|| format!("{text:?} is not a port from 1024 to 65535.")),
        },
    );
    let username = errors.take("username", Username::parse(form.username.trim()).map_err(|e| e.to_string()));
    if form.password.chars().count() < MIN_PASSWORD_CHARS {
        errors.add("password", format!("At least {MIN_PASSWORD_CHARS} characters."));
    }
    match (slug, name, timezone, ingest_port, username) {
        (Some(slug), Some(name), Some(timezone), Some(ingest_port), Some(username)) if errors.is_empty() => {
            let mut provider = Provider::new(slug, name);
            provider.timezone = timezone;
            provider.ingest_port = ingest_port;
            Ok((provider, username))
        }
        _ => Err(errors),
    }
}

fn respond(status: StatusCode, page: ConsolePage) -> Result<Response, AppError> {
    Ok((status, Html(page.render()?)).into_response())
}

async fn render(
    state: &AppState,
    session: &OperatorSession,
    status: StatusCode,
    created: Option<String>,
    error: Option<String>,
    form: NewProvider,
) -> Result<Response, AppError> {
    respond(status, page(state, session, created, error, form).await?)
}

/// The console with the form holding `form`.
async fn page(
    state: &AppState,
    session: &OperatorSession,
    created: Option<String>,
    error: Option<String>,
    form: NewProvider,
) -> Result<ConsolePage, AppError> {
    let mut providers = Vec::new();
    for provider in state.store.providers().await? {
        let users = state.store.tenant(&provider.slug).await?.users().await?.len();
        providers.push(ProviderRow {
            slug: provider.slug.to_string(),
            name: provider.display_name.clone(),
            timezone: provider.timezone.name().to_owned(),
            ingest_port: provider.ingest_port.map_or_else(|| "shared".to_owned(), |p| p.to_string()),
            users,
        });
    }
    Ok(ConsolePage {
        operator: session.username.to_string(),
        csrf: session.csrf.clone(),
        providers,
        created,
        error,
        form,
        errors: FieldErrors::new(),
        timezones: form::timezone_names(),
    })
}
