//! The demo as `serve --demo` runs it, against a real ingest server on the embedded store (with
//! two days of history instead of four weeks): two providers half a world apart, customers who
//! are people and businesses rather than copies of their sites' names, and the troubles an
//! installer looks for — an inverter fault, an offline site — next to households whose meters
//! export at noon.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{Duration, Timelike, Utc};
use heliograph_ingest::{IngestServer, IngestSettings};
use heliograph_shared::reports::{self, Period};
use heliograph_shared::store::{self, Store, StoreSettings};
use heliograph_shared::{AlertBasis, AlertKind, DeviceId, DeviceStatus, GatewayId, Metric, ProviderSlug};
use heliograph_simulator::demo;
use heliograph_testkit::wait::wait_until_async;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_has_history_believable_customers_a_fault_an_offline_site_and_self_consumption() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        store::open(&StoreSettings::Embedded { data_dir: dir.path().to_path_buf() }).await.unwrap();
    let settings = IngestSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        http_listen: None,
        registry_refresh_secs: 1,
        spool_dir: Some(dir.path().join("spool")),
        ..IngestSettings::default()
    };
    let server = IngestServer::bind(settings, Arc::clone(&store)).await.unwrap();
    let target = server.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(server.run(shutdown.clone()));
    let started = Utc::now();
    tokio::spawn(demo::run(Arc::clone(&store), target, Duration::days(2), shutdown.clone()));

    let sunrise = ProviderSlug::parse("sunrise").unwrap();
    let voltwerk = ProviderSlug::parse("voltwerk").unwrap();
    let inverter = DeviceId::parse("inv-1").unwrap();
    // History is sent, then live readings: every site but the offline ones reaches the present,
    // and an offline site's last contact is dated back to when it went quiet.
    let everyone = [(&sunrise, 6, "SUNRISE-0005"), (&voltwerk, 5, "VOLTWERK-0005")];
    wait_until_async(StdDuration::from_secs(240), "the demo's history to reach the present", || {
        let (store, inverter) = (Arc::clone(&store), inverter.clone());
        async move {
            for (slug, count, offline) in everyone {
                let tenant = store.tenant(slug).await.ok()?;
                let gateways = tenant.gateways().await.ok()?;
                if gateways.len() != count {
                    return None;
                }
                for gateway in gateways {
                    if gateway.id.as_str() == offline {
                        if gateway.last_seen? > started - Duration::hours(20) {
                            return None;
                        }
                        continue;
                    }
                    let recent = started - Duration::minutes(3)..started + Duration::hours(1);
                    if tenant.readings(&gateway.id, &inverter, recent, 1).await.ok()?.is_empty() {
                        return None;
                    }
                }
            }
            Some(())
        }
    })
    .await;

    let registry = store.providers().await.unwrap();
    let zone = |slug: &ProviderSlug| registry.iter().find(|p| &p.slug == slug).unwrap().timezone.name();
    assert_eq!(zone(&sunrise), "Europe/Berlin");
    assert_eq!(zone(&voltwerk), "Australia/Sydney", "one provider is in daylight at any hour");

    let tenant = store.tenant(&sunrise).await.unwrap();
    let gateways = tenant.gateways().await.unwrap();
    let customers = tenant.customers().await.unwrap();
    assert_eq!(customers.len(), gateways.len());
    for customer in &customers {
        assert!(
            gateways
                .iter()
                .all(|g| !g.site_name.contains(&customer.name) && !customer.name.contains(&g.site_name)),
            "customer {:?} is named after a site",
            customer.name
        );
    }

    let whole = started - Duration::days(3)..started + Duration::hours(1);
    let id = |name: &str| GatewayId::parse(name).unwrap();
    let readings = |gateway: GatewayId, device: &str| {
        let (tenant, whole, device) = (Arc::clone(&tenant), whole.clone(), DeviceId::parse(device).unwrap());
        async move { tenant.readings(&gateway, &device, whole, usize::MAX).await.unwrap() }
    };

    // Two days of history, one reading a minute.
    let healthy = readings(id("SUNRISE-0001"), "inv-1").await;
    let first = healthy.first().unwrap().ts;
    assert!(first <= started - Duration::days(2) + Duration::minutes(2), "history starts at {first}");
    assert!(healthy.len() >= 2 * 24 * 60, "{} readings in two days", healthy.len());

    // The faulty site: producing until 30 hours ago, a fault with no power since.
    let faulty = readings(id("SUNRISE-0003"), "inv-1").await;
    let tripped = started - Duration::hours(30);
    let last = faulty.last().unwrap();
    assert_eq!(last.status, Some(DeviceStatus::Fault));
    assert!(faulty.iter().filter(|r| r.ts >= tripped).all(|r| r.metrics.get(Metric::AcPower) == Some(0.0)));
    assert!(faulty.iter().filter(|r| r.ts >= tripped).all(|r| r.status == Some(DeviceStatus::Fault)));
    assert!(faulty.iter().any(|r| r.status != Some(DeviceStatus::Fault)), "it worked before the fault");

    // The offline site: nothing after it went quiet 26 hours ago, and its last contact then.
    let quiet = started - Duration::hours(26);
    let offline = readings(id("SUNRISE-0005"), "inv-1").await;
    assert!(offline.last().unwrap().ts <= quiet + Duration::minutes(1));
    let seen = tenant.gateway(&id("SUNRISE-0005")).await.unwrap().unwrap().last_seen.unwrap();
    assert!((seen - quiet).num_minutes().abs() <= 2, "last seen {seen}, quiet since {quiet}");

    // A household meter imports at night and exports at noon: the self-consumption view has
    // both to show.
    let meter = readings(id("SUNRISE-0001"), "meter-1").await;
    let grid: Vec<f64> = meter.iter().filter_map(|r| r.metrics.get(Metric::AcPower)).collect();
    assert!(grid.iter().any(|w| *w > 0.0) && grid.iter().any(|w| *w < 0.0), "the meter only flows one way");

    // Sites with an irradiance sensor have a performance ratio, and the underperformers (both
    // with sensors) are found short of the energy their measured sun should have given. A
    // provider's yesterday is judged two hours after its midnight; one of the two providers is
    // always past that.
    let now = Utc::now();
    let monitor = heliograph_shared::alerts::Monitor::default();
    monitor.check_all(store.as_ref(), now).await.unwrap();
    let mut judged = 0;
    for (slug, healthy, poor) in [
        (&sunrise, "Bakery roof, Unterhaching", "Town hall roof"),
        (&voltwerk, "Harbourview apartments", "Surf club roof, Bondi"),
    ] {
        let tz: chrono_tz::Tz = zone(slug).parse().unwrap();
        let local = now.with_timezone(&tz);
        if local.hour() < 3 {
            continue;
        }
        judged += 1;
        let tenant = store.tenant(slug).await.unwrap();
        let gateways = tenant.gateways().await.unwrap();
        let named = |name: &str| gateways.iter().find(|g| g.site_name == name).unwrap().clone();
        let yesterday = Period::Day { date: local.date_naive().pred_opt().unwrap() };
        let mut ratios = Vec::new();
        for gateway in [named(healthy), named(poor)] {
            let devices = tenant.devices(&gateway.id).await.unwrap();
            let report =
                reports::site_report(tenant.as_ref(), &gateway, &devices, tz, yesterday, now).await.unwrap();
            ratios.push(report.performance_ratio.unwrap_or_else(|| panic!("{}: a PR", gateway.site_name)));
        }
        assert!((0.8..0.95).contains(&ratios[0]), "{healthy}: PR {}", ratios[0]);
        assert!((0.35..0.48).contains(&ratios[1]), "{poor}: PR {}", ratios[1]);
        let alerts = tenant.open_alerts().await.unwrap();
        let low = alerts
            .iter()
            .find(|a| a.kind == AlertKind::Underperformance && a.gateway == named(poor).id)
            .unwrap_or_else(|| panic!("{poor} is underperforming: {alerts:?}"));
        assert_eq!(low.basis, Some(AlertBasis::Irradiance), "{}", low.detail);
        assert!(low.detail.contains("expected from the"), "{}", low.detail);
        assert!(
            !alerts.iter().any(|a| a.kind == AlertKind::Underperformance && a.gateway == named(healthy).id),
            "{healthy} is fine: {alerts:?}"
        );
    }
    assert!(judged >= 1, "one provider is always past its judging hour");

    shutdown.cancel();
    running.await.unwrap().unwrap();
}
