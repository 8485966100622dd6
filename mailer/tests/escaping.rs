//! Names that customers, providers and gateways set are escaped in the HTML email: a summary for
//! a customer, site and device with markup in their names carries it as text, never as markup.

mod common;

use std::sync::Arc;

use chrono::TimeDelta;
use heliograph_mailer::summary::SummaryPeriod;
use heliograph_shared::store::embedded::EmbeddedStore;
use heliograph_shared::store::{Store, WriteBatch};
use heliograph_shared::{Device, DeviceKind, ReportSchedule};

use common::*;

const PAYLOAD: &str = r#""><script>alert(1)</script><img src=x onerror=alert(2)>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_in_names_reaches_the_html_email_as_text() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store: Arc<dyn Store> =
        Arc::new(EmbeddedStore::open(&dir.path().join("data")).await.expect("store opens"));
    let tenant = provider(&store, "sunny", ReportSchedule::Monthly).await;
    let mut sunny = store.provider(tenant.provider()).await.expect("readable").expect("exists");
    sunny.preferences.branding_name = format!("Brand {PAYLOAD}");
    store.update_provider(&sunny).await.expect("brand set");
    let customer =
        customer(&tenant, &format!("Customer {PAYLOAD}"), "c@example.com", chrono_tz::Europe::Berlin).await;
    let site = site(&tenant, "GW-X1", &format!("Site {PAYLOAD}"), customer.id, 5.0).await;
    let period = SummaryPeriod::parse("2026-03").expect("a month");
    let from = period.bounds(chrono_tz::Europe::Berlin).start + TimeDelta::days(3) + TimeDelta::hours(9);
    let readings = inverter_readings(
        &site.id,
        "inv-1",
        from,
        from + TimeDelta::hours(5),
        TimeDelta::minutes(10),
        |t| 1_000.0 + (t - from).num_minutes() as f64 * 10.0,
        |_| 600.0,
    );
    write(&tenant, readings, DeviceKind::Inverter).await;
    let mut batch = WriteBatch::new(site.id.clone(), from);
    batch.devices.push(Device {
        gateway: site.id.clone(),
        id: "inv-1".parse().expect("device id"),
        kind: DeviceKind::Inverter,
        manufacturer: Some(format!("Maker {PAYLOAD}")),
        model: Some(format!("Model {PAYLOAD}")),
        serial: None,
        last_seen: None,
    });
    tenant.write_batch(batch).await.expect("device described");

    let mailer = mailer(Arc::clone(&store), settings(free_port()));
    let rendered = mailer.preview_summary(tenant.provider(), customer.id, period).await.expect("rendered");
    for raw in ["<script>alert", "<img src=x", "onerror=alert(2)>"] {
        assert!(!rendered.html.contains(raw), "{raw:?} raw in the HTML part:\n{}", rendered.html);
    }
    for shown in ["Customer &#34;&#62;&#60;script&#62;", "Site &#34;&#62;&#60;script&#62;"] {
        let alt = shown.replace("&#34;", "&quot;").replace("&#62;", "&gt;").replace("&#60;", "&lt;");
        assert!(
            rendered.html.contains(shown) || rendered.html.contains(&alt),
            "{shown:?} escaped in:\n{}",
            rendered.html
        );
    }
    assert!(!rendered.subject.contains('\n'), "one-line subject: {:?}", rendered.subject);
}
