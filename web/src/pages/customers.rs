//! Customers: list and create, a customer's page (its sites with today's figures, its details
//! to edit), deactivate (after a confirmation) and reactivate. A form with a wrong field comes
//! back with the message next to it and the input kept.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{TimeDelta, Utc};
use heliograph_shared::reports;
use heliograph_shared::{Customer, CustomerId, EmailAddress};
use serde::Deserialize;

use super::confirm::ConfirmPage;
use super::fleet::status_text;
use super::form::{self, FieldErrors};
use super::{ActiveForm, Done, Layout, find_customer, render};
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

/// A sortable column header of the customers list.
struct Header {
    label: &'static str,
    href: String,
    arrow: &'static str,
    numeric: bool,
}

#[derive(Template)]
#[template(path = "customers.html")]
struct CustomersPage {
    layout: Layout,
    q: String,
    sort: &'static str,
    order: &'static str,
    headers: Vec<Header>,
    customers: Vec<CustomerRow>,
    of_all: usize,
    form: CustomerForm,
    errors: FieldErrors,
    timezones: Vec<&'static str>,
}

/// `?q=…&sort=name|email|timezone|sites|state&order=asc|desc`.
#[derive(Debug, Default, Deserialize)]
pub struct CustomersQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    order: String,
}

/// The customers list's columns: query word, label, numeric.
const COLUMNS: [(&str, &str, bool); 5] = [
    ("name", "Name", false),
    ("email", "Email", false),
    ("timezone", "Timezone", false),
    ("sites", "Sites", true),
    ("state", "State", false),
];

/// `GET /customers`: searchable by name, email or timezone, sortable by any column.
pub async fn list(
    session: Session,
    scope: Scope,
    Query(query): Query<CustomersQuery>,
) -> Result<Html<String>, AppError> {
    let form =
        CustomerForm { timezone: scope.provider.timezone.name().to_owned(), ..CustomerForm::default() };
    render(&list_page(&session, &scope, &query, form, FieldErrors::new()).await?)
}

/// The customers list (as `query` searches and sorts it) with the new-customer form holding
/// `form` and its `errors`.
async fn list_page(
    session: &Session,
    scope: &Scope,
    query: &CustomersQuery,
    form: CustomerForm,
    errors: FieldErrors,
) -> Result<CustomersPage, AppError> {
    let gateways = scope.tenant.gateways().await?;
    let customers = scope.tenant.customers().await?;
    let of_all = customers.len();
    let needle = query.q.trim().to_lowercase();
    let mut rows: Vec<CustomerRow> = customers
        .into_iter()
        .map(|c| CustomerRow {
            sites: gateways.iter().filter(|g| g.customer == Some(c.id)).count(),
            id: c.id.to_string(),
            emails: c.emails.iter().map(EmailAddress::as_str).collect::<Vec<_>>().join(", "),
            timezone: c.timezone.name().to_owned(),
            name: c.name,
            active: c.active,
        })
        .filter(|r| {
            needle.is_empty()
                || [&r.name, &r.emails, &r.timezone]
                    .iter()
                    .any(|field| field.to_lowercase().contains(&needle))
        })
        .collect();
    let sort = COLUMNS.iter().map(|(word, _, _)| *word).find(|w| *w == query.sort).unwrap_or("name");
    // Site counts read largest first by default, text alphabetically.
    let descending = match query.order.as_str() {
        "asc" => false,
        "desc" => true,
        _ => sort == "sites",
    };
    rows.sort_by(|a, b| {
        let by_name = a.name.to_lowercase().cmp(&b.name.to_lowercase());
        let primary = match sort {
            "email" => a.emails.to_lowercase().cmp(&b.emails.to_lowercase()),
            "timezone" => a.timezone.cmp(&b.timezone),
            "sites" => a.sites.cmp(&b.sites),
            // Active before deactivated.
            "state" => b.active.cmp(&a.active),
            _ => by_name,
        };
        let primary = if descending { primary.reverse() } else { primary };
        primary.then(by_name)
    });
    let headers = COLUMNS
        .iter()
        .map(|(word, label, numeric)| {
            let current = *word == sort;
            let next_descending = if current { !descending } else { *word == "sites" };
            let params = [
                ("q", needle.as_str()),
                ("sort", word),
                ("order", if next_descending { "desc" } else { "asc" }),
            ];
            Header {
                label,
                href: format!("/customers?{}", serde_urlencoded::to_string(params).unwrap_or_default()),
                arrow: match (current, descending) {
                    (false, _) => "",
                    (true, true) => " ↓",
                    (true, false) => " ↑",
                },
                numeric: *numeric,
            }
        })
        .collect();
    Ok(CustomersPage {
        layout: Layout::new(scope, session, "customers"),
        q: query.q.trim().chars().take(100).collect(),
        sort,
        order: if descending { "desc" } else { "asc" },
        headers,
        of_all,
        customers: rows,
        form,
        errors,
        timezones: form::timezone_names(),
    })
}

/// The create and edit forms' fields, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct CustomerForm {
    name: String,
    #[serde(default)]
    emails: String,
    #[serde(default)]
    timezone: String,
}

/// Email addresses separated by commas, semicolons, spaces or new lines.
fn emails_field(text: &str) -> Result<Vec<EmailAddress>, String> {
    let emails: Vec<EmailAddress> = text
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(EmailAddress::parse)
        .collect::<Result<_, _>>()?;
    if emails.len() > 20 {
        return Err("Give at most 20 email addresses.".into());
    }
    Ok(emails)
}

