//! Unsubscribe links from customer emails: `GET /unsubscribe/<token>` asks for confirmation,
//! `POST` to the same address unsubscribes (the button on that page, and the one-click POST of
//! RFC 8058 that mail programs send for `List-Unsubscribe-Post`).
//!
//! The signed token is the only authority: it names the provider, the customer and what to
//! stop, and verifying it needs the installation's unsubscribe key (the mailer's). A customer
//! has no account, so there is no session and no CSRF token; a forged or altered link is refused
//! by its signature, and an unsubscribe is harmless to repeat.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Html;
use heliograph_shared::{Unsubscribe, UnsubscribeScope};

use crate::error::AppError;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "unsubscribe.html")]
struct UnsubscribePage {
    brand: String,
    customer: String,
    what: &'static str,
    token: String,
    done: bool,
}

/// `GET /unsubscribe/{token}`: what the link would stop, with a button to confirm.
pub async fn confirm(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Html<String>, AppError> {
    page(&state, &token, false).await
}

/// `POST /unsubscribe/{token}`: records the unsubscribe and says so.
pub async fn unsubscribe(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Html<String>, AppError> {
    let named = verify(&state, &token)?;
    let tenant = state.store.tenant(&named.provider).await?;
    let mut preferences = tenant.mail_preferences(named.customer).await?;
    preferences.unsubscribe(named.scope);
    tenant.set_mail_preferences(named.customer, &preferences).await?;
    tracing::info!(
        provider = %named.provider,
        customer = %named.customer,
        scope = named.scope.as_str(),
        "customer unsubscribed"
    );
    page(&state, &token, true).await
}

fn verify(state: &AppState, token: &str) -> Result<Unsubscribe, AppError> {
    let key = state.unsubscribe.as_ref().ok_or(AppError::NotFound)?;
    key.verify(token).map_err(|e| AppError::BadRequest(e.to_string()))
}

async fn page(state: &AppState, token: &str, done: bool) -> Result<Html<String>, AppError> {
    let named = verify(state, token)?;
    let provider = state.store.provider(&named.provider).await?.ok_or(AppError::NotFound)?;
    let tenant = state.store.tenant(&named.provider).await?;
    let customer = tenant.customer(named.customer).await?.ok_or(AppError::NotFound)?;
    let page = UnsubscribePage {
        brand: provider.brand().to_owned(),
        customer: customer.name,
        what: match named.scope {
            UnsubscribeScope::Summaries => "periodic summaries",
            UnsubscribeScope::Alerts => "alert emails",
        },
        token: token.to_owned(),
        done,
    };
    Ok(Html(page.render()?))
}
