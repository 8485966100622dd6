//! Missing data is not a zero: a day before the site's first reading, a period to come and a
//! month with silent days each say what they are, on the page, in the chart, the CSV and the API,
//! while a measured zero still reads as one.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod common;

use chrono::{Datelike, TimeDelta, Utc};
use common::{DAY, TestApp, site};
use heliograph_shared::reports::period::local_date;

#[tokio::test]
async fn a_day_before_the_first_reading_says_not_yet_commissioned_instead_of_zero() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let page = app.get(&session, &format!("/sites/{}/day/2026-05-31", sunrise.gateway)).await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Not yet commissioned: the site&#39;s first data arrived on 2026-06-01 00:00."),
        "{html}"
    );
    assert!(!html.contains("0 Wh") && !html.contains("0.0 %"), "no figure pretends to be measured");
    assert!(!html.contains("<svg class=\"chart\""), "no chart of zeros");
    let may = app.get(&session, &format!("/sites/{}/month/2026-05", sunrise.gateway)).await.unwrap();
    assert!(may.text().await.unwrap().contains("Not yet commissioned"));
}

#[tokio::test]
async fn a_future_period_says_so_and_the_arrows_stop_at_today() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let site = format!("/sites/{}", sunrise.gateway);
    let today = local_date(sunrise.timezone, Utc::now());
    let tomorrow = today.succ_opt().unwrap();
    let html = app.get(&session, &format!("{site}/day/{tomorrow}")).await.unwrap().text().await.unwrap();
    assert!(html.contains("This period is in the future"), "{html}");
    assert!(!html.contains("<svg class=\"chart\"") && !html.contains("0 Wh"));
    let next_year = today.year() + 1;
    let html =
        app.get(&session, &format!("{site}/month/{next_year}-03")).await.unwrap().text().await.unwrap();
    assert!(html.contains("This period is in the future"));
    for path in [
        format!("{site}/day/{today}"),
        format!("{site}/month/{}", today.format("%Y-%m")),
        format!("{site}/year/{}", today.year()),
    ] {
        let html = app.get(&session, &path).await.unwrap().text().await.unwrap();
        assert!(!html.contains("rel=\"next\""), "{path} links to a period to come");
        assert!(html.contains("aria-disabled=\"true\""), "{path} shows the arrow as unavailable");
        assert!(html.contains("rel=\"prev\""), "{path} can still go back");
    }
    let past = app.get(&session, &format!("{site}/day/{DAY}")).await.unwrap().text().await.unwrap();
    assert!(past.contains(&format!("{site}/day/2026-06-02\" rel=\"next\"")));
}

#[tokio::test]
async fn a_month_with_silent_days_shows_them_as_no_data_in_the_table_chart_and_csv() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let site = format!("/sites/{}", sunrise.gateway);
    let html = app.get(&session, &format!("{site}/month/2026-06")).await.unwrap().text().await.unwrap();
    // Each chart is drawn twice, for wide and for narrow screens.
    assert_eq!(html.matches("class=\"bar s0\"").count(), 2, "only the measured day has a bar");
    assert_eq!(html.matches("<rect class=\"gap no-data\"").count(), 2 * 29, "the silent days are gaps");
    assert_eq!(html.matches("<tr class=\"missing\"><th scope=\"row\">").count(), 29);
    assert!(html.contains("<td class=\"num\">No data</td>"));
    assert!(!html.contains(">0 kWh<"), "a silent day is not a zero");
    let csv = app.get(&session, &format!("{site}/month/2026-06/csv")).await.unwrap().text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[1].ends_with(",measured") && !lines[1].contains(",,,,"), "{}", lines[1]);
    assert!(lines[2].starts_with("2026-06-02T00:00:00+02:00,2026-06-03T00:00:00+02:00,,,,"), "{}", lines[2]);
    assert!(lines[2].ends_with(",no_data"));
}

#[tokio::test]
async fn a_measured_zero_at_night_is_still_a_zero() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let html = app
        .get(&session, &format!("/sites/{}/day/{DAY}", sunrise.gateway))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let night = html.split("00:00–01:00</th>").nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(night.starts_with("<td class=\"num\">0 kWh</td>"), "{night}");
    assert!(!html.contains("class=\"missing\""), "every hour of the day was measured");
}

#[tokio::test]
async fn the_api_says_which_buckets_were_measured() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let report: serde_json::Value = app
        .api(&sunrise.api_token, &format!("/sites/{}/month/2026-06", sunrise.gateway))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["coverage"], "data");
    assert_eq!(report["buckets"][0]["coverage"], "data");
    assert_eq!(report["buckets"][1]["coverage"], "no_data");
    let tomorrow = local_date(sunrise.timezone, Utc::now() + TimeDelta::days(1));
    let future: serde_json::Value = app
        .api(&sunrise.api_token, &format!("/sites/{}/day/{tomorrow}", sunrise.gateway))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(future["coverage"], "future");
}

#[tokio::test]
async fn the_api_gives_no_production_today_for_a_site_silent_today() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    site(app.store.as_ref(), &sunrise.slug, "SUN-7", "Zed Ltd", "Zed roof", 5.0).await.unwrap();
    let sites: serde_json::Value = app.api(&sunrise.api_token, "/sites").await.unwrap().json().await.unwrap();
    let today = |id: &str| {
        sites.as_array().unwrap().iter().find(|s| s["id"] == id).unwrap()["today_production_wh"].clone()
    };
    assert!(today("SUN-7").is_null(), "never seen: no figure, not 0");
    assert!(today(sunrise.gateway.as_str()).is_f64(), "reporting today: a figure");
}
