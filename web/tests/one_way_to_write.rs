//! One quantity reads the same on every surface: a day's production on the panel's day view,
//! in the month's CSV export and in the customer's daily summary email; a device's energy
//! counter on the readings page and in the readings CSV.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod common;

use std::sync::Arc;

use chrono::Utc;
use common::{DAY, TestApp};
use heliograph_mailer::MailerSettings;
use heliograph_mailer::service::MailContext;
use heliograph_mailer::summary::SummaryPeriod;
use heliograph_mailer::summary::email;
use heliograph_shared::format;
use heliograph_shared::roster::Roster;

/// The text between `before` and the next `after` in `html`.
fn between<'a>(html: &'a str, before: &str, after: &str) -> &'a str {
    let start = html.find(before).unwrap_or_else(|| panic!("{before:?} in the page")) + before.len();
    let len = html[start..].find(after).unwrap_or_else(|| panic!("{after:?} after {before:?}"));
    &html[start..start + len]
}

/// The column named `name` of the CSV row whose first field starts with `first`.
fn csv_field(csv: &str, first: &str, name: &str) -> String {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("{name} in {header:?}"));
    let row = lines.find(|l| l.starts_with(first)).unwrap_or_else(|| panic!("a row starting {first}"));
    row.split(',').nth(column).unwrap().trim_matches('"').to_owned()
}

#[tokio::test]
async fn a_days_production_reads_the_same_on_the_panel_in_the_csv_and_in_the_email() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let site = format!("/sites/{}", sunrise.gateway);

    let page = app.get(&session, &format!("{site}/day/{DAY}")).await.unwrap().text().await.unwrap();
    let panel =
        between(&page, r#"<div class="label">Production</div><div class="value">"#, "</div>").to_owned();
    assert!(panel.ends_with(" kWh"), "{panel}");

    let csv = app.get(&session, &format!("{site}/month/2026-06/csv")).await.unwrap().text().await.unwrap();
    let kwh: f64 = csv_field(&csv, "2026-06-01T00:00:00+02:00", "production_kwh").parse().unwrap();
    let from_csv = format::energy(kwh * 1_000.0);

    let provider = app.store.provider(&sunrise.slug).await.unwrap().unwrap();
    let roster = Roster::load(app.store.as_ref(), provider).await.unwrap();
    let customer = app.store.tenant(&sunrise.slug).await.unwrap().customers().await.unwrap().remove(0);
    let context =
        MailContext { settings: Arc::new(MailerSettings::default()), unsubscribe: common::unsubscribe_key() };
    let day = SummaryPeriod::parse(DAY).unwrap();
    let mail = email::render(&context, &roster, &customer, day, Utc::now()).await.unwrap();
    let in_text = between(&mail.text, "Energy produced: ", "\n").trim().to_owned();

    assert_eq!(panel, format::energy(sunrise.day_production_wh), "the panel follows the shared rule");
    assert_eq!(from_csv, panel, "CSV {kwh} kWh");
    assert_eq!(in_text, panel, "the email's text part");
    assert!(mail.html.contains(&panel), "the email's HTML part carries {panel}");
}

#[tokio::test]
async fn an_energy_counter_reads_the_same_on_the_readings_page_and_in_its_csv() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let range = "device=inv-1&from=2026-06-01T12%3A00&to=2026-06-01T12%3A05";
    let base = format!("/sites/{}/readings", sunrise.gateway);

    let page = app.get(&session, &format!("{base}?{range}")).await.unwrap().text().await.unwrap();
    let heading = format::metric_label(heliograph_shared::Metric::Energy);
    let headings: Vec<&str> = page
        .split("<th class=\"num\" scope=\"col\">")
        .skip(1)
        .map(|h| h.split('<').next().unwrap())
        .collect();
    let column =
        headings.iter().position(|h| *h == heading).unwrap_or_else(|| panic!("{heading} in {headings:?}"));
    let row = between(&page, r#"<tr><td class="time">2026-06-01 12:00:00</td>"#, "</tr>");
    let cells: Vec<&str> =
        row.split(r#"<td class="num">"#).skip(1).map(|c| c.split('<').next().unwrap()).collect();
    let on_page = cells[column].to_owned();

    let csv = app.get(&session, &format!("{base}/csv?{range}")).await.unwrap().text().await.unwrap();
    let stored = csv_field(&csv, "2026-06-01T10:00:00Z", "energy_wh");
    let decimals = stored.split_once('.').map_or(0, |(_, d)| d.len());
    assert!(decimals <= 1, "Wh at the counter's resolution, no float noise: {stored}");
    let wh: f64 = stored.parse().unwrap();
    assert_eq!(format::counter(wh), on_page, "the page writes the CSV's {stored} Wh");
    assert!(on_page.ends_with(" kWh") && !on_page.contains('.'), "whole kWh: {on_page}");
}

#[tokio::test]
async fn a_quarantined_readings_time_is_written_in_the_sites_clock_like_every_other_time() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let now = Utc::now();
    let mut batch = heliograph_shared::store::WriteBatch::new(sunrise.gateway.clone(), now);
    for (device, ts) in [("inv-1", "2026-12-07T01:05:43Z"), ("inv-2", "yesterday noon")] {
        batch.quarantined.push(heliograph_shared::QuarantinedReading {
            gateway: sunrise.gateway.clone(),
            received_at: now,
            seq: None,
            device: device.into(),
            ts: ts.into(),
            reason: "a test reading".into(),
            content: "ac_power=1 W".into(),
        });
    }
    app.store.tenant(&sunrise.slug).await.unwrap().write_batch(batch).await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let page = app.get(&session, "/quarantine").await.unwrap().text().await.unwrap();
    assert!(page.contains("<td>2026-12-07 02:05</td>"), "Berlin time, the panel's one format:\n{page}");
    assert!(!page.contains("01:05:43Z"));
    assert!(page.contains("<td>yesterday noon</td>"), "a time that is none is shown as sent");
}
