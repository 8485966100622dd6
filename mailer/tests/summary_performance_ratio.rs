//! The summary email gives the performance ratio of a site with an irradiance sensor, and no
//! such line for a site without one, over real SMTP.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use common::{customer, inverter_readings, mailer, parse, part, provider, settings, site, write};
use heliograph_mailer::Delivered;
use heliograph_mailer::summary::SummaryPeriod;
use heliograph_shared::store::{self, Store, StoreSettings};
use heliograph_shared::{DeviceId, DeviceKind, Metric, Metrics, Reading, ReportSchedule};

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("valid timestamp").with_timezone(&Utc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daily_summary_gives_the_performance_ratio_of_a_site_with_an_irradiance_sensor() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store: Arc<dyn Store> = store::open(&StoreSettings::Embedded { data_dir: dir.path().join("data") })
        .await
        .expect("store opens");
    let tenant = provider(&store, "sunny", ReportSchedule::Daily).await;
    let owner = customer(&tenant, "Huber family", "huber@example.com", chrono_tz::Europe::Berlin).await;
    let with = site(&tenant, "GW-PR", "Huber barn", owner.id, 10.0).await;
    let without = site(&tenant, "GW-NO", "Huber house", owner.id, 10.0).await;

    // 10:00 to 13:00 Berlin (08:00 to 11:00 UTC) on 3 June 2026, every five minutes: 8 kW on a
    // 10 kWp plant under 1000 W/m². 36 steps: 24 kWh, Yf = 2.4 h; 3 kWh/m², Yr = 3 h; PR 0.8.
    let (from, to) = (utc("2026-06-03T08:00:00Z"), utc("2026-06-03T11:05:00Z"));
    let counter = |ts: DateTime<Utc>| 500_000.0 + 8_000.0 * (ts - from).num_minutes() as f64 / 60.0;
    for gateway in [&with, &without] {
        let step = TimeDelta::minutes(5);
        write(
            &tenant,
            inverter_readings(&gateway.id, "inv-1", from, to, step, counter, |_| 8_000.0),
            DeviceKind::Inverter,
        )
        .await;
    }
    let mut sun = Vec::new();
    let mut ts = from;
    while ts < to {
        let mut metrics = Metrics::default();
        metrics.set(Metric::Irradiance, 1_000.0).expect("valid irradiance");
        sun.push(Reading {
            gateway: with.id.clone(),
            device: DeviceId::parse("poa-1").expect("valid id"),
            ts,
            status: None,
            metrics,
        });
        ts += TimeDelta::minutes(5);
    }
    write(&tenant, sun, DeviceKind::IrradianceSensor).await;

    let smtp = common::SmtpServer::start(&dir.path().join("received"));
    let mailer = mailer(Arc::clone(&store), settings(smtp.port));
    let day = SummaryPeriod::parse("2026-06-03").expect("a day");
    let sent = mailer.send_summary(&tenant.provider().clone(), owner.id, day, false).await.expect("sent");
    assert_eq!(sent, Delivered::Sent);
    let messages = smtp.wait_for(1, Duration::from_secs(20));
    let mail = parse(&messages[0]);
    let text = part(&mail, "text/plain").expect("a plain text part");
    let barn = text.split("* Huber barn").nth(1).expect("the barn's block");
    let barn = barn.split("\n* ").next().unwrap_or(barn);
    assert!(barn.contains("Performance ratio: 80.0 %"), "{text}");
    let house = text.split("* Huber house").nth(1).expect("the house's block");
    let house = house.split("\n* ").next().unwrap_or(house);
    assert!(!house.contains("Performance ratio"), "no ratio without a sensor: {text}");
    let html = part(&mail, "text/html").expect("an HTML part");
    assert_eq!(html.matches("Performance ratio").count(), 1, "{html}");
    assert!(html.contains("80.0 %"), "{html}");
}
