//! Taking an alert on over real HTTP: the site's page offers it, the note and the user are kept
//! and shown on the site and the fleet, and nobody reaches another provider's alert or posts
//! without the session's token.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod common;

use chrono::{TimeDelta, Utc};
use common::{TestApp, USER, underperforming};

#[tokio::test]
async fn an_alert_is_taken_on_with_a_note_by_its_providers_user_only() {
    let (app, sunrise, voltwerk) = TestApp::spawn().await.unwrap();
    underperforming(app.store.as_ref(), &sunrise.slug, &sunrise.gateway, Utc::now() - TimeDelta::hours(1))
        .await
        .unwrap();
    underperforming(app.store.as_ref(), &voltwerk.slug, &voltwerk.gateway, Utc::now() - TimeDelta::hours(1))
        .await
        .unwrap();
    let tenant = app.store.tenant(&sunrise.slug).await.unwrap();
    let alert = tenant.open_alerts().await.unwrap().pop().unwrap();
    let theirs = app.store.tenant(&voltwerk.slug).await.unwrap().open_alerts().await.unwrap().pop().unwrap();
    let session = app.session("sunrise").await.unwrap();
    let site = format!("/sites/{}", sunrise.gateway);
    let day = format!("{site}/day/{}", Utc::now().with_timezone(&sunrise.timezone).format("%Y-%m-%d"));

    let page = app.get(&session, &day).await.unwrap().text().await.unwrap();
    assert!(
        page.contains(&format!(r#"action="/alerts/{}/acknowledge""#, alert.id))
            && page.contains("Take it on")
    );

    // Another provider's alert, a made-up id, and a form without the session's token change nothing.
    let path = |id: &dyn std::fmt::Display| format!("/alerts/{id}/acknowledge");
    let foreign = app.post(&session, &path(&theirs.id), &[("note", "mine now")]).await.unwrap();
    assert_eq!(foreign.status(), 404);
    let made_up = app.post(&session, &path(&"not-an-id"), &[("note", "x")]).await.unwrap();
    assert_eq!(made_up.status(), 404);
    let forged = app
        .http
        .post(format!("{}{}", app.base, path(&alert.id)))
        .header(reqwest::header::COOKIE, &session.cookie)
        .form(&[("note", "forged")])
        .send()
        .await
        .unwrap();
    assert!(forged.status().is_client_error(), "{}", forged.status());
    assert!(tenant.open_alerts().await.unwrap()[0].acknowledged.is_none());

    let taken =
        app.post(&session, &path(&alert.id), &[("note", " technician\r\nbooked for Monday ")]).await.unwrap();
    assert_eq!(taken.status(), 303);
    assert_eq!(taken.headers()["location"], site);
    let stored = tenant.open_alerts().await.unwrap().pop().unwrap().acknowledged.unwrap();
    assert_eq!((stored.by.as_str(), stored.note.as_str()), (USER, "technician booked for Monday"));
    let page = app.get(&session, &day).await.unwrap().text().await.unwrap();
    assert!(
        page.contains(&format!("Taken on by {USER} on ")) && page.contains(": technician booked for Monday")
    );
    assert!(!page.contains("Take it on"), "no form once taken on");
    let fleet = app.get(&session, "/sites").await.unwrap().text().await.unwrap();
    assert!(fleet.contains("technician booked for Monday"), "the fleet says who is on it");
    assert!(
        app.store.tenant(&voltwerk.slug).await.unwrap().open_alerts().await.unwrap()[0]
            .acknowledged
            .is_none(),
        "the other provider's alert is untouched"
    );
}
