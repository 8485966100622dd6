//! Alerts end to end: a site goes silent in daylight and a device reports a fault; the monitor
//! opens an alert for each (two monitors checking open each once), the customer gets one email
//! when they open and one when they clear, never more than one per slot, over a real SMTP server
//! process; the alerts stay in the store for the panel.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use heliograph_shared::alerts::Monitor;
use heliograph_shared::store::TenantStore;
use heliograph_shared::{AlertKind, DeviceKind, DeviceStatus, Reading, ReportSchedule};

use common::*;

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("valid timestamp").with_timezone(&Utc)
}

/// Five-minute readings of one device in `[from, to)` with `status`.
async fn report(
    tenant: &Arc<dyn TenantStore>,
    site: &heliograph_shared::Gateway,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    status: DeviceStatus,
) {
    let readings: Vec<Reading> = inverter_readings(
        &site.id,
        "inv-1",
        from,
        to,
        TimeDelta::minutes(5),
        |t| t.timestamp() as f64 / 100.0,
        |_| 900.0,
    )
    .into_iter()
    .map(|r| Reading { status: Some(status.clone()), ..r })
    .collect();
    write(tenant, readings, DeviceKind::Inverter).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_mails_once_when_it_opens_and_once_when_it_clears_and_never_storms() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = embedded_store(dir.path()).await;
    let tenant = provider(&store, "sunny", ReportSchedule::Never).await;
    let customer = customer(&tenant, "Huber family", "huber@example.com", chrono_tz::Europe::Berlin).await;
    let home = site(&tenant, "GW-HOME", "Huber residence", customer.id, 9.8).await;
    let barn = site(&tenant, "GW-BARN", "Huber barn", customer.id, 20.0).await;

    // 10 June, 12:00 in Berlin (10:00 UTC). The home site went silent at 09:00 local; the barn's
    // inverter has reported a fault for the last half hour.
    let now = utc("2026-06-10T10:00:00Z");
    report(&tenant, &home, utc("2026-06-10T04:00:00Z"), utc("2026-06-10T07:00:00Z"), DeviceStatus::Producing)
        .await;
    report(&tenant, &barn, utc("2026-06-10T09:30:00Z"), now, DeviceStatus::Fault).await;

    let smtp = SmtpServer::start(&dir.path().join("received"));
    let mailer = mailer(Arc::clone(&store), settings(smtp.port));
    // Two monitors (two processes) check at the same moment: each alert opens once.
    let (monitor, other_monitor) = (Monitor::default(), Monitor::default());
    let (opened, also) =
        tokio::join!(monitor.check_all(store.as_ref(), now), other_monitor.check_all(store.as_ref(), now));
    let (opened, also) = (opened.expect("alerts checked"), also.expect("alerts checked"));
    assert_eq!((opened.opened + also.opened, opened.cleared + also.cleared), (2, 0));
    // A later check changes nothing: one open alert per condition.
    let again = other_monitor.check_all(store.as_ref(), now + TimeDelta::minutes(5)).await.expect("checked");
    assert_eq!(again.opened, 0);
    let open = tenant.open_alerts().await.expect("open alerts");
    let mut kinds: Vec<AlertKind> = open.iter().map(|a| a.kind).collect();
    kinds.sort();
    assert_eq!(kinds, [AlertKind::SiteOffline, AlertKind::DeviceFault]);

    let round = mailer.round(now + TimeDelta::minutes(5)).await.expect("a round");
    assert_eq!(round.sent, 1, "both openings in one email");
    let first = smtp.wait_for(1, Duration::from_secs(10));
    assert_eq!(first.len(), 1);
    let mail = parse(&first[0]);
    assert_eq!(header(&mail, "Subject").as_deref(), Some("Sunny Solar: 2 new alerts at your solar plants"));
    let text = part(&mail, "text/plain").expect("a text part");
    assert!(text.contains("Site offline · Huber residence"), "{text}");
    assert!(text.contains("Device fault · Huber barn, device inv-1"), "{text}");
    assert!(header(&mail, "List-Unsubscribe").is_some_and(|u| u.contains(".alerts.")));

    // Both conditions pass within the same hour: the clearing waits for the next slot.
    let later = now + TimeDelta::minutes(20);
    report(&tenant, &home, later - TimeDelta::minutes(10), later, DeviceStatus::Producing).await;
    report(&tenant, &barn, later - TimeDelta::minutes(10), later, DeviceStatus::Producing).await;
    let cleared = monitor.check_all(store.as_ref(), later).await.expect("alerts checked");
    assert_eq!((cleared.opened, cleared.cleared), (0, 2));
    assert!(tenant.open_alerts().await.expect("open alerts").is_empty());
    let held = mailer.round(later).await.expect("a round");
    assert_eq!(held.sent, 0, "one alert email per customer per hour at most");

    let next_hour = utc("2026-06-10T11:00:00Z");
    assert_eq!(mailer.round(next_hour).await.expect("a round").sent, 1);
    assert_eq!(mailer.round(next_hour + TimeDelta::minutes(1)).await.expect("a round").sent, 0);
    let all = smtp.wait_for(3, Duration::from_millis(500));
    assert_eq!(all.len(), 2, "one email for the openings, one for the clearings");
    let second = all
        .iter()
        .map(|m| parse(m))
        .find(|m| header(m, "Subject").is_some_and(|s| s.contains("cleared")))
        .expect("the clearing email");
    assert_eq!(
        header(&second, "Subject").as_deref(),
        Some("Sunny Solar: 2 alerts cleared at your solar plants")
    );

    // The alerts stay in the store, for the panel and for the period's summary.
    let history =
        tenant.customer_alerts(customer.id, now - TimeDelta::hours(1)..next_hour).await.expect("history");
    assert_eq!(history.len(), 2);
    assert!(history.iter().all(|a| a.cleared_at == Some(later)));
}
