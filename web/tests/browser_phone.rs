//! The panel on a phone (390 × 844 CSS px, headless Chromium over the DevTools protocol): every
//! page fits the screen without sideways scrolling and keeps its key facts in view: the fleet's
//! status and alerts, every menu entry, charts drawn for the width with legible ticks, readings'
//! times on one line. A keyboard user's first Tab lands on "Skip to content".
//! Screenshots land in `target/screenshots/phone-*.png`.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod cdp;
mod common;

use std::time::Duration;

use chrono::{Datelike, TimeDelta, Timelike, Utc};
use chrono_tz::Tz;
use common::{PASSWORD, TestApp, USER, empty_store, provider, readings, site, underperforming, write};
use heliograph_shared::reports::period::local_date;
use heliograph_shared::store::Store;
use heliograph_shared::{GatewayId, ProviderSlug};
use heliograph_web::WebSettings;
use serde_json::json;

const WIDTH: u32 = 390;
const HEIGHT: u32 = 844;

/// `sunrise` with three sites and a week of history: one online, one offline for five hours,
/// one with an open alert, so that the fleet shows each status and an alert line.
async fn seed(store: &dyn Store, now: chrono::DateTime<Utc>) -> anyhow::Result<()> {
    let slug = ProviderSlug::parse("sunrise")?;
    let tz: Tz = "Europe/Berlin".parse().map_err(|_| anyhow::anyhow!("zone"))?;
    provider(store, &slug, "Sunrise Solar Installers", tz).await?;
    let start = (now - TimeDelta::days(8))
        .with_minute(0)
        .unwrap()
        .with_second(0)
        .unwrap()
        .with_nanosecond(0)
        .unwrap();
    for (index, (id, customer, name, kwp, until)) in [
        ("SUN-1", "Huber family", "Huber residence", 9.8, now),
        ("SUN-2", "Bakery Maier", "Bakery Maier, roof", 24.0, now),
        ("SUN-3", "Town of Aying", "Town hall roof", 15.0, now - TimeDelta::hours(5)),
    ]
    .into_iter()
    .enumerate()
    {
        let (_, gateway) = site(store, &slug, id, customer, name, kwp).await?;
        let mut energy = 1.0e7 * (1.0 + index as f64);
        let mut meter = (2.0e6, 1.0e6);
        let all =
            readings(&gateway, start..until, TimeDelta::minutes(5), kwp * 700.0, &mut energy, &mut meter);
        write(store, &slug, &gateway, all, until).await?;
    }
    underperforming(store, &slug, &GatewayId::parse("SUN-2")?, now - TimeDelta::hours(2)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_every_page_fits_the_screen_and_keeps_its_key_facts_in_view() {
    tokio::time::timeout(Duration::from_secs(600), phone())
        .await
        .expect("the phone walk finished in time")
        .unwrap();
}

async fn phone() -> anyhow::Result<()> {
    let now = Utc::now();
    let (dir, store) = empty_store().await?;
    seed(store.as_ref(), now).await?;
    let app = TestApp::start(dir, store, WebSettings::default()).await?;
    let shots = cdp::screenshots();
    let tz: Tz = "Europe/Berlin".parse().map_err(|_| anyhow::anyhow!("zone"))?;
    let today = local_date(tz, now);

    let mut chrome = cdp::Chromium::launch().await?;
    let tab = chrome.new_tab(false).await?;
    chrome.viewport(&tab, WIDTH, HEIGHT, true).await?;
    chrome.goto(&tab, &format!("{}/login", app.base)).await?;

    fits(&mut chrome, &tab, "login").await?;
    chrome.log_in(&tab, "sunrise", USER, PASSWORD).await?;

    // The keyboard's first stop on a freshly loaded page is the skip link, shown on focus.
    chrome.goto(&tab, &format!("{}/sites", app.base)).await?;
    for kind in ["rawKeyDown", "keyUp"] {
        let key = json!({ "type": kind, "key": "Tab", "code": "Tab", "windowsVirtualKeyCode": 9 });
        chrome.call(Some(&tab), "Input.dispatchKeyEvent", key).await?;
    }
    let focused = chrome
        .eval(&tab, "(() => { const e = document.activeElement; const r = e.getBoundingClientRect(); return [e.textContent, r.top >= 0 && r.bottom <= innerHeight && r.width > 0]; })()")
        .await?;
    anyhow::ensure!(focused == json!(["Skip to content", true]), "the first Tab focused {focused}");
    chrome.screenshot(&tab, &shots.join("phone-skip-link.png")).await?;
    chrome.eval(&tab, "document.activeElement.blur()").await?;

    // The fleet: one card per site, each with its status, figures and alerts on screen.
    fits(&mut chrome, &tab, "fleet").await?;
    menu_in_reach(&mut chrome, &tab).await?;
    let cards = chrome
        .eval(
            &tab,
            "[...document.querySelectorAll('table.data tbody tr')].map(tr => \
               [...tr.querySelectorAll('.badge, td[data-label], .alert')].map(e => { \
                 const r = e.getBoundingClientRect(); \
                 return r.width > 0 && r.left >= 0 && r.right <= innerWidth; }))",
        )
        .await?;
    let cards = cards.as_array().cloned().unwrap_or_default();
    anyhow::ensure!(cards.len() == 3, "three sites: {cards:?}");
    for card in &cards {
        let cells = card.as_array().cloned().unwrap_or_default();
        anyhow::ensure!(cells.len() >= 4, "status and three figures per site: {card}");
        anyhow::ensure!(cells.iter().all(|c| c == true), "a fact off screen: {cards:?}");
    }
    let text = chrome.text(&tab).await?;
    for expected in ["Online", "Offline", "41 % of its recent median", "Power now", "Today"] {
        anyhow::ensure!(
            text.to_lowercase().contains(&expected.to_lowercase()),
            "the fleet lacks {expected:?}:\n{text}"
        );
    }
    chrome.screenshot(&tab, &shots.join("phone-fleet.png")).await?;

    // A site's day, month and year: the narrow drawing, filling its box, ticks legible.
    let day = today.format("%Y-%m-%d");
    let month = today.format("%Y-%m");
    for (path, name) in [
        (format!("/sites/SUN-1/day/{day}"), "phone-site-day.png"),
        (format!("/sites/SUN-1/month/{month}"), "phone-site-month.png"),
        (format!("/sites/SUN-1/year/{}", today.year()), "phone-site-year.png"),
    ] {
        chrome.goto(&tab, &format!("{}{path}", app.base)).await?;
        fits(&mut chrome, &tab, &path).await?;
        menu_in_reach(&mut chrome, &tab).await?;
        let chart = chrome
            .eval(
                &tab,
                "(() => { const wide = document.querySelector('svg.chart'); \
                   const narrow = document.querySelector('svg.chart-narrow'); \
                   const box = narrow.parentElement.getBoundingClientRect(); \
                   const r = narrow.getBoundingClientRect(); \
                   const ticks = [...narrow.querySelectorAll('text.tick')].map(t => t.getBoundingClientRect().height); \
                   return { wideHidden: wide.getBoundingClientRect().width === 0, \
                            fills: r.width > box.width * 0.9 && r.right <= box.right + 0.5, \
                            ticks: ticks.length, smallest: Math.min(...ticks) }; })()",
            )
            .await?;
        anyhow::ensure!(chart["wideHidden"] == true && chart["fills"] == true, "{path}: {chart}");
        anyhow::ensure!(chart["ticks"].as_u64().unwrap_or(0) >= 4, "{path}: {chart}");
        // Text of a 12 px font has a box about 14 px high; 11 px is the least that reads.
        anyhow::ensure!(
            chart["smallest"].as_f64().unwrap_or(0.0) >= 11.0,
            "{path}: tick labels too small: {chart}"
        );
        chrome.screenshot(&tab, &shots.join(name)).await?;
    }

    // Readings: each time on one line.
    // An hour of five-minute readings, so that the screenshot shows the page rather than a list.
    let noon = today.format("%Y-%m-%dT12:00");
    let one = today.format("%Y-%m-%dT13:00");
    chrome
        .goto(&tab, &format!("{}/sites/SUN-1/readings?device=inv-1&from={noon}&to={one}", app.base))
        .await?;
    fits(&mut chrome, &tab, "readings").await?;
    let lines = chrome
        .eval(
            &tab,
            "[...document.querySelectorAll('td.time')].slice(0, 20).map(td => { \
               const r = document.createRange(); r.selectNodeContents(td); \
               return new Set([...r.getClientRects()].map(b => Math.round(b.top))).size; })",
        )
        .await?;
    let lines = lines.as_array().cloned().unwrap_or_default();
    anyhow::ensure!(!lines.is_empty() && lines.iter().all(|n| n == 1), "times wrap: {lines:?}");
    chrome.screenshot(&tab, &shots.join("phone-readings.png")).await?;

    for (path, name) in [
        ("/settings", "phone-settings.png"),
        ("/customers", "phone-customers.png"),
        ("/gateways", "phone-gateways.png"),
        ("/quarantine", "phone-quarantine.png"),
        ("/gateways/SUN-1", "phone-gateway.png"),
    ] {
        chrome.goto(&tab, &format!("{}{path}", app.base)).await?;
        fits(&mut chrome, &tab, path).await?;
        chrome.screenshot(&tab, &shots.join(name)).await?;
    }
    // A customer's page, reached from the list as a user would.
    chrome.goto(&tab, &format!("{}/customers", app.base)).await?;
    chrome
        .click(&tab, "table.data tbody a[href^='/customers/']", "location.pathname.startsWith('/customers/')")
        .await?;
    fits(&mut chrome, &tab, "a customer").await?;
    let badge = chrome
        .eval(&tab, "(() => { const r = document.querySelector('table.data tbody .badge').getBoundingClientRect(); return r.width > 0 && r.right <= innerWidth; })()")
        .await?;
    anyhow::ensure!(badge == true, "the customer's site status is off screen");
    chrome.screenshot(&tab, &shots.join("phone-customer.png")).await?;

    let errors = chrome.console_errors(&tab);
    anyhow::ensure!(errors.is_empty(), "console errors: {errors:#?}");
    chrome.close().await?;
    Ok(())
}

/// The page is no wider than the screen.
async fn fits(chrome: &mut cdp::Chromium, tab: &cdp::Tab, page: &str) -> anyhow::Result<()> {
    let widths = chrome.eval(tab, "[document.documentElement.scrollWidth, window.innerWidth]").await?;
    anyhow::ensure!(
        widths[0].as_u64() <= widths[1].as_u64() && widths[1] == WIDTH,
        "{page} scrolls sideways: {widths}"
    );
    Ok(())
}

/// Every menu entry, "Settings" last, lies on screen.
async fn menu_in_reach(chrome: &mut cdp::Chromium, tab: &cdp::Tab) -> anyhow::Result<()> {
    let menu = chrome
        .eval(
            tab,
            "[...document.querySelectorAll('header.top nav a')].map(a => { const r = a.getBoundingClientRect(); \
               return [a.textContent, r.width > 0 && r.left >= 0 && r.right <= innerWidth]; })",
        )
        .await?;
    let entries = menu.as_array().cloned().unwrap_or_default();
    anyhow::ensure!(entries.len() == 5 && entries.iter().all(|e| e[1] == true), "menu: {menu}");
    anyhow::ensure!(entries[4][0] == "Settings", "menu: {menu}");
    Ok(())
}
