//! Summaries delivered to a real SMTP server process (aiosmtpd), parsed back and checked against
//! the readings written: totals, multipart structure, headers, and the period's bounds in a
//! timezone with a DST change in it.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use heliograph_mailer::Delivered;
use heliograph_mailer::summary::SummaryPeriod;
use heliograph_shared::{
    Alert, AlertKind, DeviceId, DeviceKind, Metric, Metrics, Reading, ReportSchedule, UnsubscribeScope,
};

use common::*;

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("valid timestamp").with_timezone(&Utc)
}

/// Wh the inverter makes in the ten minutes before `t`: by day (06-20 Berlin time) 60-200 Wh
/// depending on the day's weather, 40 Wh at night, so that a period read in the wrong timezone
/// or with the wrong DST offset has a different total.
fn step_wh(t: DateTime<Utc>) -> f64 {
    let local = t.with_timezone(&chrono_tz::Europe::Berlin);
    let weather = [1.0, 0.9, 0.5, 0.8, 1.0, 0.3, 0.7, 0.95, 0.6, 0.85, 1.0];
    let day = local.format("%j").to_string().parse::<usize>().unwrap_or(0);
    if (6..20).contains(&local.hour()) { (200.0_f64 * weather[day % weather.len()]).round() } else { 40.0 }
}

/// The meter's import and export counters rise by these Wh per ten minutes: import at night,
/// export by day.
fn meter_step_wh(t: DateTime<Utc>) -> (f64, f64) {
    let local = t.with_timezone(&chrono_tz::Europe::Berlin);
    if (6..20).contains(&local.hour()) { (0.0, 90.0) } else { (25.0, 0.0) }
}

struct Plant {
    readings: Vec<(DateTime<Utc>, f64)>,
}

impl Plant {
    /// The counter at the last reading before `t`.
    fn counter_before(&self, t: DateTime<Utc>) -> f64 {
        self.readings.iter().take_while(|(ts, _)| *ts < t).last().map_or(0.0, |(_, c)| *c)
    }

    /// Energy the report should credit to `bounds`, kWh: the counter's rise between the last
    /// readings before each end (readings are every ten minutes, no gaps).
    fn kwh(&self, bounds: std::ops::Range<DateTime<Utc>>) -> f64 {
        (self.counter_before(bounds.end) - self.counter_before(bounds.start)) / 1000.0
    }
}

/// "<label>: 1 234 kWh" (a narrow no-break space between thousands) → 1234.0.
fn figure(text: &str, label: &str) -> f64 {
    let prefix = format!("{label}:");
    let line =
        text.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("a {label:?} line in {text}"));
    let number: String =
        line.trim_start_matches(&prefix).trim().trim_end_matches("kWh").trim().replace('\u{202f}', "");
    number.parse().unwrap_or_else(|_| panic!("a number in {line:?}"))
}

fn produced_in(text: &str) -> f64 {
    figure(text, "Energy produced")
}

