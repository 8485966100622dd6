//! Gateways (sites): create one and see its token once, edit its site, capacity and customer,
//! deactivate it, rotate its token (the previous one keeps working for a grace period). Every
//! destructive action asks first; a form with a wrong field comes back with the message next to
//! it and the input kept.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{TimeDelta, Utc};
use heliograph_shared::store::StoreError;
use heliograph_shared::{CustomerId, Gateway, GatewayId, GatewayToken, SiteLocation};
use serde::Deserialize;

use super::confirm::{self, ConfirmPage};
use super::form::{self, FieldErrors};
use super::site_alerting::{AlertingForm, AlertingSummary};
use super::{
    ActiveForm, CustomerOption, Done, Layout, SecretPage, customer_choice, customer_options, find_gateway,
    render,
};
use crate::auth::Scope;
use crate::auth::session::Session;
use crate::error::AppError;
use crate::format;

/// How long a rotated-out token stays valid.
pub const ROTATION_GRACE: TimeDelta = TimeDelta::hours(24);

/// A gateway to create, checked.
pub struct NewGateway {
    id: GatewayId,
    customer: Option<CustomerId>,
    site_name: String,
    capacity_kwp: f64,
    location: Option<SiteLocation>,
}

impl NewGateway {
    /// Checks a form's fields (the customer must be the caller's), or says what to correct.
    pub async fn from_form(scope: &Scope, form: &GatewayForm) -> Result<Result<Self, FieldErrors>, AppError> {
        let mut errors = FieldErrors::new();
        let id = errors.take("id", GatewayId::parse(form.id.trim()).map_err(|e| e.to_string()));
        let customer = customer_choice(scope, &form.customer).await?;
        let site_name = errors.take("site_name", form::text(&form.site_name, 120));
        let capacity_kwp = errors.take("capacity_kwp", form::capacity(&form.capacity_kwp));
        let typed = form.location.as_deref().unwrap_or_default();
        let location = errors.take("location", SiteLocation::parse(typed).map_err(|e| e.to_string()));
        Ok(match (id, site_name, capacity_kwp, location) {
            (Some(id), Some(site_name), Some(capacity_kwp), Some(location)) => {
                Ok(Self { id, customer, site_name, capacity_kwp, location })
            }
            _ => Err(errors),
        })
    }
}

/// Creates the gateway a form describes, with a fresh token: the panel's form and the
/// quarantine's commissioning both end here. Returns the gateway and the token in clear (shown
/// once), or the fields' errors (a taken id among them).
pub async fn create_from_form(
    scope: &Scope,
    form: &GatewayForm,
) -> Result<Result<(Gateway, String), FieldErrors>, AppError> {
    match NewGateway::from_form(scope, form).await? {
        Ok(new) => create_gateway(scope, new).await,
        Err(errors) => Ok(Err(errors)),
    }
}