impl CustomerForm {
    fn of(customer: &Customer) -> Self {
        Self {
            name: customer.name.clone(),
            emails: customer.emails.iter().map(EmailAddress::as_str).collect::<Vec<_>>().join(", "),
            timezone: customer.timezone.name().to_owned(),
        }
    }

    /// Puts the fields into `customer`, or says what to correct (and changes nothing).
    fn apply(&self, customer: &mut Customer, scope: &Scope) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        let name = errors.take("name", form::text(&self.name, 120));
        let emails = errors.take("emails", emails_field(&self.emails));
        let timezone = if self.timezone.trim().is_empty() {
            Some(scope.provider.timezone)
        } else {
            errors.take("timezone", form::timezone(&self.timezone))
        };
        match (name, emails, timezone) {
            (Some(name), Some(emails), Some(timezone)) => {
                customer.name = name;
                customer.emails = emails;
                customer.timezone = timezone;
                Ok(())
            }
            _ => Err(errors),
        }
    }
}

/// `POST /customers`.
pub async fn create(
    session: Session,
    scope: Scope,
    Form(form): Form<CustomerForm>,
) -> Result<Response, AppError> {
    let mut customer = Customer {
        id: CustomerId::new_random(),
        name: String::new(),
        emails: Vec::new(),
        timezone: scope.provider.timezone,
        active: true,
    };
    if let Err(errors) = form.apply(&mut customer, &scope) {
        return form::invalid(&list_page(&session, &scope, &CustomersQuery::default(), form, errors).await?);
    }
    scope.tenant.upsert_customer(&customer).await?;
    Ok(Redirect::to(&format!("/customers/{}?done=created", customer.id)).into_response())
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
    feedback: String,
    form: CustomerForm,
    errors: FieldErrors,
    timezones: Vec<&'static str>,
}

/// `GET /customers/{id}`.
pub async fn show(
    session: Session,
    scope: Scope,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Html<String>, AppError> {
    let customer = find_customer(&scope, &id).await?;
    let feedback = match done.what() {
        "created" => format!("Customer {} created.", customer.name),
        "saved" => format!("Details of {} saved.", customer.name),
        "deactivated" => format!(
            "Customer {} deactivated: no reports or alerts are sent to them; their sites and data stay.",
            customer.name
        ),
        "reactivated" => {
            format!("Customer {} reactivated: reports and alerts are sent again.", customer.name)
        }
        _ => String::new(),
    };
    let form = CustomerForm::of(&customer);
    render(&customer_page(&session, &scope, customer, form, FieldErrors::new(), feedback).await?)
}

/// A customer's page, its details form holding `form` and its `errors`.
async fn customer_page(
    session: &Session,
    scope: &Scope,
    customer: Customer,
    form: CustomerForm,
    errors: FieldErrors,
    feedback: String,
) -> Result<CustomerPage, AppError> {
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
            today: if snapshot.today.coverage.measured() {
                format::energy(snapshot.today.total.production_wh)
            } else {
                "–".into()
            },
            power: format::power_or_dash(snapshot.current_power),
            status: snapshot.status.word(),
            status_text: status_text(&snapshot.status, customer.timezone, now),
        });
    }
    Ok(CustomerPage {
        layout: Layout::new(scope, session, "customers"),
        id: customer.id.to_string(),
        emails: customer.emails.iter().map(EmailAddress::as_str).collect::<Vec<_>>().join(", "),
        timezone: customer.timezone.name().to_owned(),
        name: customer.name,
        active: customer.active,
        sites,
        feedback,
        form,
        errors,
        timezones: form::timezone_names(),
    })
}

/// `POST /customers/{id}`.
pub async fn update(
    session: Session,
    scope: Scope,
    Path(id): Path<String>,
    Form(form): Form<CustomerForm>,
) -> Result<Response, AppError> {
    let mut customer = find_customer(&scope, &id).await?;
    let stored = customer.clone();
    if let Err(errors) = form.apply(&mut customer, &scope) {
        return form::invalid(&customer_page(&session, &scope, stored, form, errors, String::new()).await?);
    }
    scope.tenant.upsert_customer(&customer).await?;
    Ok(Redirect::to(&format!("/customers/{}?done=saved", customer.id)).into_response())
}

/// `POST /customers/{id}/active`: a deactivated customer keeps its data and gets no mail.
/// Deactivating asks first.
pub async fn set_active(
    session: Session,
    scope: Scope,
    Path(id): Path<String>,
    Form(form): Form<ActiveForm>,
) -> Result<Response, AppError> {
    let mut customer = find_customer(&scope, &id).await?;
    if !form.is_active() && !form.is_confirmed() {
        return ConfirmPage {
            layout: Layout::new(&scope, &session, "customers"),
            title: format!("Deactivate customer {}?", customer.name),
            consequence: format!(
                "{} will get no more reports or alerts. Their sites keep reporting and all data stays; \
                 you can reactivate them at any time.",
                customer.name
            ),
            action: format!("/customers/{}/active", customer.id),
            fields: vec![("active", "false".into())],
            button: format!("Deactivate {}", customer.name),
            cancel_href: format!("/customers/{}", customer.id),
        }
        .respond();
    }
    customer.active = form.is_active();
    scope.tenant.upsert_customer(&customer).await?;
    let done = if customer.active { "reactivated" } else { "deactivated" };
    Ok(Redirect::to(&format!("/customers/{}?done={done}", customer.id)).into_response())
}
