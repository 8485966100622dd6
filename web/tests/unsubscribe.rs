//! The unsubscribe links in customer emails: a confirmation page, then a POST (the page's button
//! or a mail program's RFC 8058 one-click request) that records the choice; forged links are
//! refused and change nothing.

mod common;

use common::{TestApp, unsubscribe_key};
use heliograph_shared::UnsubscribeScope;

#[tokio::test]
async fn a_signed_link_asks_first_then_unsubscribes_only_that_customer_from_that_mail() -> anyhow::Result<()>
{
    let (app, sunrise, voltwerk) = TestApp::spawn().await?;
    let token = unsubscribe_key().sign(&sunrise.slug, sunrise.customer, UnsubscribeScope::Summaries);
    let url = format!("{}/unsubscribe/{token}", app.base);

    let page = app.http.get(&url).send().await?;
    assert_eq!(page.status(), 200);
    let html = page.text().await?;
    assert!(html.contains("Stop periodic summaries"), "{html}");
    assert!(html.contains("Alice Huber"), "names the customer: {html}");
    assert!(html.contains(&format!(r#"action="/unsubscribe/{token}""#)), "{html}");
    let tenant = app.store.tenant(&sunrise.slug).await?;
    assert!(!tenant.mail_preferences(sunrise.customer).await?.unsubscribed_summaries, "GET changes nothing");

    // What a mail program sends for `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.
    let done = app.http.post(&url).form(&[("List-Unsubscribe", "One-Click")]).send().await?;
    assert_eq!(done.status(), 200);
    assert!(done.text().await?.contains("will no longer receive periodic summaries"));
    let preferences = tenant.mail_preferences(sunrise.customer).await?;
    assert!(preferences.unsubscribed_summaries);
    assert!(!preferences.unsubscribed_alerts, "alerts are a separate choice");

    let other = app.store.tenant(&voltwerk.slug).await?;
    assert!(!other.mail_preferences(voltwerk.customer).await?.unsubscribed_summaries);

    // Repeating it is harmless.
    assert_eq!(app.http.post(&url).send().await?.status(), 200);
    Ok(())
}

#[tokio::test]
async fn forged_or_altered_links_are_refused_and_change_nothing() -> anyhow::Result<()> {
    let (app, sunrise, voltwerk) = TestApp::spawn().await?;
    let token = unsubscribe_key().sign(&sunrise.slug, sunrise.customer, UnsubscribeScope::Alerts);
    let forged_key = heliograph_shared::UnsubscribeKey::new(&[8; 32])?;
    let attempts = [
        token.replace("alerts", "summaries"),
        token.replace(sunrise.slug.as_str(), voltwerk.slug.as_str()),
        forged_key.sign(&voltwerk.slug, voltwerk.customer, UnsubscribeScope::Alerts),
        "sunrise.not-a-customer.alerts.0123".to_owned(),
        "%3Cscript%3E".to_owned(),
    ];
    for attempt in attempts {
        let response = app.http.post(format!("{}/unsubscribe/{attempt}", app.base)).send().await?;
        assert_eq!(response.status(), 400, "{attempt}");
        let body = response.text().await?;
        assert!(!body.contains("<script>"), "nothing reflected unescaped: {body}");
    }
    for (slug, customer) in [(&sunrise.slug, sunrise.customer), (&voltwerk.slug, voltwerk.customer)] {
        let preferences = app.store.tenant(slug).await?.mail_preferences(customer).await?;
        assert!(!preferences.unsubscribed_alerts && !preferences.unsubscribed_summaries);
    }
    Ok(())
}
