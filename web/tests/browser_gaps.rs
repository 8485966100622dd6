//! Gaps in the data and the ways out of a page, in a real browser at desktop (1280 px) and
//! phone (390 px) width: a day before a site's commissioning, a day to come, a month with a
//! silent day and days to come, and the fleet filtered by state and sorted by what needs
//! attention. Screenshots land in `target/screenshots/gaps-*.png`.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod cdp;
mod common;

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use common::{PASSWORD, TestApp, USER, readings, site, underperforming, write};
use heliograph_shared::reports::period::local_date;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_data_and_filtered_fleet_read_right_at_desktop_and_phone_width() {
    tokio::time::timeout(Duration::from_secs(300), gaps()).await.expect("finished in time").unwrap();
}

async fn gaps() -> anyhow::Result<()> {
    let (app, sunrise, _) = TestApp::spawn().await?;
    let now = Utc::now();
    let tz = sunrise.timezone;
    // A site commissioned four days ago that fell silent for a day, one never seen, and an
    // open alert on the seeded site.
    let (_, roof) =
        site(app.store.as_ref(), &sunrise.slug, "SUN-8", "Maier bakery", "Bakery roof", 24.0).await?;
    let (mut energy, mut meter) = (5_000_000.0, (10_000.0, 4_000.0));
    let step = TimeDelta::minutes(15);
    let commissioned = (now - TimeDelta::days(4)).duration_trunc_minutes();
    let silent = commissioned + TimeDelta::hours(36)..commissioned + TimeDelta::hours(62);
    let mut all = readings(&roof, commissioned..silent.start, step, 18_000.0, &mut energy, &mut meter);
    all.extend(readings(&roof, silent.end..now, step, 18_000.0, &mut energy, &mut meter));
    write(app.store.as_ref(), &sunrise.slug, &roof, all, now).await?;
    site(app.store.as_ref(), &sunrise.slug, "SUN-9", "Aying town", "Town hall", 15.0).await?;
    underperforming(app.store.as_ref(), &sunrise.slug, &sunrise.gateway, now - TimeDelta::hours(2)).await?;

    let before = local_date(tz, commissioned).pred_opt().unwrap();
    let tomorrow = local_date(tz, now).succ_opt().unwrap();
    let month = local_date(tz, now).format("%Y-%m");
    let shots = cdp::screenshots();
    let mut chrome = cdp::Chromium::launch().await?;
    let tab = chrome.new_tab(false).await?;
    chrome.goto(&tab, &format!("{}/login", app.base)).await?;
    chrome.log_in(&tab, "sunrise", USER, PASSWORD).await?;

    for (width, height, mobile) in [(1280, 900, false), (390, 844, true)] {
        chrome.viewport(&tab, width, height, mobile).await?;
        let shot = |name: &str| shots.join(format!("gaps-{width}-{name}.png"));

        // The day before commissioning: a notice, no chart, no zeros.
        chrome.goto(&tab, &format!("{}/sites/SUN-8/day/{before}", app.base)).await?;
        let text = chrome.text(&tab).await?;
        anyhow::ensure!(text.contains("Not yet commissioned"), "{text}");
        anyhow::ensure!(
            !text.contains("0 Wh") && !text.contains("0.0 %"),
            "zeros before commissioning:\n{text}"
        );
        anyhow::ensure!(chrome.eval(&tab, "document.querySelector('svg.chart') === null").await? == true);
        chrome.screenshot(&tab, &shot("pre-commissioning-day")).await?;

        // Tomorrow: the future, and no arrow further.
        chrome.goto(&tab, &format!("{}/sites/SUN-8/day/{tomorrow}", app.base)).await?;
        let text = chrome.text(&tab).await?;
        anyhow::ensure!(text.contains("This period is in the future"), "{text}");
        anyhow::ensure!(chrome.eval(&tab, "document.querySelector('a[rel=next]') === null").await? == true);
        chrome.screenshot(&tab, &shot("future-day")).await?;

        // This month: bars for measured days, gaps for the silent and the coming ones, and a
        // bar that opens its day.
        chrome.goto(&tab, &format!("{}/sites/SUN-8/month/{month}", app.base)).await?;
        chrome.eval(&tab, "document.querySelector('details.buckets').open = true").await?;
        let bars = chrome.eval(&tab, "document.querySelectorAll('svg.chart rect.bar').length").await?;
        let gaps = chrome.eval(&tab, "document.querySelectorAll('svg.chart rect.gap').length").await?;
        anyhow::ensure!(
            bars.as_u64().unwrap_or(0) >= 3 && gaps.as_u64().unwrap_or(0) >= 1,
            "{bars} bars, {gaps} gaps"
        );
        // In the drawing this width shows, days to come and before commissioning are blank:
        // a gap must never be painted like a bar.
        let blank = chrome
            .eval(
                &tab,
                "(() => { const svg = [...document.querySelectorAll('svg.chart, svg.chart-narrow')] \
                 .find(s => getComputedStyle(s).display !== 'none'); \
                 const gaps = [...svg.querySelectorAll('rect.gap:not(.no-data)')]; \
                 return gaps.length > 0 && gaps.every(r => ['none', 'transparent', 'rgba(0, 0, 0, 0)'] \
                 .includes(getComputedStyle(r).fill)); })()",
            )
            .await?;
        anyhow::ensure!(blank == true, "gaps painted at {width} px");
        let text = chrome.text(&tab).await?;
        anyhow::ensure!(text.contains("No data") || text.contains("Not yet commissioned"), "{text}");
        chrome.screenshot(&tab, &shot("month-with-gaps")).await?;
        let first_bar = chrome
            .eval(&tab, "document.querySelector('svg.chart a.drill').getAttribute('href')")
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned();
        anyhow::ensure!(first_bar.starts_with("/sites/SUN-8/day/"), "{first_bar}");
        // An SVG link has no click(): dispatch one, as a pointer would.
        let click = "document.querySelector('svg.chart a.drill rect')\
                     .dispatchEvent(new MouseEvent('click', { bubbles: true }))";
        chrome.eval(&tab, click).await?;
        chrome.wait_for(&tab, &format!("location.pathname === '{first_bar}'"), "the bar's day").await?;

        // The fleet: only the offline sites, then everything with what needs attention first.
        chrome.goto(&tab, &format!("{}/sites?status=offline", app.base)).await?;
        let rows = chrome
            .eval(&tab, "[...document.querySelectorAll('table.data tbody tr')].map(r => r.innerText)")
            .await?;
        anyhow::ensure!(rows.as_array().map(Vec::len) == Some(1), "{rows}");
        anyhow::ensure!(rows[0].as_str().unwrap_or_default().contains("Town hall"), "{rows}");
        chrome.screenshot(&tab, &shot("fleet-offline")).await?;
        chrome.goto(&tab, &format!("{}/sites?sort=attention", app.base)).await?;
        let first = chrome.eval(&tab, "document.querySelector('table.data tbody tr').innerText").await?;
        anyhow::ensure!(first.as_str().unwrap_or_default().contains("Town hall"), "{first}");
        chrome.screenshot(&tab, &shot("fleet-attention")).await?;
    }
    let errors = chrome.console_errors(&tab);
    anyhow::ensure!(errors.is_empty(), "console errors: {errors:#?}");
    chrome.close().await?;
    Ok(())
}

trait TruncateMinutes {
    fn duration_trunc_minutes(self) -> Self;
}

impl TruncateMinutes for chrono::DateTime<Utc> {
    fn duration_trunc_minutes(self) -> Self {
        use chrono::DurationRound as _;
        self.duration_trunc(TimeDelta::minutes(15)).unwrap_or(self)
    }
}