/// Creates a gateway with a fresh token; returns it and the token in clear (shown once), or the
/// id field's error when the id is taken.
async fn create_gateway(
    scope: &Scope,
    new: NewGateway,
) -> Result<Result<(Gateway, String), FieldErrors>, AppError> {
    let token = GatewayToken::generate();
    let mut gateway = Gateway::new(new.id, new.customer, new.site_name, new.capacity_kwp, token.hash());
    gateway.location = new.location;
    match scope.tenant.create_gateway(&gateway).await {
        Ok(()) => {}
        Err(StoreError::GatewayExists(id)) => {
            let mut errors = FieldErrors::new();
            errors.add("id", format!("Gateway {id} already exists: find it under Gateways."));
            return Ok(Err(errors));
        }
        Err(StoreError::GatewayTaken(id)) => {
            let mut errors = FieldErrors::new();
            errors.add(
                "id",
                format!(
                    "Gateway id {id} is registered by another provider; gateway ids are unique across the installation."
                ),
            );
            return Ok(Err(errors));
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(provider = %scope.provider.slug, gateway = %gateway.id, "gateway created");
    Ok(Ok((gateway, token.reveal().to_owned())))
}

struct GatewayRow {
    id: String,
    site_name: String,
    customer: String,
    /// Empty for a gateway without a customer.
    customer_id: String,
    capacity: String,
    active: bool,
    last_seen: String,
}

#[derive(Template)]
#[template(path = "gateways.html")]
struct GatewaysPage {
    layout: Layout,
    gateways: Vec<GatewayRow>,
    customers: Vec<CustomerOption>,
    form: GatewayForm,
    errors: FieldErrors,
}

/// `GET /gateways`.
pub async fn list(session: Session, scope: Scope) -> Result<Html<String>, AppError> {
    let form = GatewayForm { capacity_kwp: "10".into(), ..GatewayForm::default() };
    render(&list_page(&session, &scope, form, FieldErrors::new()).await?)
}

/// The gateways list with the new-gateway form holding `form` and its `errors`.
async fn list_page(
    session: &Session,
    scope: &Scope,
    form: GatewayForm,
    errors: FieldErrors,
) -> Result<GatewaysPage, AppError> {
    let now = Utc::now();
    let customers = scope.tenant.customers().await?;
    let mut gateways = scope.tenant.gateways().await?;
    gateways.sort_by_key(|g| g.site_name.to_lowercase());
    let rows = gateways
        .into_iter()
        .map(|g| {
            let customer = g.customer.and_then(|id| customers.iter().find(|c| c.id == id));
            GatewayRow {
                customer: customer.map(|c| c.name.clone()).unwrap_or_default(),
                customer_id: customer.map(|c| c.id.to_string()).unwrap_or_default(),
                id: g.id.to_string(),
                site_name: g.site_name,
                capacity: format::capacity(g.capacity_kwp),
                active: g.active,
                last_seen: g.last_seen.map(|t| format::ago(t, now)).unwrap_or_else(|| "never".into()),
            }
        })
        .collect();
    Ok(GatewaysPage {
        layout: Layout::new(scope, session, "gateways"),
        gateways: rows,
        customers: customer_options(scope, chosen(&form.customer)).await?,
        form,
        errors,
    })
}

/// The customer a form's select had chosen, to keep it chosen when the form comes back.
pub fn chosen(value: &str) -> Option<CustomerId> {
    value.trim().parse().ok()
}

/// The create and edit forms' fields, as typed (the quarantine's commissioning form too).
#[derive(Debug, Default, Deserialize)]
pub struct GatewayForm {
    /// Gateway id (create only).
    #[serde(default, alias = "gateway")]
    pub id: String,
    /// Customer id, empty for none.
    #[serde(default)]
    pub customer: String,
    /// Site name.
    #[serde(default)]
    pub site_name: String,
    /// Capacity as typed.
    #[serde(default)]
    pub capacity_kwp: String,
    /// The site's location as typed ("latitude, longitude"), empty for none; absent (a form
    /// from before the field, a script) leaves the stored one as it is.
    #[serde(default)]
    pub location: Option<String>,
}

impl GatewayForm {
    /// The form showing `gateway` as stored.
    fn of(gateway: &Gateway) -> Self {
        Self {
            id: gateway.id.to_string(),
            customer: gateway.customer.map(|c| c.to_string()).unwrap_or_default(),
            site_name: gateway.site_name.clone(),
            capacity_kwp: format!("{}", gateway.capacity_kwp),
            location: Some(gateway.location.map(|l| l.to_string()).unwrap_or_default()),
        }
    }
}

/// `POST /gateways`: creates a gateway and shows its token once.
pub async fn create(
    session: Session,
    scope: Scope,
    Form(form): Form<GatewayForm>,
) -> Result<Response, AppError> {
    let (gateway, token) = match create_from_form(&scope, &form).await? {
        Ok(created) => created,
        Err(errors) => return form::invalid(&list_page(&session, &scope, form, errors).await?),
    };
    Ok(render(&SecretPage {
        layout: Layout::new(&scope, &session, "gateways"),
        title: format!("Gateway {} created", gateway.id),
        explanation: "Enter this token in the gateway's configuration. It is shown only this once; only its hash is stored."
            .into(),
        secret: token,
        back_href: format!("/gateways/{}", gateway.id),
        back_label: "Go to the gateway".into(),
    })?
    .into_response())
}

#[derive(Template)]
#[template(path = "gateway.html")]
struct GatewayPage {
    layout: Layout,
    id: String,
    site_name: String,
    active: bool,
    last_seen: String,
    previous_token: String,
    customers: Vec<CustomerOption>,
    feedback: String,
    form: GatewayForm,
    errors: FieldErrors,
    alerting: AlertingForm,
    alerting_errors: FieldErrors,
    alerting_summary: AlertingSummary,
}

/// `GET /gateways/{id}`.
pub async fn show(
    session: Session,
    scope: Scope,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Html<String>, AppError> {
    let gateway = find_gateway(&scope, &id).await?;
    let feedback = match done.what() {
        "saved" => format!("Gateway {} saved.", gateway.id),
        "deactivated" => format!(
            "Gateway {} deactivated: its connections are refused from now on; its data stays.",
            gateway.id
        ),
        "reactivated" => format!("Gateway {} reactivated: its next connection is accepted.", gateway.id),
        "alerting" => format!("Alert settings of gateway {} saved.", gateway.id),
        _ => String::new(),
    };
    let form = GatewayForm::of(&gateway);
    render(&gateway_page(&session, &scope, gateway, form, FieldErrors::new(), feedback).await?)
}

/// A gateway's page, its site form holding `form` and its `errors`.
async fn gateway_page(
    session: &Session,
    scope: &Scope,
    gateway: Gateway,
    form: GatewayForm,
    errors: FieldErrors,
    feedback: String,
) -> Result<GatewayPage, AppError> {
    let now = Utc::now();
    let tz = scope.provider.timezone;
    Ok(GatewayPage {
        layout: Layout::new(scope, session, "gateways"),
        id: gateway.id.to_string(),
        site_name: gateway.site_name.clone(),
        active: gateway.active,
        last_seen: gateway
            .last_seen
            .map(|t| format!("{} ({})", format::local_datetime(t, tz), format::ago(t, now)))
            .unwrap_or_else(|| "never".into()),
        previous_token: match gateway.previous_token {
            Some((_, until)) if until > now => {
                format!("The previous token is accepted until {}.", format::local_datetime(until, tz))
            }
            _ => String::new(),
        },
        customers: customer_options(scope, chosen(&form.customer)).await?,
        feedback,
        form,
        errors,
        alerting: AlertingForm::of(&gateway.alerting, tz, now),
        alerting_errors: FieldErrors::new(),
        alerting_summary: AlertingSummary::of(&gateway, &scope.provider.preferences, tz, now),
    })
}

/// `POST /gateways/{id}/alerting`: the site's own thresholds and maintenance window.
pub async fn update_alerting(
    session: Session,
    scope: Scope,
    Path(id): Path<String>,
    Form(form): Form<AlertingForm>,
) -> Result<Response, AppError> {
    let mut gateway = find_gateway(&scope, &id).await?;
    match form.read(scope.provider.timezone, Utc::now()) {
        Ok(alerting) => {
            gateway.alerting = alerting;
            scope.tenant.set_alerting(&gateway.id, &gateway.alerting).await?;
            tracing::info!(
                provider = %scope.provider.slug,
                gateway = %gateway.id,
                user = %session.username,
                muted_until = ?gateway.alerting.maintenance_until,
                "site alert settings saved"
            );
            Ok(Redirect::to(&format!("/gateways/{}?done=alerting", gateway.id)).into_response())
        }
        Err(errors) => {
            let site_form = GatewayForm::of(&gateway);
            let mut page =
                gateway_page(&session, &scope, gateway, site_form, FieldErrors::new(), String::new()).await?;
            page.alerting = form;
            page.alerting_errors = errors;
            form::invalid(&page)
        }
    }
}

/// `POST /gateways/{id}`: saves site name, capacity, location and customer.
pub async fn update(
    session: Session,
    scope: Scope,
    Path(id): Path<String>,
    Form(form): Form<GatewayForm>,
) -> Result<Response, AppError> {
    let mut gateway = find_gateway(&scope, &id).await?;
    let mut errors = FieldErrors::new();
    let site_name = errors.take("site_name", form::text(&form.site_name, 120));
    let capacity_kwp = errors.take("capacity_kwp", form::capacity(&form.capacity_kwp));
    let location = match &form.location {
        Some(typed) => errors.take("location", SiteLocation::parse(typed).map_err(|e| e.to_string())),
        None => Some(gateway.location),
    };
    let customer = customer_choice(&scope, &form.customer).await?;
    let (Some(site_name), Some(capacity_kwp), Some(location)) = (site_name, capacity_kwp, location) else {
        return form::invalid(&gateway_page(&session, &scope, gateway, form, errors, String::new()).await?);
    };
    gateway.site_name = site_name;
    gateway.capacity_kwp = capacity_kwp;
    gateway.customer = customer;
    gateway.location = location;
    scope.tenant.update_gateway(&gateway).await?;
    Ok(Redirect::to(&format!("/gateways/{}?done=saved", gateway.id)).into_response())
}

/// `POST /gateways/{id}/active`: a deactivated gateway is refused at its next connection.
/// Deactivating asks first.
pub async fn set_active(
    session: Session,
    scope: Scope,
    Path(id): Path<String>,
    Form(form): Form<ActiveForm>,
) -> Result<Response, AppError> {
    let mut gateway = find_gateway(&scope, &id).await?;
    if !form.is_active() && !form.is_confirmed() {
        return ConfirmPage {
            layout: Layout::new(&scope, &session, "gateways"),
            title: format!("Deactivate gateway {}?", gateway.id),
            consequence: format!(
                "Gateway {} ({}) will stop being accepted: its connections are refused and nothing it \
                 sends is stored until you reactivate it. Its data stays.",
                gateway.id, gateway.site_name
            ),
            action: format!("/gateways/{}/active", gateway.id),
            fields: vec![("active", "false".into())],
            button: format!("Deactivate {}", gateway.id),
            cancel_href: format!("/gateways/{}", gateway.id),
        }
        .respond();
    }
    gateway.active = form.is_active();
    scope.tenant.update_gateway(&gateway).await?;
    tracing::info!(provider = %scope.provider.slug, gateway = %gateway.id, active = gateway.active, "gateway state changed");
    let done = if gateway.active { "reactivated" } else { "deactivated" };
    Ok(Redirect::to(&format!("/gateways/{}?done={done}", gateway.id)).into_response())
}

/// The rotation form: `revoke=true` refuses the previous token at once.
#[derive(Debug, Deserialize)]
pub struct RotateForm {
    #[serde(default)]
    revoke: Option<String>,
    #[serde(default)]
    confirmed: Option<String>,
}

/// `POST /gateways/{id}/rotate-token`: a new token, shown once; the previous one stays valid for
/// [`ROTATION_GRACE`] so the gateway can be reconfigured without losing data, or, when revoked
/// (a stolen token), is refused at once, also on connections already open.
pub async fn rotate_token(
    session: Session,
    scope: Scope,
    Path(id): Path<String>,
    Form(form): Form<RotateForm>,
) -> Result<Response, AppError> {
    let mut gateway = find_gateway(&scope, &id).await?;
    let revoke = form.revoke.as_deref() == Some("true");
    if !confirm::is_confirmed(form.confirmed.as_deref()) {
        let (title, consequence, button) = if revoke {
            (
                format!("Rotate and revoke the token of {}?", gateway.id),
                format!(
                    "A new token for {} is shown once. The current token is refused at once and open \
                     connections that use it are closed: the gateway sends nothing until it has the new token.",
                    gateway.id
                ),
                "Rotate and revoke now",
            )
        } else {
            (
                format!("Rotate the token of {}?", gateway.id),
                format!(
                    "A new token for {} is shown once. The current token keeps working for 24 hours; after \
                     that the gateway is refused until it has the new token.",
                    gateway.id
                ),
                "Rotate token",
            )
        };
        let mut fields = Vec::new();
        if revoke {
            fields.push(("revoke", "true".to_owned()));
        }
        return ConfirmPage {
            layout: Layout::new(&scope, &session, "gateways"),
            title,
            consequence,
            action: format!("/gateways/{}/rotate-token", gateway.id),
            fields,
            button: button.into(),
            cancel_href: format!("/gateways/{}", gateway.id),
        }
        .respond();
    }
    let token = GatewayToken::generate();
    gateway.rotate_token(&token, (!revoke).then_some(ROTATION_GRACE), Utc::now());
    scope.tenant.update_gateway(&gateway).await?;
    tracing::info!(provider = %scope.provider.slug, gateway = %gateway.id, revoke, "gateway token rotated");
    let explanation = if revoke {
        "Enter this token in the gateway's configuration. The previous token is refused from now on, \
         and connections that used it are closed within a minute. The new one is shown only this once."
    } else {
        "Enter this token in the gateway's configuration. The previous token keeps working for 24 hours. \
         The new one is shown only this once."
    };
    Ok(render(&SecretPage {
        layout: Layout::new(&scope, &session, "gateways"),
        title: format!("New token for {} — shown once", gateway.id),
        explanation: explanation.into(),
        secret: token.reveal().to_owned(),
        back_href: format!("/gateways/{}", gateway.id),
        back_label: "Back to the gateway".into(),
    })?
    .into_response())
}
