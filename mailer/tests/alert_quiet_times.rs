//! A site's own alert thresholds and its maintenance window, through the monitor against a real
//! store: a site with a longer offline threshold opens its alert later than the provider's
//! threshold would; a site in maintenance opens none until the window ends, and then does.

mod common;

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use heliograph_shared::alerts::Monitor;
use heliograph_shared::store::TenantStore;
use heliograph_shared::{AlertKind, DeviceKind, Gateway, GatewayId, ReportSchedule, SiteAlerting};

use common::*;

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("valid timestamp").with_timezone(&Utc)
}

/// The sites with an open offline alert, by id.
async fn offline(tenant: &Arc<dyn TenantStore>) -> Vec<String> {
    let mut ids: Vec<String> = tenant
        .open_alerts()
        .await
        .expect("open alerts")
        .into_iter()
        .filter(|a| a.kind == AlertKind::SiteOffline)
        .map(|a| a.gateway.to_string())
        .collect();
    ids.sort();
    ids
}

async fn with_alerting(tenant: &Arc<dyn TenantStore>, site: &Gateway, alerting: SiteAlerting) {
    let mut changed = site.clone();
    changed.alerting = alerting;
    tenant.update_gateway(&changed).await.expect("gateway updated");
}

#[tokio::test]
async fn a_sites_own_threshold_and_its_maintenance_window_decide_when_its_alert_opens() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = embedded_store(dir.path()).await;
    let tenant = provider(&store, "sunny", ReportSchedule::Never).await;
    let customer = customer(&tenant, "Huber family", "huber@example.com", chrono_tz::Europe::Berlin).await;
    // Three sites that fell silent at 09:00 Berlin time (07:00 UTC) on 10 June, in daylight.
    let mut sites = Vec::new();
    for id in ["GW-HOME", "GW-BARN", "GW-SHED"] {
        let site = site(&tenant, id, id, customer.id, 9.8).await;
        let readings = inverter_readings(
            &site.id,
            "inv-1",
            utc("2026-06-10T04:00:00Z"),
            utc("2026-06-10T07:00:00Z"),
            TimeDelta::minutes(5),
            |t| t.timestamp() as f64 / 100.0,
            |_| 900.0,
        );
        write(&tenant, readings, DeviceKind::Inverter).await;
        sites.push(tenant.gateway(&site.id).await.expect("read").expect("the site"));
    }
    // The barn's link is slow to come back (its own threshold: five hours); the shed is being
    // worked on until 13:00 Berlin time (11:00 UTC).
    with_alerting(
        &tenant,
        &sites[1],
        SiteAlerting { offline_after_minutes: Some(300), ..Default::default() },
    )
    .await;
    let until = utc("2026-06-10T11:00:00Z");
    with_alerting(&tenant, &sites[2], SiteAlerting { maintenance_until: Some(until), ..Default::default() })
        .await;

    let monitor = Monitor::default();
    // Noon: three hours of silence. The provider's hour has passed for the home site only.
    let noon = utc("2026-06-10T10:00:00Z");
    assert_eq!(monitor.check_all(store.as_ref(), noon).await.expect("checked").opened, 1);
    assert_eq!(offline(&tenant).await, ["GW-HOME"]);
    // 12:59: still in the window, the shed stays quiet however long it has been silent.
    let before = until - TimeDelta::minutes(1);
    assert_eq!(monitor.check_all(store.as_ref(), before).await.expect("checked").opened, 0);
    // 13:00: the window is over and the shed opens; the barn waits for its five hours.
    assert_eq!(monitor.check_all(store.as_ref(), until).await.expect("checked").opened, 1);
    assert_eq!(offline(&tenant).await, ["GW-HOME", "GW-SHED"]);
    // 14:00: five hours since the barn's last reading at 08:55.
    let later = until + TimeDelta::hours(1);
    assert_eq!(monitor.check_all(store.as_ref(), later).await.expect("checked").opened, 1);
    assert_eq!(offline(&tenant).await, ["GW-BARN", "GW-HOME", "GW-SHED"]);
    let barn = GatewayId::parse("GW-BARN").expect("valid");
    let opened_at = tenant
        .open_alerts()
        .await
        .expect("open alerts")
        .into_iter()
        .find(|a| a.gateway == barn)
        .map(|a| a.opened_at);
    assert_eq!(opened_at, Some(later));
}