fn mail_dir() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("mail")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monthly_and_daily_summaries_arrive_with_totals_headers_and_dst_correct_bounds() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = embedded_store(dir.path()).await;
    let tenant = provider(&store, "sunny", ReportSchedule::Monthly).await;
    let customer = customer(&tenant, "Huber family", "huber@example.com", chrono_tz::Europe::Berlin).await;
    let site = site(&tenant, "GW-H1", "Huber residence", customer.id, 9.8).await;

    // Ten-minute readings from 25 February to 2 April, across the 29 March DST change.
    let (from, to) = (utc("2026-02-25T00:00:00Z"), utc("2026-04-02T00:00:00Z"));
    let mut counter = 1_000_000.0;
    let mut plant = Plant { readings: Vec::new() };
    let mut t = from;
    while t < to {
        counter += step_wh(t);
        plant.readings.push((t, counter));
        t += TimeDelta::minutes(10);
    }
    let counters = plant.readings.clone();
    let readings = inverter_readings(
        &site.id,
        "inv-1",
        from,
        to,
        TimeDelta::minutes(10),
        |ts| counters.iter().find(|(at, _)| *at == ts).map_or(0.0, |(_, c)| *c),
        |ts| step_wh(ts) * 6.0,
    );
    write(&tenant, readings, DeviceKind::Inverter).await;
    // A grid meter with import and export counters.
    let (mut import, mut export) = (50_000.0, 80_000.0);
    let mut meter = Vec::new();
    let mut t = from;
    while t < to {
        let (i, e) = meter_step_wh(t);
        (import, export) = (import + i, export + e);
        let mut metrics = Metrics::default();
        metrics.set(Metric::ImportEnergy, import).expect("valid");
        metrics.set(Metric::ExportEnergy, export).expect("valid");
        meter.push(Reading {
            gateway: site.id.clone(),
            device: DeviceId::parse("meter-1").expect("valid"),
            ts: t,
            status: None,
            metrics,
        });
        t += TimeDelta::minutes(10);
    }
    let meter_counters: Vec<(DateTime<Utc>, f64, f64)> = meter
        .iter()
        .map(|r| {
            (
                r.ts,
                r.metrics.get(Metric::ImportEnergy).unwrap_or(0.0),
                r.metrics.get(Metric::ExportEnergy).unwrap_or(0.0),
            )
        })
        .collect();
    write(&tenant, meter, DeviceKind::Meter).await;
    // A fault on 12 March, 10:00-12:30 local, cleared.
    let fault = Alert::open(
        AlertKind::DeviceFault,
        site.id.clone(),
        Some(DeviceId::parse("inv-1").expect("valid")),
        Some(customer.id),
        utc("2026-03-12T09:00:00Z"),
        "the device reports a fault".into(),
    );
    assert!(tenant.open_alert(&fault).await.expect("alert stored"));
    assert!(tenant.clear_alert(&fault, utc("2026-03-12T11:30:00Z")).await.expect("alert cleared"));

    let smtp = SmtpServer::start(&dir.path().join("received"));
    let mailer = mailer(Arc::clone(&store), settings(smtp.port));

    // The month of March 2026 in Berlin: 28 Feb 23:00 UTC to 31 Mar 22:00 UTC (DST on the 29th).
    let march = SummaryPeriod::parse("2026-03").expect("a month");
    let sent =
        mailer.send_summary(&tenant.provider().clone(), customer.id, march, false).await.expect("sent");
    assert_eq!(sent, Delivered::Sent);
    // A second request without force finds it sent and sends nothing.
    let again =
        mailer.send_summary(&tenant.provider().clone(), customer.id, march, false).await.expect("checked");
    assert!(matches!(again, Delivered::Skipped(_)), "{again:?}");

    let day = SummaryPeriod::parse("2026-03-29").expect("a day");
    assert_eq!(
        mailer.send_summary(&tenant.provider().clone(), customer.id, day, false).await.expect("sent"),
        Delivered::Sent
    );

    let messages = smtp.wait_for(2, Duration::from_secs(20));
    assert_eq!(messages.len(), 2, "one monthly and one daily summary, nothing twice");
    let parsed: Vec<_> = messages.iter().map(|m| parse(m)).collect();
    let monthly = parsed
        .iter()
        .find(|m| header(m, "Subject").is_some_and(|s| s.contains("March 2026") && s.contains("monthly")))
        .expect("the monthly summary");
    let daily = parsed
        .iter()
        .find(|m| header(m, "Subject").is_some_and(|s| s.contains("Sunday 29 March 2026")))
        .expect("the daily summary");

    // Headers: branded sender, recipient, one-click unsubscribe with a valid signed token.
    assert_eq!(header(monthly, "From").as_deref(), Some("\"Sunny Solar\" <reports@sunny.example>"));
    assert_eq!(header(monthly, "To").as_deref(), Some("huber@example.com"));
    assert_eq!(header(monthly, "List-Unsubscribe-Post").as_deref(), Some("List-Unsubscribe=One-Click"));
    let unsubscribe = header(monthly, "List-Unsubscribe").expect("List-Unsubscribe");
    let url = unsubscribe.trim_start_matches('<').trim_end_matches('>');
    let token =
        url.strip_prefix("https://panel.sunny.example/unsubscribe/").expect("the panel's unsubscribe URL");
    let named = unsubscribe_key().verify(token).expect("a valid token");
    assert_eq!((named.customer, named.scope), (customer.id, UnsubscribeScope::Summaries));
    assert_eq!(
        header(monthly, "Message-ID").as_deref(),
        Some(format!("<summary.2026-03.{}@sunny.example>", customer.id).as_str())
    );

    // Structure: multipart/alternative with plain text then HTML, each carrying the total.
    assert_eq!(monthly.ctype.mimetype, "multipart/alternative");
    let types: Vec<&str> = monthly.subparts.iter().map(|p| p.ctype.mimetype.as_str()).collect();
    assert_eq!(types, ["text/plain", "text/html"]);
    let text = part(monthly, "text/plain").expect("a text part");
    let html = part(monthly, "text/html").expect("an HTML part");
    assert!(html.contains("max-width:600px"), "readable on a phone");
    assert!(html.contains(url), "the unsubscribe link is in the body too");
    assert!(html.contains("Huber residence") && html.contains("inv-1"), "per-site and per-device rows");

    // Totals against the readings, in Berlin time.
    let tz = chrono_tz::Europe::Berlin;
    let bounds = march.bounds(tz);
    assert_eq!((bounds.start, bounds.end), (utc("2026-02-28T23:00:00Z"), utc("2026-03-31T22:00:00Z")));
    let expected = plant.kwh(bounds.clone());
    let got = produced_in(&text);
    assert!((got - expected).abs() <= 0.5, "monthly total {got} kWh, readings say {expected:.3} kWh");
    assert!(
        html.contains(&heliograph_mailer::presentation::kwh(expected)),
        "HTML total {}",
        heliograph_mailer::presentation::kwh(expected)
    );
    // The meter's figures: import and export from its counters, consumption and
    // self-consumption from those and production.
    let before = |t: DateTime<Utc>| {
        meter_counters.iter().take_while(|(ts, _, _)| *ts < t).last().map_or((0.0, 0.0), |(_, i, e)| (*i, *e))
    };
    let ((i0, e0), (i1, e1)) = (before(bounds.start), before(bounds.end));
    let (imported, exported) = ((i1 - i0) / 1000.0, (e1 - e0) / 1000.0);
    assert!((figure(&text, "Drawn from the grid") - imported).abs() <= 0.05, "import {imported}");
    assert!((figure(&text, "Fed into the grid") - exported).abs() <= 0.5, "export {exported}");
    assert!((figure(&text, "Self-consumed") - (expected - exported)).abs() <= 0.5);
    assert!((figure(&text, "Consumed") - (expected + imported - exported)).abs() <= 0.5);
    // The fault of 12 March is listed with its times in Berlin.
    assert!(text.contains("Device fault · Huber residence, device inv-1"), "{text}");
    assert!(text.contains("2026-03-12 10:00 – 2026-03-12 12:30"), "{text}");
    // February had data on its last four days only: no baseline, so no change is claimed.
    assert!(!text.contains("compared with February 2026"), "{text}");

    // The DST day has 23 hours, starting 28 March 23:00 UTC; its total is exactly that span's.
    let day_bounds = day.bounds(tz);
    assert_eq!(
        (day_bounds.start, day_bounds.end),
        (utc("2026-03-28T23:00:00Z"), utc("2026-03-29T22:00:00Z"))
    );
    let day_text = part(daily, "text/plain").expect("a text part");
    let day_expected = plant.kwh(day_bounds);
    let day_got = produced_in(&day_text);
    assert!(
        (day_got - day_expected).abs() <= 0.05,
        "daily total {day_got} kWh, readings say {day_expected:.3} kWh"
    );
    // Read as a 24-hour UTC day or with the wrong offset, the total would differ.
    assert!((plant.kwh(utc("2026-03-29T00:00:00Z")..utc("2026-03-30T00:00:00Z")) - day_got).abs() > 0.05);
    // The day before had data all day: the change against it is shown.
    assert!(day_text.contains("compared with Saturday 28 March 2026"), "{day_text}");
    let chart_rows = day_text.lines().filter(|l| l.contains(" |")).count();
    assert_eq!(chart_rows, 23, "one bar per hour of the 23-hour day");

    // Keep one rendered summary for people to look at (and screenshot).
    let out = mail_dir();
    std::fs::create_dir_all(&out).expect("target/mail");
    std::fs::write(out.join("summary.html"), &html).expect("summary.html written");
    std::fs::write(out.join("summary.txt"), &text).expect("summary.txt written");
    screenshot_on_a_phone(&out.join("summary.html"), &out.join("summary.png"));
}

/// Renders the saved email in headless Chromium at a phone's width (`$HELIOGRAPH_CHROMIUM`, else
/// `/usr/bin/chromium`; the test command installs it) and checks a picture came out.
fn screenshot_on_a_phone(html: &std::path::Path, png: &std::path::Path) {
    let chromium = std::env::var_os("HELIOGRAPH_CHROMIUM").unwrap_or_else(|| "/usr/bin/chromium".into());
    let _ = std::fs::remove_file(png);
    let profile = tempfile::tempdir().expect("a browser profile directory");
    let status = std::process::Command::new(&chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .args(["--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=420,1500"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.canonicalize().expect("summary.html exists").display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap_or_else(|e| {
            panic!("cannot run {chromium:?} (apt-get install chromium, or set HELIOGRAPH_CHROMIUM): {e}")
        });
    assert!(status.success(), "chromium failed to screenshot the summary");
    let size = std::fs::metadata(png).map(|m| m.len()).unwrap_or(0);
    assert!(size > 10_000, "the screenshot of the summary is {size} bytes: nothing rendered?");
}
