//! Alert emails: every opening and clearing not yet notified goes into the customer's next
//! notice. A notice's topic is the time slot it belongs to (`alerts:<slot start>`), so a
//! customer gets at most one alert email per slot, whichever mailer sends it: the rate limit is
//! the delivery claim itself, durable and shared.

use chrono::{DateTime, TimeDelta, Utc};
use heliograph_shared::{Alert, Customer, DeliveryKey, UnsubscribeScope};
use lettre::Message;

use crate::service::MailContext;
use crate::{MailerError, presentation, templates};
use heliograph_shared::roster::Roster;

/// Topic prefix of alert notices.
pub const TOPIC_PREFIX: &str = "alerts:";

/// The notice topic for `now`: the start of its slot of `interval`.
pub fn topic(now: DateTime<Utc>, interval: TimeDelta) -> String {
    let width = interval.num_seconds().max(60);
    let start = now.timestamp().div_euclid(width) * width;
    let slot = DateTime::<Utc>::from_timestamp(start, 0).unwrap_or(now);
    format!("{TOPIC_PREFIX}{}", slot.format("%Y%m%dT%H%MZ"))
}

/// The notice message for `key`, taking the customer's pending openings and clearings; `None`
/// when there is nothing to say or the customer does not want alert emails (the notices are
/// taken all the same, so they do not wait forever).
pub async fn message(
    context: &MailContext,
    roster: &Roster,
    customer: &Customer,
    key: &DeliveryKey,
) -> Result<Option<Message>, MailerError> {
    let preferences = roster.tenant.mail_preferences(customer.id).await?;
    let alerts = roster.tenant.take_alert_notices(customer.id, key.topic()).await?;
    if alerts.is_empty() || !customer.active || customer.emails.is_empty() || preferences.unsubscribed_alerts
    {
        return Ok(None);
    }
    let tz = customer.timezone;
    let topic = Some(key.topic().to_owned());
    let describe = |a: &Alert| presentation::alert_row(a, tz, &|g| roster.site_name(g));
    // An alert that opened and cleared before any notice is told once, as cleared.
    let opened =
        alerts.iter().filter(|a| a.open_notice == topic && a.clear_notice != topic).map(describe).collect();
    let cleared = alerts.iter().filter(|a| a.clear_notice == topic).map(describe).collect();
    let unsubscribe_url = context.unsubscribe_url(roster, customer.id, UnsubscribeScope::Alerts);
    let view =
        presentation::alerts(roster.provider.brand(), &customer.name, opened, cleared, unsubscribe_url);
    let rendered = templates::alerts(&view)?;
    Ok(Some(context.message(roster, customer, key, UnsubscribeScope::Alerts, &rendered)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_in_the_same_slot_share_a_topic_and_the_next_slot_gets_a_new_one() {
        let at = |t: &str| DateTime::parse_from_rfc3339(t).expect("valid").with_timezone(&Utc);
        let hour = TimeDelta::hours(1);
        assert_eq!(topic(at("2026-11-24T10:05:00Z"), hour), "alerts:20261124T1000Z");
        assert_eq!(topic(at("2026-11-24T10:59:59Z"), hour), "alerts:20261124T1000Z");
        assert_eq!(topic(at("2026-11-24T11:00:00Z"), hour), "alerts:20261124T1100Z");
    }
}
