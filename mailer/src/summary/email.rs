//! A customer's periodic summary: its delivery key, and the message built from the shared
//! report data, the period's alerts and the templates.

use chrono::{DateTime, Utc};
use heliograph_shared::{Customer, CustomerId, DeliveryKey, UnsubscribeScope};
use lettre::Message;
use tracing::debug;

use crate::presentation::{self, SummaryContext};
use crate::service::MailContext;
use crate::summary::SummaryPeriod;
use crate::summary::from_reports;
use crate::{MailerError, templates};
use heliograph_shared::roster::Roster;

/// Topic prefix of summaries: `summary:<period key>`.
pub const TOPIC_PREFIX: &str = "summary:";

/// The delivery key of a customer's summary of `period`.
pub fn key(customer: CustomerId, period: SummaryPeriod) -> Result<DeliveryKey, MailerError> {
    Ok(DeliveryKey::new(customer, &format!("{TOPIC_PREFIX}{}", period.key()))?)
}

/// Renders a customer's summary of `period` (HTML and text), without sending it.
pub async fn render(
    context: &MailContext,
    roster: &Roster,
    customer: &Customer,
    period: SummaryPeriod,
    now: DateTime<Utc>,
) -> Result<templates::Rendered, MailerError> {
    let tz = customer.timezone;
    let sites = roster.sites(customer.id);
    let data = from_reports::summary_data(roster.tenant.as_ref(), sites, period, tz, now).await?;
    let alerts = roster.tenant.customer_alerts(customer.id, period.bounds(tz)).await?;
    let rows = alerts.iter().map(|a| presentation::alert_row(a, tz, &|g| roster.site_name(g))).collect();
    let view = presentation::summary(
        &data,
        SummaryContext {
            brand: roster.provider.brand(),
            customer_name: &customer.name,
            tz,
            alerts: rows,
            unsubscribe_url: context.unsubscribe_url(roster, customer.id, UnsubscribeScope::Summaries),
        },
    );
    Ok(templates::summary(&view)?)
}

/// The summary message, or `None` when the customer should not get it (inactive, no address,
/// unsubscribed).
pub async fn message(
    context: &MailContext,
    roster: &Roster,
    customer: &Customer,
    period: SummaryPeriod,
    key: &DeliveryKey,
    now: DateTime<Utc>,
) -> Result<Option<Message>, MailerError> {
    let preferences = roster.tenant.mail_preferences(customer.id).await?;
    if !customer.active || customer.emails.is_empty() || preferences.unsubscribed_summaries {
        debug!(customer = %customer.id, "no summary: inactive, no address or unsubscribed");
        return Ok(None);
    }
    let rendered = render(context, roster, customer, period, now).await?;
    Ok(Some(context.message(roster, customer, key, UnsubscribeScope::Summaries, &rendered)?))
}
