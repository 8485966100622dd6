//! Every field a gateway or a user can set is escaped wherever the panel shows it: customer and
//! site names, device makers and models, what a quarantined reading carried, the brand and a
//! user's display name. A page that showed any of them raw would run the script below.

#![allow(clippy::unwrap_used)]

mod common;

use chrono::Utc;
use common::{DAY, TestApp};
use heliograph_shared::store::WriteBatch;
use heliograph_shared::{Device, DeviceId, DeviceKind, QuarantinedReading};

const PAYLOAD: &str = r#""><script>alert(1)</script><img src=x onerror=alert(2)>'"#;

fn is_raw(html: &str) -> bool {
    html.contains("<script>alert") || html.contains("<img src=x") || html.contains("onerror=alert(2)>")
}

#[tokio::test]
async fn hostile_text_from_gateways_and_users_is_escaped_on_every_page() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let tenant = app.store.tenant(&sunrise.slug).await.unwrap();

    let mut customer = tenant.customer(sunrise.customer).await.unwrap().unwrap();
    customer.name = format!("Customer {PAYLOAD}");
    tenant.upsert_customer(&customer).await.unwrap();
    let mut gateway = tenant.gateway(&sunrise.gateway).await.unwrap().unwrap();
    gateway.site_name = format!("Site {PAYLOAD}");
    tenant.update_gateway(&gateway).await.unwrap();
    let mut provider = app.store.provider(&sunrise.slug).await.unwrap().unwrap();
    provider.preferences.branding_name = format!("Brand {PAYLOAD}");
    app.store.update_provider(&provider).await.unwrap();

    // What a gateway can send: device descriptions and readings bad enough to be quarantined.
    let now = Utc::now();
    let mut batch = WriteBatch::new(sunrise.gateway.clone(), now);
    batch.devices.push(Device {
        gateway: sunrise.gateway.clone(),
        id: DeviceId::parse("inv-1").unwrap(),
        kind: DeviceKind::Inverter,
        manufacturer: Some(format!("Maker {PAYLOAD}")),
        model: Some(format!("Model {PAYLOAD}")),
        serial: Some(format!("Serial {PAYLOAD}")),
        last_seen: Some(now),
    });
    batch.quarantined.push(QuarantinedReading {
        gateway: sunrise.gateway.clone(),
        received_at: now,
        seq: Some(7),
        device: format!("dev {PAYLOAD}"),
        ts: format!("ts {PAYLOAD}"),
        reason: format!("reason {PAYLOAD}"),
        content: format!("<ac_power>{PAYLOAD}</ac_power>"),
    });
    tenant.write_batch(batch).await.unwrap();

    let session = app.session("sunrise").await.unwrap();
    let gw = &sunrise.gateway;
    let month = &DAY[..7];
    let year = &DAY[..4];
    let pages = [
        "/sites".to_owned(),
        format!("/sites?q={}", urlencode(PAYLOAD)),
        format!("/sites/{gw}/day/{DAY}"),
        format!("/sites/{gw}/month/{month}"),
        format!("/sites/{gw}/year/{year}"),
        format!("/sites/{gw}/readings?device=inv-1"),
        "/customers".to_owned(),
        format!("/customers/{}", sunrise.customer),
        "/gateways".to_owned(),
        format!("/gateways/{gw}"),
        "/quarantine".to_owned(),
        "/settings".to_owned(),
    ];
    let mut escaped_seen = 0;
    for page in &pages {
        let response = app.get(&session, page).await.unwrap();
        assert_eq!(response.status(), 200, "{page}");
        let html = response.text().await.unwrap();
        assert!(!is_raw(&html), "{page} shows hostile text unescaped:\n{html}");
        if html.contains("&lt;script&gt;") || html.contains("&#60;script&#62;") {
            escaped_seen += 1;
        }
    }
    assert!(escaped_seen >= 8, "the hostile text is shown, escaped, on most pages ({escaped_seen})");
}

fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("q", text)]).unwrap().trim_start_matches("q=").to_owned()
}
