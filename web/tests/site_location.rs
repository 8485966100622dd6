//! A site's location over real HTTP: typed as a map copies it, refused with its reason when it is
//! not on the earth, kept on the form, and said on the site's page, where the availability card
//! tells whether daylight follows the sun there (with the day's sunrise and sunset) or the clock.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod common;

use chrono::NaiveDate;
use common::{DAY, TestApp};
use heliograph_shared::SiteLocation;
use heliograph_shared::format;
use heliograph_shared::reports::daylight::DaylightRule;

#[tokio::test]
async fn a_location_is_saved_as_typed_refused_off_the_earth_and_decides_the_daylight_the_page_states() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let tenant = app.store.tenant(&sunrise.slug).await.unwrap();
    let customer = sunrise.customer.to_string();
    let edit = format!("/gateways/{}", sunrise.gateway);
    let day_page = format!("/sites/{}/day/{DAY}", sunrise.gateway);

    // Without a location the page says which hours count and how to change it.
    let html = app.get(&session, &day_page).await.unwrap().text().await.unwrap();
    assert!(html.contains("daylight taken as 06–20 h: set the site&#39;s location"), "{html}");

    // Off the earth: the form comes back with the input kept and the reason at the field.
    let response = app
        .post(
            &session,
            &edit,
            &[
                ("site_name", "Roof"),
                ("capacity_kwp", "9"),
                ("location", "91, 11.5"),
                ("customer", &customer),
            ],
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains(r#"value="91, 11.5""#), "the input is kept");
    assert!(html.contains(r#"aria-describedby="location-error""#));
    assert!(html.contains("latitude must be between -90 and 90 degrees"));
    assert_eq!(tenant.gateway(&sunrise.gateway).await.unwrap().unwrap().location, None, "nothing saved");

    // As a map application copies it.
    let saved = app
        .post(
            &session,
            &edit,
            &[
                ("site_name", "Roof"),
                ("capacity_kwp", "9"),
                ("location", "52.520008, 13.404954"),
                ("customer", &customer),
            ],
        )
        .await
        .unwrap();
    assert_eq!(saved.status(), 303);
    let berlin = SiteLocation::new(52.520008, 13.404954).unwrap();
    assert_eq!(tenant.gateway(&sunrise.gateway).await.unwrap().unwrap().location, Some(berlin));
    let html = app.get(&session, &edit).await.unwrap().text().await.unwrap();
    assert!(html.contains(r#"value="52.520008, 13.404954""#), "shown as it reads back");

    // A form without the field (one opened before it existed, a script) leaves the location.
    let kept = app
        .post(&session, &edit, &[("site_name", "Roof west"), ("capacity_kwp", "9"), ("customer", &customer)])
        .await
        .unwrap();
    assert_eq!(kept.status(), 303);
    assert_eq!(tenant.gateway(&sunrise.gateway).await.unwrap().unwrap().location, Some(berlin));

    // The day's page gives that day's sunrise and sunset there.
    let date = NaiveDate::parse_from_str(DAY, "%Y-%m-%d").unwrap();
    let span = DaylightRule::Sun(berlin).span(date, sunrise.timezone).unwrap();
    let html = app.get(&session, &day_page).await.unwrap().text().await.unwrap();
    let said = format!(
        "daylight: sunrise {} to sunset {}",
        format::local_time(span.start, sunrise.timezone),
        format::local_time(span.end, sunrise.timezone)
    );
    assert!(html.contains(&said), "{said} in the availability card");
    assert!(said.contains("sunrise 04:") || said.contains("sunrise 05:"), "June in Berlin: {said}");

    // Cleared again: back to the clock.
    let cleared = app
        .post(
            &session,
            &edit,
            &[("site_name", "Roof"), ("capacity_kwp", "9"), ("location", ""), ("customer", &customer)],
        )
        .await
        .unwrap();
    assert_eq!(cleared.status(), 303);
    assert_eq!(tenant.gateway(&sunrise.gateway).await.unwrap().unwrap().location, None);
}
