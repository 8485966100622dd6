//! The performance ratio over real HTTP: a site with an irradiance sensor shows it on its day,
//! month and year pages, in the fleet and in the API; a site without one shows a dash.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod common;

use chrono::{DateTime, NaiveDate, TimeDelta, Timelike, Utc};
use chrono_tz::Tz;
use common::{DAY, TestApp, empty_store, provider, site};
use heliograph_shared::reports::Period;
use heliograph_shared::store::{Store, WriteBatch};
use heliograph_shared::{Device, DeviceId, DeviceKind, GatewayId, Metric, Metrics, ProviderSlug, Reading};
use heliograph_web::WebSettings;

/// Readings every five minutes from `from` to `to` (both included): an inverter at a constant
/// 8 kW with its counter, and (when `sensor`) a plane-of-array sensor at a constant 1000 W/m².
async fn write_hours(
    store: &dyn Store,
    slug: &ProviderSlug,
    gateway: &GatewayId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    sensor: bool,
) {
    let tenant = store.tenant(slug).await.unwrap();
    let mut batch = WriteBatch::new(gateway.clone(), Utc::now());
    let mut kinds = vec![("inv-1", DeviceKind::Inverter)];
    if sensor {
        kinds.push(("poa-1", DeviceKind::IrradianceSensor));
    }
    for (id, kind) in kinds {
        batch.devices.push(Device {
            gateway: gateway.clone(),
            id: DeviceId::parse(id).unwrap(),
            kind,
            manufacturer: None,
            model: None,
            serial: None,
            last_seen: Some(to),
        });
    }
    let (mut ts, mut energy) = (from, 1_000_000.0);
    while ts <= to {
        let mut m = Metrics::default();
        m.set(Metric::AcPower, 8_000.0).unwrap();
        m.set(Metric::Energy, energy).unwrap();
        let inverter = DeviceId::parse("inv-1").unwrap();
        batch.readings.push(Reading {
            gateway: gateway.clone(),
            device: inverter,
            ts,
            status: None,
            metrics: m,
        });
        if sensor {
            let mut m = Metrics::default();
            m.set(Metric::Irradiance, 1_000.0).unwrap();
            let poa = DeviceId::parse("poa-1").unwrap();
            batch.readings.push(Reading {
                gateway: gateway.clone(),
                device: poa,
                ts,
                status: None,
                metrics: m,
            });
        }
        energy += 8_000.0 * 5.0 / 60.0;
        ts += TimeDelta::minutes(5);
    }
    tenant.write_batch(batch).await.unwrap();
}

#[tokio::test]
async fn a_site_with_an_irradiance_sensor_shows_its_performance_ratio_on_every_view_the_fleet_and_the_api() {
    // A zone in which today has run at least four hours, so that today has a ratio too.
    let now = Utc::now();
    let tz: Tz = if now.hour() >= 4 { Tz::UTC } else { "Etc/GMT-12".parse().unwrap() };
    let (dir, store) = empty_store().await.unwrap();
    let slug = ProviderSlug::parse("sunrise").unwrap();
    let token = provider(store.as_ref(), &slug, "Sunrise Solar", tz).await.unwrap();
    let (_, with) = site(store.as_ref(), &slug, "SUN-PR", "Alice", "With sensor", 10.0).await.unwrap();
    let (_, without) = site(store.as_ref(), &slug, "SUN-NO", "Bob", "Without sensor", 10.0).await.unwrap();
    // 10:00 to 13:00 local on DAY: 36 five-minute steps of 8 kW = 24 kWh on 10 kWp, Yf = 2.4 h;
    // 36 steps of 1000 W/m² = 3 kWh/m², Yr = 3 h; PR = 2.4 / 3 = 0.8.
    let bounds = Period::Day { date: NaiveDate::parse_from_str(DAY, "%Y-%m-%d").unwrap() }.bounds(tz);
    let (from, to) = (bounds.start + TimeDelta::hours(10), bounds.start + TimeDelta::hours(13));
    write_hours(store.as_ref(), &slug, &with, from, to, true).await;
    write_hours(store.as_ref(), &slug, &without, from, to, false).await;
    // Today: the three hours before now, same plant, same sun.
    let today_from = now - TimeDelta::hours(3);
    let today_from = today_from - TimeDelta::seconds(i64::from(today_from.second()));
    write_hours(store.as_ref(), &slug, &with, today_from, now, true).await;
    write_hours(store.as_ref(), &slug, &without, today_from, now, false).await;

    let app = TestApp::start(dir, store, WebSettings::default()).await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let page = async |path: String| app.get(&session, &path).await.unwrap().text().await.unwrap();
    for path in [format!("day/{DAY}"), "month/2026-06".into(), "year/2026".into()] {
        let html = page(format!("/sites/{with}/{path}")).await;
        assert!(html.contains("Performance ratio") && html.contains("80.0 %"), "{path}: {html}");
        assert!(html.contains(">PR<"), "{path}: a PR column");
        let html = page(format!("/sites/{without}/{path}")).await;
        assert!(!html.contains("Performance ratio") && !html.contains(">PR<"), "{path} without a sensor");
    }
    let csv = page(format!("/sites/{with}/month/2026-06/csv")).await;
    assert!(csv.lines().next().unwrap().ends_with(",performance_ratio,data"), "{csv}");
    assert!(csv.contains(",0.800,measured"), "{csv}");

    let fleet = page("/sites".into()).await;
    let row = |id: &GatewayId| {
        let start = fleet.find(&format!("<div class=\"sub\">{id}</div>")).unwrap();
        fleet[start..].split("</tr>").next().unwrap().to_owned()
    };
    assert!(fleet.contains(">PR<"), "a PR column in the fleet");
    assert!(row(&with).contains(">80.0 %<"), "{}", row(&with));
    assert!(!row(&without).contains('%'), "{}", row(&without));

    let sites: serde_json::Value = app.api(&token, "/sites").await.unwrap().json().await.unwrap();
    let ratio = |id: &GatewayId| {
        sites.as_array().unwrap().iter().find(|s| s["id"] == id.as_str()).unwrap()["today_performance_ratio"]
            .clone()
    };
    assert_eq!(ratio(&with), serde_json::json!(0.8));
    assert_eq!(ratio(&without), serde_json::Value::Null);
    for path in [format!("day/{DAY}"), "month/2026-06".into(), "year/2026".into()] {
        let report: serde_json::Value =
            app.api(&token, &format!("/sites/{with}/{path}")).await.unwrap().json().await.unwrap();
        assert_eq!(report["performance_ratio"], serde_json::json!(0.8), "{path}");
        let report: serde_json::Value =
            app.api(&token, &format!("/sites/{without}/{path}")).await.unwrap().json().await.unwrap();
        assert_eq!(report["performance_ratio"], serde_json::Value::Null, "{path}");
    }
}
