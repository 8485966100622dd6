//! What was set aside: gateways refused at the door (with a one-click commissioning of an
//! unknown one to a customer) and readings quarantined one by one, with their reasons.
//!
//! Only this provider's refusals are listed. Gateways refused on the shared port belong to no
//! provider yet; listing them here would show every provider the others' hardware, so they are
//! commissioned by typing their id into the same form instead.

use askama::Template;
use axum::Form;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, TimeDelta, Utc};
use heliograph_shared::RefusalReason;

use super::form::{self, FieldErrors};
use super::gateways::{GatewayForm, chosen, create_from_form};
use super::{CustomerOption, Layout, SecretPage, customer_options, render};
use crate::auth::Scope;
use crate::auth::session::Session;
use crate::error::AppError;
use crate::format;

/// Refused gateways listed.
const REFUSED_SHOWN: usize = 200;
/// Quarantined readings listed (the last seven days).
const QUARANTINE_SHOWN: usize = 200;

struct RefusedRow {
    gateway: String,
    reason: &'static str,
    unknown: bool,
    first_seen: String,
    last_seen: String,
    attempts: u64,
    address: String,
}

struct QuarantinedRow {
    received: String,
    gateway: String,
    device: String,
    ts: String,
    reason: String,
    content: String,
}

#[derive(Template)]
#[template(path = "quarantine.html")]
struct QuarantinePage {
    layout: Layout,
    refused: Vec<RefusedRow>,
    quarantined: Vec<QuarantinedRow>,
    customers: Vec<CustomerOption>,
    form: GatewayForm,
    errors: FieldErrors,
}

/// `GET /quarantine`.
pub async fn page(session: Session, scope: Scope) -> Result<Html<String>, AppError> {
    let form = GatewayForm { capacity_kwp: "10".into(), ..GatewayForm::default() };
    render(&quarantine_page(&session, &scope, form, FieldErrors::new()).await?)
}

/// The page with the commissioning-by-id form holding `form` and its `errors`.
async fn quarantine_page(
    session: &Session,
    scope: &Scope,
    form: GatewayForm,
    errors: FieldErrors,
) -> Result<QuarantinePage, AppError> {
    let now = Utc::now();
    let tz = scope.provider.timezone;
    let refused = scope.tenant.refused_gateways(REFUSED_SHOWN).await?;
    let quarantined = scope
        .tenant
        .quarantined(now - TimeDelta::days(7)..now + TimeDelta::minutes(1), QUARANTINE_SHOWN)
        .await?;
    let known = scope.tenant.gateways().await?;
    Ok(QuarantinePage {
        layout: Layout::new(scope, session, "quarantine"),
        refused: refused
            .into_iter()
            .map(|r| RefusedRow {
                unknown: r.reason == RefusalReason::UnknownGateway
                    && !known.iter().any(|g| g.id == r.gateway),
                gateway: r.gateway.to_string(),
                reason: match r.reason {
                    RefusalReason::UnknownGateway => "unknown gateway",
                    RefusalReason::WrongToken => "wrong token",
                    RefusalReason::Inactive => "deactivated",
                },
                first_seen: format::local_datetime(r.first_seen, tz),
                last_seen: format!(
                    "{} ({})",
                    format::local_datetime(r.last_seen, tz),
                    format::ago(r.last_seen, now)
                ),
                attempts: r.attempts,
                address: r.last_address,
            })
            .collect(),
        quarantined: quarantined
            .into_iter()
            .map(|q| QuarantinedRow {
                received: format::local_datetime(q.received_at, tz),
                gateway: q.gateway.to_string(),
                device: q.device,
                // The time as the gateway sent it, in the site's clock when it is one at all:
                // a quarantined reading's timestamp may be what made it unreadable.
                ts: DateTime::parse_from_rfc3339(&q.ts)
                    .map(|t| format::local_datetime(t.with_timezone(&Utc), tz))
                    .unwrap_or(q.ts),
                reason: q.reason,
                content: q.content.chars().take(300).collect(),
            })
            .collect(),
        customers: customer_options(scope, chosen(&form.customer)).await?,
        form,
        errors,
    })
}

/// `POST /quarantine/commission`: creates the gateway and shows its token once; a wrong field
/// comes back in the commissioning-by-id form, opened, with the input kept.
pub async fn commission(
    session: Session,
    scope: Scope,
    Form(form): Form<GatewayForm>,
) -> Result<Response, AppError> {
    let (gateway, token) = match create_from_form(&scope, &form).await? {
        Ok(created) => created,
        Err(errors) => return form::invalid(&quarantine_page(&session, &scope, form, errors).await?),
    };
    Ok(render(&SecretPage {
        layout: Layout::new(&scope, &session, "quarantine"),
        title: format!("Gateway {} commissioned", gateway.id),
        explanation: "Enter this token in the gateway's configuration. It is shown only this once; \
                      only its hash is stored. Its next connection will be accepted."
            .into(),
        secret: token,
        back_href: format!("/gateways/{}", gateway.id),
        back_label: "Go to the gateway".into(),
    })?
    .into_response())
}
