//! Gateways (sites): create one and see its token once, edit its site, capacity and customer,
//! deactivate it, rotate its token (the previous one keeps working for a grace period).

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{TimeDelta, Utc};
use heliograph_shared::store::StoreError;
use heliograph_shared::{CustomerId, Gateway, GatewayId, GatewayToken};
use serde::Deserialize;

use super::{
    ActiveForm, CustomerOption, Layout, Saved, SecretPage, capacity_field, customer_choice, customer_options,
    find_gateway, render, text_field,
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
}

impl NewGateway {
    /// Checks a form's fields; the customer must be the caller's.
    pub async fn from_form(
        scope: &Scope,
        id: &str,
        customer: &str,
        site_name: &str,
        capacity: &str,
    ) -> Result<Self, AppError> {
        Ok(Self {
            id: GatewayId::parse(id.trim()).map_err(|e| AppError::BadRequest(e.to_string()))?,
            customer: customer_choice(scope, customer).await?,
            site_name: text_field(site_name, "the site name", 120)?,
            capacity_kwp: capacity_field(capacity)?,
        })
    }
}

/// Creates a gateway with a fresh token; returns it and the token in clear (shown once).
pub async fn create_gateway(scope: &Scope, new: NewGateway) -> Result<(Gateway, String), AppError> {
    let token = GatewayToken::generate();
    let gateway = Gateway {
        id: new.id,
        customer: new.customer,
        site_name: new.site_name,
        capacity_kwp: new.capacity_kwp,
        token_hash: token.hash(),
        previous_token: None,
        last_seen: None,
        active: true,
    };
    match scope.tenant.create_gateway(&gateway).await {
        Ok(()) => {}
        Err(StoreError::GatewayExists(id)) => {
            return Err(AppError::Conflict(format!("gateway {id} already exists")));
        }
        Err(StoreError::GatewayTaken(id)) => {
            return Err(AppError::Conflict(format!(
                "gateway id {id} is registered by another provider; gateway ids are unique across the installation"
            )));
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(provider = %scope.provider.slug, gateway = %gateway.id, "gateway created");
    Ok((gateway, token.reveal().to_owned()))
}

struct GatewayRow {
    id: String,
    site_name: String,
    customer: String,
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
}

/// `GET /gateways`.
pub async fn list(session: Session, scope: Scope) -> Result<Html<String>, AppError> {
    let now = Utc::now();
    let customers = scope.tenant.customers().await?;
    let mut gateways = scope.tenant.gateways().await?;
    gateways.sort_by_key(|g| g.site_name.to_lowercase());
    let rows = gateways
        .into_iter()
        .map(|g| GatewayRow {
            customer: g
                .customer
                .and_then(|id| customers.iter().find(|c| c.id == id))
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            id: g.id.to_string(),
            site_name: g.site_name,
            capacity: format::capacity(g.capacity_kwp),
            active: g.active,
            last_seen: g.last_seen.map(|t| format::ago(t, now)).unwrap_or_else(|| "never".into()),
        })
        .collect();
    render(&GatewaysPage {
        layout: Layout::new(&scope, &session, "gateways"),
        gateways: rows,
        customers: customer_options(&scope, None).await?,
    })
}

/// The create and edit forms' fields.
#[derive(Deserialize)]
pub struct GatewayForm {
    #[serde(default)]
    id: String,
    #[serde(default)]
    customer: String,
    site_name: String,
    capacity_kwp: String,
}

/// `POST /gateways`: creates a gateway and shows its token once.
pub async fn create(
    session: Session,
    scope: Scope,
    Form(form): Form<GatewayForm>,
) -> Result<Html<String>, AppError> {
    let new =
        NewGateway::from_form(&scope, &form.id, &form.customer, &form.site_name, &form.capacity_kwp).await?;
    let (gateway, token) = create_gateway(&scope, new).await?;
    render(&SecretPage {
        layout: Layout::new(&scope, &session, "gateways"),
        title: format!("Gateway {} created", gateway.id),
        explanation: "Enter this token in the gateway's configuration. It is shown only this once; only its hash is stored."
            .into(),
        secret: token,
        back_href: format!("/gateways/{}", gateway.id),
        back_label: "Go to the gateway".into(),
    })
}

#[derive(Template)]
#[template(path = "gateway.html")]
struct GatewayPage {
    layout: Layout,
    id: String,
    site_name: String,
    capacity: String,
    active: bool,
    last_seen: String,
    previous_token: String,
    customers: Vec<CustomerOption>,
    saved: bool,
}

/// `GET /gateways/{id}`.
pub async fn show(
    session: Session,
    scope: Scope,
    Path(id): Path<String>,
    Query(saved): Query<Saved>,
) -> Result<Html<String>, AppError> {
    let gateway = find_gateway(&scope, &id).await?;
    let now = Utc::now();
    let tz = scope.provider.timezone;
    render(&GatewayPage {
        layout: Layout::new(&scope, &session, "gateways"),
        id: gateway.id.to_string(),
        site_name: gateway.site_name.clone(),
        capacity: format!("{}", gateway.capacity_kwp),
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
        customers: customer_options(&scope, gateway.customer).await?,
        saved: saved.is_saved(),
    })
}

/// `POST /gateways/{id}`: saves site name, capacity and customer.
pub async fn update(
    scope: Scope,
    Path(id): Path<String>,
    Form(form): Form<GatewayForm>,
) -> Result<Redirect, AppError> {
    let mut gateway = find_gateway(&scope, &id).await?;
    gateway.site_name = text_field(&form.site_name, "the site name", 120)?;
    gateway.capacity_kwp = capacity_field(&form.capacity_kwp)?;
    gateway.customer = customer_choice(&scope, &form.customer).await?;
    scope.tenant.update_gateway(&gateway).await?;
    Ok(Redirect::to(&format!("/gateways/{}?saved=1", gateway.id)))
}

/// `POST /gateways/{id}/active`: a deactivated gateway is refused at its next connection.
pub async fn set_active(
    scope: Scope,
    Path(id): Path<String>,
    Form(form): Form<ActiveForm>,
) -> Result<Redirect, AppError> {
    let mut gateway = find_gateway(&scope, &id).await?;
    gateway.active = form.is_active();
    scope.tenant.update_gateway(&gateway).await?;
    tracing::info!(provider = %scope.provider.slug, gateway = %gateway.id, active = gateway.active, "gateway state changed");
    Ok(Redirect::to(&format!("/gateways/{}?saved=1", gateway.id)))
}

/// The rotation form: `revoke=true` refuses the previous token at once.
#[derive(Debug, Deserialize)]
pub struct RotateForm {
    #[serde(default)]
    revoke: Option<String>,
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
    let token = GatewayToken::generate();
    let revoke = form.revoke.as_deref() == Some("true");
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
        title: format!("New token for {}", gateway.id),
        explanation: explanation.into(),
        secret: token.reveal().to_owned(),
        back_href: format!("/gateways/{}", gateway.id),
        back_label: "Back to the gateway".into(),
    })?
    .into_response())
}
