//! A site's own alert thresholds and maintenance window over real HTTP: saved from the gateway's
//! page, refused at the field when out of range or in the past, shown on the fleet while the
//! window is on, and ended with one button.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod common;

use chrono::{TimeDelta, Utc};
use common::TestApp;

#[tokio::test]
async fn a_sites_thresholds_and_maintenance_window_are_saved_checked_shown_on_the_fleet_and_ended() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let tenant = app.store.tenant(&sunrise.slug).await.unwrap();
    let path = format!("/gateways/{}/alerting", sunrise.gateway);

    // Out of range and in the past: the form comes back with the input kept, nothing saved.
    let response = app
        .post(
            &session,
            &path,
            &[
                ("offline_after_minutes", "2"),
                ("underperformance_percent", "45"),
                ("maintenance_until", "2020-01-01T10:00"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains(r#"id="offline_after_minutes-error""#), "the threshold's message at its field");
    assert!(html.contains("That time has passed"), "the window's message");
    assert!(html.contains(r#"value="45""#) && html.contains(r#"value="2020-01-01T10:00""#), "input kept");
    assert_eq!(tenant.gateway(&sunrise.gateway).await.unwrap().unwrap().alerting, Default::default());

    // Three hours from now, typed in the provider's local time as the browser's picker does.
    let until = (Utc::now() + TimeDelta::hours(3)).with_timezone(&sunrise.timezone);
    let typed = until.format("%Y-%m-%dT%H:%M").to_string();
    let saved = app
        .post(
            &session,
            &path,
            &[
                ("offline_after_minutes", "240"),
                ("underperformance_percent", ""),
                ("maintenance_until", &typed),
            ],
        )
        .await
        .unwrap();
    assert_eq!(saved.status(), 303);
    let alerting = tenant.gateway(&sunrise.gateway).await.unwrap().unwrap().alerting;
    assert_eq!(alerting.offline_after_minutes, Some(240));
    assert_eq!(alerting.underperformance_percent, None, "blank: the provider's");
    let stored = alerting.maintenance_until.unwrap().with_timezone(&sunrise.timezone);
    assert_eq!(stored.format("%Y-%m-%dT%H:%M").to_string(), typed);

    let shown = until.format("%-d %b %H:%M %Z").to_string();
    let fleet = app.get(&session, "/sites").await.unwrap().text().await.unwrap();
    assert!(fleet.contains(&format!("Maintenance until {shown}: alerts muted")), "on the fleet");
    let page =
        app.get(&session, &format!("/gateways/{}", sunrise.gateway)).await.unwrap().text().await.unwrap();
    assert!(page.contains("End maintenance now") && page.contains(r#"value="240""#));

    let ended = app
        .post(
            &session,
            &path,
            &[
                ("offline_after_minutes", "240"),
                ("underperformance_percent", ""),
                ("maintenance_until", &typed),
                ("end_maintenance", "1"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(ended.status(), 303);
    let alerting = tenant.gateway(&sunrise.gateway).await.unwrap().unwrap().alerting;
    assert_eq!((alerting.maintenance_until, alerting.offline_after_minutes), (None, Some(240)));
    let fleet = app.get(&session, "/sites").await.unwrap().text().await.unwrap();
    assert!(!fleet.contains("Maintenance until"));
}
