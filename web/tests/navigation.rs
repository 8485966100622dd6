//! No dead ends: each site page has its own title, bars and rows drill down, a device's
//! readings open the day on view, readings page both ways from the newest, the gateways list
//! links customers, customers can be searched and sorted, and the fleet filtered by state and
//! ordered by what needs attention.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod common;

use chrono::{TimeDelta, Utc};
use common::{DAY, TestApp, site, underperforming};
use heliograph_shared::{Customer, CustomerId, EmailAddress};

fn title(html: &str) -> &str {
    html.split("<title>").nth(1).unwrap().split("</title>").next().unwrap()
}

#[tokio::test]
async fn each_site_page_has_its_own_title_with_site_view_and_date() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let site = format!("/sites/{}", sunrise.gateway);
    let mut titles = Vec::new();
    for (path, expected) in [
        (format!("{site}/day/{DAY}"), "Alice Huber site · Day Mon 1 June 2026"),
        (format!("{site}/day/2026-06-02"), "Alice Huber site · Day Tue 2 June 2026"),
        (format!("{site}/month/2026-06"), "Alice Huber site · Month June 2026"),
        (format!("{site}/year/2026"), "Alice Huber site · Year 2026"),
    ] {
        let html = app.get(&session, &path).await.unwrap().text().await.unwrap();
        assert!(title(&html).starts_with(expected), "{path}: {}", title(&html));
        titles.push(title(&html).to_owned());
    }
    titles.dedup();
    assert_eq!(titles.len(), 4);
}

#[tokio::test]
async fn a_devices_readings_link_from_a_past_day_opens_that_day() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let site = format!("/sites/{}", sunrise.gateway);
    let html = app.get(&session, &format!("{site}/day/{DAY}")).await.unwrap().text().await.unwrap();
    let link = format!("{site}/readings?device=inv-1&#38;from=2026-06-01T00%3A00&#38;to=2026-06-02T00%3A00");
    assert!(html.contains(&link), "{html}");
    let readings = app.get(&session, &link.replace("&#38;", "&")).await.unwrap().text().await.unwrap();
    assert!(
        readings.contains("<tr><td class=\"time\">2026-06-01 23:55:00</td>"),
        "the day's last reading leads"
    );
}

#[tokio::test]
async fn month_rows_and_bars_open_their_day_and_year_rows_and_bars_their_month() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let site = format!("/sites/{}", sunrise.gateway);
    let month = app.get(&session, &format!("{site}/month/2026-06")).await.unwrap().text().await.unwrap();
    assert!(
        month.contains(&format!("<a class=\"drill\" href=\"{site}/day/2026-06-01\"><rect class=\"bar s0\""))
    );
    assert!(
        month.contains(&format!("<th scope=\"row\"><a href=\"{site}/day/2026-06-01\">Mon 1 Jun</a></th>"))
    );
    let year = app.get(&session, &format!("{site}/year/2026")).await.unwrap().text().await.unwrap();
    assert!(
        year.contains(&format!("<a class=\"drill\" href=\"{site}/month/2026-06\"><rect class=\"bar s0\""))
    );
    assert!(year.contains(&format!("<a href=\"{site}/month/2026-06\">June</a>")));
    let day = app.get(&session, &format!("{site}/day/{DAY}")).await.unwrap().text().await.unwrap();
    assert!(!day.contains("class=\"drill\""), "hours have nothing to drill into");
}

#[tokio::test]
async fn readings_open_newest_first_and_page_to_older_newer_and_latest() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let base = format!("/sites/{}/readings", sunrise.gateway);
    let range = "device=inv-1&from=2026-06-01T00%3A00&to=2026-06-02T00%3A00";
    let times = |html: &str| -> Vec<String> {
        html.split("<tr><td class=\"time\">")
            .skip(1)
            .map(|r| r.split("</td>").next().unwrap().to_owned())
            .collect()
    };
    let href = |html: &str, rel: &str| -> Option<String> {
        let marker = format!("\" rel=\"{rel}\"");
        let before = html.split(&marker).next().filter(|b| b.len() < html.len())?;
        Some(before.rsplit("href=\"").next().unwrap().replace("&#38;", "&"))
    };
    let latest = app.get(&session, &format!("{base}?{range}")).await.unwrap().text().await.unwrap();
    let rows = times(&latest);
    assert_eq!(rows.len(), 100);
    assert_eq!(rows[0], "2026-06-01 23:55:00");
    assert_eq!(rows[99], "2026-06-01 15:40:00");
    assert!(href(&latest, "prev").is_none() && !latest.contains(">Latest<"), "already the latest");

    let older = href(&latest, "next").unwrap();
    let page2 = app.get(&session, &older).await.unwrap().text().await.unwrap();
    assert_eq!(times(&page2)[0], "2026-06-01 15:35:00");
    assert!(page2.contains(">Latest<"));
    let page3 = app.get(&session, &href(&page2, "next").unwrap()).await.unwrap().text().await.unwrap();
    assert_eq!(times(&page3).len(), 88, "288 readings: 100, 100, 88");
    assert_eq!(times(&page3).last().unwrap(), "2026-06-01 00:00:00");
    assert!(href(&page3, "next").is_none(), "nothing older than the first reading");

    let back = app.get(&session, &href(&page3, "prev").unwrap()).await.unwrap().text().await.unwrap();
    assert_eq!(times(&back), times(&page2), "newer from page 3 is page 2 again");
    let back = app.get(&session, &href(&page2, "prev").unwrap()).await.unwrap().text().await.unwrap();
    assert_eq!(times(&back), rows, "and newer from page 2 is the latest");
    assert!(href(&back, "prev").is_none(), "nothing newer than the latest");
}

