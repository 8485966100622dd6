//! A site's location and alert settings in a real browser at desktop (1280 px) and phone
//! (390 px) width: set from the gateway's page as an installer types them (the location as a map
//! copies it, the window from the browser's date picker), the availability card then saying the
//! day's sunrise and sunset, and the fleet showing the muted site. Screenshots land in
//! `target/screenshots/site-settings-*.png`.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod cdp;
mod common;

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use common::{PASSWORD, TestApp, USER, underperforming};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn location_and_quiet_time_are_set_in_the_browser_and_read_on_the_site_and_fleet() {
    tokio::time::timeout(Duration::from_secs(300), settings()).await.expect("finished in time").unwrap();
}

async fn settings() -> anyhow::Result<()> {
    let (app, sunrise, _) = TestApp::spawn().await?;
    underperforming(app.store.as_ref(), &sunrise.slug, &sunrise.gateway, Utc::now() - TimeDelta::hours(1))
        .await?;
    let until = (Utc::now() + TimeDelta::days(2)).with_timezone(&sunrise.timezone);
    let shots = cdp::screenshots();
    let mut chrome = cdp::Chromium::launch().await?;
    let tab = chrome.new_tab(false).await?;
    chrome.goto(&tab, &format!("{}/login", app.base)).await?;
    chrome.log_in(&tab, "sunrise", USER, PASSWORD).await?;
    let gateway = format!("{}/gateways/{}", app.base, sunrise.gateway);

    // The site form: a location typed as copied from a map.
    chrome.goto(&tab, &gateway).await?;
    chrome
        .eval(&tab, r#"document.querySelector('input[name="location"]').value = '52.520008, 13.404954'"#)
        .await?;
    chrome
        .click(
            &tab,
            r#"form[action$="/gateways/SUN-1"] button[type="submit"]"#,
            "location.search.includes('done=saved')",
        )
        .await?;
    // The alert form: a longer offline threshold and a maintenance window two days ahead.
    let typed = until.format("%Y-%m-%dT%H:%M").to_string();
    chrome
        .eval(
            &tab,
            &format!(
                r#"document.querySelector('input[name="offline_after_minutes"]').value = '180';
                   document.querySelector('input[name="maintenance_until"]').value = '{typed}'"#
            ),
        )
        .await?;
    chrome
        .click(
            &tab,
            r#"form[action$="/alerting"] button.primary"#,
            "location.search.includes('done=alerting')",
        )
        .await?;
    let text = chrome.text(&tab).await?;
    let muted = format!("Maintenance until {}: alerts muted", until.format("%-d %b %H:%M %Z"));
    anyhow::ensure!(text.contains(&muted), "{text}");
    anyhow::ensure!(text.contains("Alert settings of gateway SUN-1 saved"), "{text}");

    // The site's open alert, taken on from its page with a note.
    let today = format!("{}/sites/{}", app.base, sunrise.gateway);
    chrome.goto(&tab, &today).await?;
    chrome.screenshot(&tab, &shots.join("site-settings-1280-alert-open.png")).await?;
    chrome
        .eval(&tab, r#"document.querySelector('form.acknowledge input[name="note"]').value = 'technician booked for Monday'"#)
        .await?;
    chrome
        .click(&tab, "form.acknowledge button", "document.querySelector('.alert-banner .taken') !== null")
        .await?;
    let text = chrome.text(&tab).await?;
    anyhow::ensure!(text.contains(&format!("Taken on by {USER} on ")), "{text}");
    anyhow::ensure!(text.contains("technician booked for Monday"), "{text}");

    for (width, height, mobile) in [(1280, 900, false), (390, 844, true)] {
        chrome.viewport(&tab, width, height, mobile).await?;
        let shot = |name: &str| shots.join(format!("site-settings-{width}-{name}.png"));
        chrome.goto(&tab, &format!("{gateway}#alerting")).await?;
        chrome.screenshot(&tab, &shot("gateway")).await?;
        chrome.goto(&tab, &today).await?;
        chrome.screenshot(&tab, &shot("alert-taken")).await?;
        chrome.goto(&tab, &format!("{}/sites/{}/day/{}", app.base, sunrise.gateway, common::DAY)).await?;
        let text = chrome.text(&tab).await?;
        anyhow::ensure!(
            text.contains("daylight: sunrise 04:") || text.contains("daylight: sunrise 05:"),
            "{text}"
        );
        chrome.screenshot(&tab, &shot("day")).await?;
        chrome.goto(&tab, &format!("{}/sites", app.base)).await?;
        let text = chrome.text(&tab).await?;
        anyhow::ensure!(text.contains(&muted), "the fleet says the site is muted: {text}");
        let scrolls = chrome.eval(&tab, "document.documentElement.scrollWidth > window.innerWidth").await?;
        anyhow::ensure!(scrolls == serde_json::Value::Bool(false), "no sideways scrolling at {width} px");
        chrome.screenshot(&tab, &shot("fleet")).await?;
    }
    anyhow::ensure!(chrome.console_errors(&tab).is_empty(), "{:?}", chrome.console_errors(&tab));
    chrome.close().await
}
