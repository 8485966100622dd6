//! The API tells a site's state as the panel does: an open fault alert makes it a fault, and a
//! site's own offline threshold decides when it is offline, on the fleet, the site page and in
//! `/api/v1/sites` alike.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod common;

use chrono::{TimeDelta, Utc};
use common::TestApp;
use heliograph_shared::{Alert, AlertKind, DeviceId, SiteAlerting};

#[tokio::test]
async fn the_api_panel_and_site_page_agree_on_a_fault_and_on_a_sites_own_offline_threshold() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let tenant = app.store.tenant(&sunrise.slug).await.unwrap();
    let state = || async {
        let sites: serde_json::Value =
            app.api(&sunrise.api_token, "/sites").await.unwrap().json().await.unwrap();
        sites[0]["status"]["state"].as_str().unwrap().to_owned()
    };
    assert_eq!(state().await, "online");

    let fault = Alert::open(
        AlertKind::DeviceFault,
        sunrise.gateway.clone(),
        Some(DeviceId::parse("inv-1").unwrap()),
        Some(sunrise.customer),
        Utc::now() - TimeDelta::minutes(30),
        "the device reports a fault".into(),
    );
    assert!(tenant.open_alert(&fault).await.unwrap());
    assert_eq!(state().await, "fault", "as the panel says");
    let fleet = app.get(&session, "/sites").await.unwrap().text().await.unwrap();
    assert!(fleet.contains("Fault: inv-1"));
    assert!(tenant.clear_alert(&fault, Utc::now()).await.unwrap());

    // Its gateway last spoke ten minutes ago: within the provider's hour, past a five-minute
    // threshold of its own, which the API, the fleet and the site's page all apply.
    let mut site = tenant.gateway(&sunrise.gateway).await.unwrap().unwrap();
    site.last_seen = Some(Utc::now() - TimeDelta::minutes(10));
    tenant.update_gateway(&site).await.unwrap();
    assert_eq!(state().await, "online", "the provider's hour has not run out");
    site.alerting = SiteAlerting { offline_after_minutes: Some(5), ..SiteAlerting::default() };
    tenant.update_gateway(&site).await.unwrap();
    assert_eq!(state().await, "offline");
    let fleet = app.get(&session, "/sites").await.unwrap().text().await.unwrap();
    assert!(fleet.contains("Offline since"), "the fleet agrees");
    let today = Utc::now().with_timezone(&sunrise.timezone).format("%Y-%m-%d");
    let day = format!("/sites/{}/day/{today}", sunrise.gateway);
    let page = app.get(&session, &day).await.unwrap().text().await.unwrap();
    assert!(page.contains("Offline since"), "and the site's page");
}
