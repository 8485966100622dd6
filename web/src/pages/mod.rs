//! The panel's pages, one module per area. Every page is an askama template extending
//! `base.html`, which takes its header from a [`Layout`].

pub mod alerts;
pub mod confirm;
pub mod customers;
pub mod fleet;
pub mod form;
pub mod gateways;
pub mod operator;
pub mod quarantine;
pub mod readings;
pub mod settings;
pub mod site;
pub mod site_alerting;
pub mod unsubscribe;

use askama::Template;
use axum::response::Html;
use heliograph_shared::{Customer, CustomerId, Gateway, GatewayId};
use serde::Deserialize;

use crate::auth::Scope;
use crate::auth::session::Session;
use crate::error::AppError;

/// The activate/deactivate form of customers and gateways.
#[derive(Deserialize)]
pub struct ActiveForm {
    active: String,
    #[serde(default)]
    confirmed: Option<String>,
}

impl ActiveForm {
    /// True for "activate".
    pub fn is_active(&self) -> bool {
        self.active == "true"
    }

    /// True once the confirmation page's button was pressed (only deactivating asks).
    pub fn is_confirmed(&self) -> bool {
        confirm::is_confirmed(self.confirmed.as_deref())
    }
}

/// What the page frame shows: brand, user, the active section and the logout form's token.
pub struct Layout {
    /// The provider's brand.
    pub brand: String,
    /// The user's name.
    pub user: String,
    /// The session's CSRF token, for every form on the page.
    pub csrf: String,
    /// "fleet", "customers", "gateways", "quarantine" or "settings".
    pub section: &'static str,
}

impl Layout {
    /// The frame for a page of `section`.
    pub fn new(scope: &Scope, session: &Session, section: &'static str) -> Self {
        Self {
            brand: scope.provider.brand().to_owned(),
            user: session.username.to_string(),
            csrf: session.csrf.clone(),
            section,
        }
    }
}

/// Renders a template into a response body.
pub fn render<T: Template>(page: &T) -> Result<Html<String>, AppError> {
    Ok(Html(page.render()?))
}

/// The caller's gateway with this id; not found for ids that are malformed or another
/// provider's.
pub async fn find_gateway(scope: &Scope, id: &str) -> Result<Gateway, AppError> {
    let id = GatewayId::parse(id).map_err(|_| AppError::NotFound)?;
    scope.tenant.gateway(&id).await?.ok_or(AppError::NotFound)
}

/// The caller's customer with this id; not found otherwise.
pub async fn find_customer(scope: &Scope, id: &str) -> Result<Customer, AppError> {
    let id: CustomerId = id.parse().map_err(|_| AppError::NotFound)?;
    scope.tenant.customer(id).await?.ok_or(AppError::NotFound)
}

/// The customer a gateway is commissioned to, if any (and still there).
pub async fn gateway_customer(scope: &Scope, gateway: &Gateway) -> Result<Option<Customer>, AppError> {
    match gateway.customer {
        Some(id) => Ok(scope.tenant.customer(id).await?),
        None => Ok(None),
    }
}

/// A page showing a secret once (a gateway or API token), with where to go next.
#[derive(Template)]
#[template(path = "secret.html")]
pub struct SecretPage {
    /// Page frame.
    pub layout: Layout,
    /// Heading.
    pub title: String,
    /// What the secret is for and where it goes.
    pub explanation: String,
    /// The secret, shown this once.
    pub secret: String,
    /// Where to go next.
    pub back_href: String,
    /// Link text.
    pub back_label: String,
}

/// The customer named by a form's select (empty: none); must be the caller's. A select offers
/// only the caller's customers, so another id is someone trying ids: not found, like any other.
pub async fn customer_choice(scope: &Scope, value: &str) -> Result<Option<CustomerId>, AppError> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    Ok(Some(find_customer(scope, value.trim()).await?.id))
}

/// An option of a customer select.
pub struct CustomerOption {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Pre-selected.
    pub selected: bool,
}

/// The caller's customers as select options, `selected` pre-selected.
pub async fn customer_options(
    scope: &Scope,
    selected: Option<CustomerId>,
) -> Result<Vec<CustomerOption>, AppError> {
    let mut customers = scope.tenant.customers().await?;
    customers.sort_by_key(|c| c.name.to_lowercase());
    Ok(customers
        .into_iter()
        .map(|c| CustomerOption { id: c.id.to_string(), name: c.name, selected: Some(c.id) == selected })
        .collect())
}

/// `?done=…`, set by the redirect after a change so that the page says which change was made.
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    #[serde(default)]
    done: Option<String>,
}

impl Done {
    /// The change just made: "saved", "created", "deactivated", "reactivated", "revoked", …
    pub fn what(&self) -> &str {
        self.done.as_deref().unwrap_or("")
    }
}