#[tokio::test]
async fn the_gateways_list_links_each_customer() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let html = app.get(&session, "/gateways").await.unwrap().text().await.unwrap();
    assert!(html.contains(&format!("<a href=\"/customers/{}\">Alice Huber</a>", sunrise.customer)), "{html}");
}

#[tokio::test]
async fn customers_can_be_searched_and_sorted_by_any_column() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let tenant = app.store.tenant(&sunrise.slug).await.unwrap();
    for (name, email) in [("Zoe Bauer", "zoe@example.org"), ("Max Weber", "max@weber.example")] {
        tenant
            .upsert_customer(&Customer {
                id: CustomerId::new_random(),
                name: name.into(),
                emails: vec![EmailAddress::parse(email).unwrap()],
                timezone: sunrise.timezone,
                active: true,
            })
            .await
            .unwrap();
    }
    let session = app.session("sunrise").await.unwrap();
    let names = |html: &str| -> Vec<String> {
        html.split("<tr><td><a href=\"/customers/")
            .skip(1)
            .map(|r| r.split("\">").nth(1).unwrap().split('<').next().unwrap().to_owned())
            .collect()
    };
    let html = app.get(&session, "/customers").await.unwrap().text().await.unwrap();
    assert_eq!(names(&html), ["Alice Huber", "Max Weber", "Zoe Bauer"]);
    assert!(html.contains("<input type=\"search\" name=\"q\""));
    let html = app.get(&session, "/customers?q=WEBER").await.unwrap().text().await.unwrap();
    assert_eq!(names(&html), ["Max Weber"], "by name or email, any case");
    assert!(html.contains("1 of 3 customers"));
    let html = app.get(&session, "/customers?sort=name&order=desc").await.unwrap().text().await.unwrap();
    assert_eq!(names(&html), ["Zoe Bauer", "Max Weber", "Alice Huber"]);
    let html = app.get(&session, "/customers?sort=sites").await.unwrap().text().await.unwrap();
    assert_eq!(names(&html)[0], "Alice Huber", "the customer with a site first");
    assert!(html.contains("Sites ↓"));
    let html = app.get(&session, "/customers?q=nobody").await.unwrap().text().await.unwrap();
    assert!(html.contains("No customer matches “nobody”."));
}

#[tokio::test]
async fn status_chips_filter_the_fleet_and_it_sorts_with_what_needs_attention_first() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    // A site never seen (offline) and one online with an open alert, beside the seeded one.
    site(app.store.as_ref(), &sunrise.slug, "SUN-7", "Zed Ltd", "Zed roof", 5.0).await.unwrap();
    underperforming(app.store.as_ref(), &sunrise.slug, &sunrise.gateway, Utc::now() - TimeDelta::hours(1))
        .await
        .unwrap();
    let session = app.session("sunrise").await.unwrap();
    let sites = |html: &str| -> Vec<String> {
        html.split("<tr>\n    <td><a href=\"/sites/")
            .skip(1)
            .map(|r| r.split('"').next().unwrap().to_owned())
            .collect()
    };
    let all = app.get(&session, "/sites").await.unwrap().text().await.unwrap();
    assert_eq!(sites(&all), [sunrise.gateway.to_string(), "SUN-7".into()], "by name");
    assert!(
        all.contains("href=\"/sites?status=offline\" title=\"Show only offline sites\">1 offline</a>"),
        "{all}"
    );
    let offline = app.get(&session, "/sites?status=offline").await.unwrap().text().await.unwrap();
    assert_eq!(sites(&offline), ["SUN-7"]);
    let never_seen = offline.split("Zed roof").nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(
        !never_seen.contains("0 Wh") && !never_seen.contains("0.00"),
        "no zero for a silent site: {never_seen}"
    );
    assert!(offline.contains("aria-current=\"true\"") && offline.contains("Only offline sites"));
    assert!(offline.contains("of 2 · 5 kWp"), "the totals add up the sites shown");
    let online = app.get(&session, "/sites?status=online").await.unwrap().text().await.unwrap();
    assert_eq!(sites(&online), [sunrise.gateway.to_string()]);
    let fault = app.get(&session, "/sites?status=fault").await.unwrap().text().await.unwrap();
    assert!(sites(&fault).is_empty() && fault.contains("No fault site."));

    // Needs attention: offline before an online site with an alert, whatever their names.
    let sorted = app.get(&session, "/sites?sort=attention").await.unwrap().text().await.unwrap();
    assert_eq!(sites(&sorted), ["SUN-7".to_owned(), sunrise.gateway.to_string()]);
    assert!(sorted.contains("<strong class=\"meta\">Needs attention first</strong>"));
    assert!(all.contains("href=\"/sites?sort=attention\">Needs attention first</a>"));
}
