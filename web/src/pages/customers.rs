//! Customers: list and create, a customer's page (its sites with today's figures, its details
//! to edit), deactivate and reactivate.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::response::{Html, Redirect};
use chrono::{TimeDelta, Utc};
use heliograph_shared::reports;
use heliograph_shared::{Customer, CustomerId, EmailAddress};
use serde::Deserialize;

use super::fleet::status_text;
use super::{ActiveForm, Layout, Saved, find_customer, render, text_field, timezone_field};
use crate::auth::Scope;
use crate::auth::session::Session;
use crate::error::AppError;
use crate::format;

struct CustomerRow {
    id: String,
    name: String,
    emails: String,
    timezone: String,
    sites: usize,
    active: bool,
}

#[derive(Template)]
#[template(path = "customers.html")]
struct CustomersPage {
    layout: Layout,
    customers: Vec<CustomerRow>,
    default_timezone: String,
}

/// `GET /customers`.
pub async fn list(session: Session, scope: Scope) -> Result<Html<String>, AppError> {
    let gateways = scope.tenant.gateways().await?;
    let mut customers = scope.tenant.customers().await?;
    customers.sort_by_key(|c| c.name.to_lowercase());
    let rows = customers
        .into_iter()
        .map(|c| CustomerRow {
            sites: gateways.iter().filter(|g| g.customer == Some(c.id)).count(),
            id: c.id.to_string(),
            emails: c.emails.iter().map(EmailAddress::as_str).collect::<Vec<_>>().join(", "),
            timezone: c.timezone.name().to_owned(),
            name: c.name,
            active: c.active,
        })
        .collect();
    render(&CustomersPage {
        layout: Layout::new(&scope, &session, "customers"),
        customers: rows,
        default_timezone: scope.provider.timezone.name().to_owned(),
    })
}

/// The create and edit forms' fields.
#[derive(Deserialize)]
pub struct CustomerForm {
    name: String,
    #[serde(default)]
    emails: String,
    #[serde(default)]
    timezone: String,
}

/// Email addresses separated by commas, semicolons, spaces or new lines.
fn emails_field(text: &str) -> Result<Vec<EmailAddress>, AppError> {
    let emails: Vec<EmailAddress> = text
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| EmailAddress::parse(s).map_err(AppError::BadRequest))
        .collect::<Result<_, _>>()?;
    if emails.len() > 20 {
        return Err(AppError::BadRequest("at most 20 email addresses".into()));
    }
    Ok(emails)
}

impl CustomerForm {
    fn apply(&self, customer: &mut Customer, scope: &Scope) -> Result<(), AppError> {
        customer.name = text_field(&self.name, "the name", 120)?;
        customer.emails = emails_field(&self.emails)?;
        customer.timezone = if self.timezone.trim().is_empty() {
            scope.provider.timezone
        } else {
            timezone_field(&self.timezone)?
        };
        Ok(())
    }
}

/// `POST /customers`.
pub async fn create(scope: Scope, Form(form): Form<CustomerForm>) -> Result<Redirect, AppError> {
    let mut customer = Customer {
        id: CustomerId::new_random(),
        name: String::new(),
        emails: Vec::new(),
        timezone: scope.provider.timezone,
        active: true,
    };
    form.apply(&mut customer, &scope)?;
    scope.tenant.upsert_customer(&customer).await?;
    Ok(Redirect::to(&format!("/customers/{}", customer.id)))
}

struct SiteRow {
    id: String,
    site_name: String,
    capacity: String,
    today: String,
    power: String,
    status: &'static str,
    status_text: String,
}

#[derive(Template)]
#[template(path = "customer.html")]
struct CustomerPage {
    layout: Layout,
    id: String,
    name: String,
    emails: String,
    timezone: String,
    active: bool,
    sites: Vec<SiteRow>,
    saved: bool,
}

/// `GET /customers/{id}`.
pub async fn show(
    session: Session,
    scope: Scope,
    Path(id): Path<String>,
    Query(saved): Query<Saved>,
) -> Result<Html<String>, AppError> {
    let customer = find_customer(&scope, &id).await?;
    let now = Utc::now();
    let offline_after = TimeDelta::minutes(i64::from(scope.provider.preferences.offline_after_minutes));
    let mut sites = Vec::new();
    for gateway in scope.tenant.gateways().await?.into_iter().filter(|g| g.customer == Some(customer.id)) {
        let devices = scope.tenant.devices(&gateway.id).await?;
        let snapshot = reports::site_snapshot(
            scope.tenant.as_ref(),
            &gateway,
            &devices,
            customer.timezone,
            &[],
            now,
            offline_after,
        )
        .await?;
        sites.push(SiteRow {
            id: gateway.id.to_string(),
            site_name: gateway.site_name.clone(),
            capacity: format::capacity(gateway.capacity_kwp),
            today: format::energy(snapshot.today.total.production_wh),
            power: format::power_or_dash(snapshot.current_power),
            status: snapshot.status.word(),
            status_text: status_text(&snapshot.status, customer.timezone, now),
        });
    }
    render(&CustomerPage {
        layout: Layout::new(&scope, &session, "customers"),
        id: customer.id.to_string(),
        emails: customer.emails.iter().map(EmailAddress::as_str).collect::<Vec<_>>().join(", "),
        timezone: customer.timezone.name().to_owned(),
        name: customer.name,
        active: customer.active,
        sites,
        saved: saved.is_saved(),
    })
}

/// `POST /customers/{id}`.
pub async fn update(
    scope: Scope,
    Path(id): Path<String>,
    Form(form): Form<CustomerForm>,
) -> Result<Redirect, AppError> {
    let mut customer = find_customer(&scope, &id).await?;
    form.apply(&mut customer, &scope)?;
    scope.tenant.upsert_customer(&customer).await?;
    Ok(Redirect::to(&format!("/customers/{}?saved=1", customer.id)))
}

/// `POST /customers/{id}/active`: a deactivated customer keeps its data and gets no mail.
pub async fn set_active(
    scope: Scope,
    Path(id): Path<String>,
    Form(form): Form<ActiveForm>,
) -> Result<Redirect, AppError> {
    let mut customer = find_customer(&scope, &id).await?;
    customer.active = form.is_active();
    scope.tenant.upsert_customer(&customer).await?;
    Ok(Redirect::to(&format!("/customers/{}?saved=1", customer.id)))
}
