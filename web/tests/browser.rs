//! The panel in a real browser (Debian's headless Chromium over the DevTools protocol): a
//! provider logs in through the form, reads the fleet and a site's day, month and year views,
//! exports a CSV, and another provider's user is refused the first provider's site.
//! Screenshots of the main pages land in `target/screenshots/`.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod cdp;
mod common;

use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use common::{PASSWORD, TestApp, USER, empty_store, provider, site, write};
use heliograph_shared::reports::period::local_date;
use heliograph_shared::store::{Store, WriteBatch};
use heliograph_shared::{
    Alert, AlertBasis, AlertKind, Device, DeviceId, DeviceKind, DeviceStatus, GatewayId, Metric, Metrics,
    ProviderSlug, QuarantinedReading, Reading, RefusalReason, RefusedGateway,
};
use heliograph_web::WebSettings;

/// A deterministic value in [0, 1) (SplitMix64).
fn unit(seed: u64) -> f64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

/// Plausible AC power of a plant in southern Germany: the season sets day length and height,
/// each day is clear or cloudy, clouds drift in half-hour knots.
fn power(ts: DateTime<Utc>, capacity_w: f64, seed: u64) -> f64 {
    let season = 0.5 + 0.5 * (2.0 * std::f64::consts::PI * (f64::from(ts.ordinal0()) - 171.0) / 365.0).cos();
    let half_day = 4.0 + 4.0 * season;
    let hour = f64::from(ts.num_seconds_from_midnight()) / 3600.0;
    let x = (hour - 11.2) / half_day;
    if x.abs() >= 1.0 {
        return 0.0;
    }
    let clear = capacity_w * (0.3 + 0.55 * season) * (std::f64::consts::FRAC_PI_2 * x).cos().powf(1.4);
    let day = ts.timestamp().div_euclid(86_400) as u64;
    let knot = ts.timestamp().div_euclid(1_800) as u64;
    let frac = ts.timestamp().rem_euclid(1_800) as f64 / 1_800.0;
    let noise = unit(seed ^ knot) * (1.0 - frac) + unit(seed ^ (knot + 1)) * frac;
    let cloud =
        if unit(seed.wrapping_mul(31) ^ day) > 0.45 { 0.88 + 0.12 * noise } else { 0.25 + 0.55 * noise };
    clear * cloud
}

/// Household load, W, with morning and evening peaks (local clock, roughly UTC+1).
fn load(ts: DateTime<Utc>) -> f64 {
    let h = f64::from(ts.num_seconds_from_midnight()) / 3600.0 + 1.0;
    let peak = |centre: f64, width: f64| (-((h - centre) / width).powi(2)).exp();
    350.0 + 900.0 * peak(7.0, 1.2) + 1_600.0 * peak(19.0, 2.0)
}

/// A plant's readings (an inverter, and a grid meter if asked) every `step` over `range`.
struct Plant {
    gateway: GatewayId,
    capacity_w: f64,
    seed: u64,
    meter: bool,
    energy: f64,
    import: f64,
    export: f64,
}

impl Plant {
    fn readings(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        step: TimeDelta,
        fault_after: Option<DateTime<Utc>>,
    ) -> Vec<Reading> {
        let hours = step.num_seconds() as f64 / 3600.0;
        let mut out = Vec::new();
        let mut ts = from;
        while ts < to {
            let watts = (power(ts, self.capacity_w, self.seed) * 10.0).round() / 10.0;
            self.energy += watts * hours;
            let mut m = Metrics::default();
            m.set(Metric::AcPower, watts).unwrap();
            m.set(Metric::Energy, (self.energy * 10.0).round() / 10.0).unwrap();
            m.set(Metric::AcVoltage, 230.0 + 2.0 * (unit(ts.timestamp() as u64) - 0.5)).unwrap();
            m.set(Metric::Frequency, 50.0).unwrap();
            m.set(Metric::Temperature, 12.0 + watts / self.capacity_w * 30.0).unwrap();
            let status = if fault_after.is_some_and(|t| ts >= t) {
                DeviceStatus::Fault
            } else if watts > 0.0 {
                DeviceStatus::Producing
            } else {
                DeviceStatus::Standby
            };
            let inverter = DeviceId::parse("inv-1").unwrap();
            out.push(Reading {
                gateway: self.gateway.clone(),
                device: inverter,
                ts,
                status: Some(status),
                metrics: m,
            });
            if self.meter {
                let grid = load(ts) - watts;
                if grid >= 0.0 {
                    self.import += grid * hours;
                } else {
                    self.export -= grid * hours;
                }
                let mut g = Metrics::default();
                g.set(Metric::AcPower, (grid * 10.0).round() / 10.0).unwrap();
                g.set(Metric::ImportEnergy, (self.import * 10.0).round() / 10.0).unwrap();
                g.set(Metric::ExportEnergy, (self.export * 10.0).round() / 10.0).unwrap();
                let meter = DeviceId::parse("meter-1").unwrap();
                out.push(Reading {
                    gateway: self.gateway.clone(),
                    device: meter,
                    ts,
                    status: None,
                    metrics: g,
                });
            }
            ts += step;
        }
        out
    }
}

/// `sunrise`: four sites, one with this year's data at 15 minutes (5 minutes for the last two
/// days), one in fault, one offline for five hours, one with an irradiance sensor.
async fn seed_sunrise(store: &dyn Store, now: DateTime<Utc>) -> anyhow::Result<()> {
    let slug = ProviderSlug::parse("sunrise")?;
    let tz: Tz = "Europe/Berlin".parse().map_err(|_| anyhow::anyhow!("zone"))?;
    provider(store, &slug, "Sunrise Solar Installers", tz).await?;
    let five = TimeDelta::minutes(5);
    let recent = now - TimeDelta::days(2);
    let recent = recent - TimeDelta::seconds(i64::from(recent.num_seconds_from_midnight() % 300));
    let sites = [
        ("SUN-1", "Huber family", "Huber residence", 9.8, true),
        ("SUN-2", "Bakery Maier", "Bakery Maier, roof", 24.0, true),
        ("SUN-3", "Schneider farm", "Schneider farm barn", 36.0, false),
        ("SUN-4", "Town of Aying", "Town hall roof", 15.0, false),
    ];
    for (index, (id, customer, name, kwp, meter)) in sites.into_iter().enumerate() {
        let (_, gateway) = site(store, &slug, id, customer, name, kwp).await?;
        let mut plant = Plant {
            gateway: gateway.clone(),
            capacity_w: kwp * 1000.0,
            seed: 7 + index as u64,
            meter,
            energy: kwp * 1.1e6 * (1.0 + index as f64),
            import: 2.0e6,
            export: 1.0e6,
        };
        let mut all = Vec::new();
        if index == 0 {
            let january = tz.with_ymd_and_hms(now.with_timezone(&tz).year(), 1, 1, 0, 0, 0).single().unwrap();
            all = plant.readings(january.with_timezone(&Utc), recent, TimeDelta::minutes(15), None);
        }
        let (until, received, fault) = match id {
            "SUN-3" => (now, now, Some(now - TimeDelta::minutes(40))),
            "SUN-4" => (now - TimeDelta::hours(5), now - TimeDelta::hours(5), None),
            _ => (now, now, None),
        };
        all.extend(plant.readings(recent, until, five, fault));
        write(store, &slug, &gateway, all, received).await?;
        if id == "SUN-2" {
            sensor(store, &slug, &plant, recent, now).await?;
        }
    }
    // Something for the quarantine page and the alerts column.
    let tenant = store.tenant(&slug).await?;
    tenant
        .record_refused_gateway(&RefusedGateway {
            gateway: GatewayId::parse("SUN-0042")?,
            reason: RefusalReason::UnknownGateway,
            first_seen: now - TimeDelta::hours(30),
            last_seen: now - TimeDelta::minutes(3),
            attempts: 57,
            last_address: "198.51.100.23:51234".into(),
        })
        .await?;
    let mut batch = WriteBatch::new(GatewayId::parse("SUN-2")?, now);
    batch.quarantined.push(QuarantinedReading {
        gateway: GatewayId::parse("SUN-2")?,
        received_at: now - TimeDelta::minutes(20),
        seq: Some(8812),
        device: "inv-1".into(),
        ts: "2027-01-01T00:00:00Z".into(),
        reason: "timestamp 2027-01-01 00:00:00 UTC is in the future".into(),
        content: "ac_power=4120 W; energy=81234.5 kWh".into(),
    });
    tenant.write_batch(batch).await?;
    tenant
        .open_alert(
            &Alert::open(
                AlertKind::Underperformance,
                GatewayId::parse("SUN-2")?,
                None,
                None,
                now - TimeDelta::hours(2),
                "produced 0.92 kWh per kWp, 41 % of the 2.24 kWh/kWp expected from the 2.80 kWh/m² of \
             sunlight measured on site (performance ratio 33 % against 80 %)"
                    .into(),
            )
            .with_basis(Some(AlertBasis::Irradiance)),
        )
        .await?;
    Ok(())
}

/// A plane-of-array sensor on `plant`'s roof, every five minutes: the sunlight its inverter's
/// power stands for at a performance ratio of 0.85.
async fn sensor(
    store: &dyn Store,
    slug: &ProviderSlug,
    plant: &Plant,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<()> {
    let poa = DeviceId::parse("poa-1")?;
    let mut readings = Vec::new();
    let mut ts = from;
    while ts < to {
        let watts = (power(ts, plant.capacity_w, plant.seed) * 10.0).round() / 10.0;
        let mut m = Metrics::default();
        m.set(Metric::Irradiance, watts / plant.capacity_w * 1000.0 / 0.85)?;
        readings.push(Reading {
            gateway: plant.gateway.clone(),
            device: poa.clone(),
            ts,
            status: None,
            metrics: m,
        });
        ts += TimeDelta::minutes(5);
    }
    let tenant = store.tenant(slug).await?;
    for chunk in readings.chunks(576) {
        let mut batch = WriteBatch::new(plant.gateway.clone(), to);
        batch.devices.push(Device {
            gateway: plant.gateway.clone(),
            id: poa.clone(),
            kind: DeviceKind::IrradianceSensor,
            manufacturer: Some("Kipp & Zonen".into()),
            model: Some("SMP10".into()),
            serial: None,
            last_seen: Some(to),
        });
        batch.readings = chunk.to_vec();
        tenant.write_batch(batch).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_logs_in_reads_reports_exports_csv_and_another_providers_user_is_refused() {
    tokio::time::timeout(Duration::from_secs(600), journey())
        .await
        .expect("the journey finished in time")
        .unwrap();
}

async fn journey() -> anyhow::Result<()> {
    let now = Utc::now();
    let (dir, store) = empty_store().await?;
    seed_sunrise(store.as_ref(), now).await?;
    common::seed(store.as_ref(), "voltwerk", "Europe/Vienna", "VOLT-1", "Bob Gruber").await?;
    let app = TestApp::start(dir, store, WebSettings::default()).await?;
    let shots = cdp::screenshots();
    let tz: Tz = "Europe/Berlin".parse().map_err(|_| anyhow::anyhow!("zone"))?;
    let today = local_date(tz, now);
    let yesterday = today.pred_opt().unwrap();

    let mut chrome = cdp::Chromium::launch().await?;
    let owner = chrome.new_tab(false).await?;

    // Any page sends a visitor to the login form, which comes back to it.
    chrome.goto(&owner, &format!("{}/sites", app.base)).await?;
    anyhow::ensure!(
        chrome.eval(&owner, "location.pathname").await? == "/login",
        "not sent to the login page"
    );
    chrome.screenshot(&owner, &shots.join("01-login.png")).await?;
    chrome.log_in(&owner, "sunrise", USER, PASSWORD).await?;

    // The fleet: four sites, totals, one in fault, one offline.
    let text = chrome.text(&owner).await?;
    for expected in [
        "Huber residence",
        "Bakery Maier, roof",
        "Schneider farm barn",
        "Town hall roof",
        "Power now",
        "Energy today",
    ] {
        anyhow::ensure!(has(&text, expected), "the fleet lacks {expected:?}:\n{text}");
    }
    anyhow::ensure!(text.contains("Fault: inv-1"), "SUN-3 is in fault:\n{text}");
    anyhow::ensure!(text.contains("Offline since"), "SUN-4 is offline:\n{text}");
    anyhow::ensure!(
        chrome.eval(&owner, "document.querySelectorAll('table.data tbody tr').length").await? == 4
    );
    anyhow::ensure!(
        text.contains("Underperformance (expected from the irradiance measured on site)"),
        "the alert says what it was measured against:\n{text}"
    );
    chrome.screenshot(&owner, &shots.join("02-fleet.png")).await?;
    // The site with an irradiance sensor: its performance ratio on the day before.
    let sensed = format!("/sites/SUN-2/day/{}", yesterday.format("%Y-%m-%d"));
    chrome.goto(&owner, &format!("{}{sensed}", app.base)).await?;
    let text = chrome.text(&owner).await?;
    anyhow::ensure!(has(&text, "Performance ratio") && text.contains("85.0 %"), "no PR on {sensed}:\n{text}");
    chrome.screenshot(&owner, &shots.join("14-site-day-performance-ratio.png")).await?;
    chrome.goto(&owner, &format!("{}/sites", app.base)).await?;
    chrome.goto(&owner, &format!("{}/sites?q=bakery", app.base)).await?;
    anyhow::ensure!(
        chrome.eval(&owner, "document.querySelectorAll('table.data tbody tr').length").await? == 1
    );

    // A site: today, then the day before with the ← link.
    chrome.goto(&owner, &format!("{}/sites", app.base)).await?;
    let day_path = format!("/sites/SUN-1/day/{}", today.format("%Y-%m-%d"));
    chrome.click(&owner, "a[href='/sites/SUN-1']", &format!("location.pathname === '{day_path}'")).await?;
    let before = format!("/sites/SUN-1/day/{}", yesterday.format("%Y-%m-%d"));
    chrome.click(&owner, "a[rel=prev]", &format!("location.pathname === '{before}'")).await?;
    anyhow::ensure!(
        chrome.eval(&owner, "document.querySelectorAll('svg.chart path.line').length >= 2").await? == true
    );
    let text = chrome.text(&owner).await?;
    for expected in [
        "Production",
        "Specific yield",
        "Peak power",
        "Availability",
        "Self-consumption",
        "Grid export",
        "inv-1",
        "meter-1",
    ] {
        anyhow::ensure!(has(&text, expected), "the day view lacks {expected:?}");
    }
    chrome.screenshot(&owner, &shots.join("03-site-day.png")).await?;

    // Month and year through the tabs.
    let month_path = format!("/sites/SUN-1/month/{}", yesterday.format("%Y-%m"));
    chrome.click(&owner, "nav.tabs a:nth-child(2)", &format!("location.pathname === '{month_path}'")).await?;
    let days = days_in_month(yesterday);
    // Days to come are gaps, not bars of zero.
    let begun = if yesterday.month() == today.month() { today.day() } else { days };
    anyhow::ensure!(
        chrome.eval(&owner, "document.querySelectorAll('svg.chart rect.bar').length").await? == begun
    );
    chrome.screenshot(&owner, &shots.join("04-site-month.png")).await?;
    let year_path = format!("/sites/SUN-1/year/{}", yesterday.year());
    chrome.click(&owner, "nav.tabs a:nth-child(3)", &format!("location.pathname === '{year_path}'")).await?;
    anyhow::ensure!(
        chrome.eval(&owner, "document.querySelectorAll('svg.chart rect.bar').length").await? == 12
    );
    chrome.screenshot(&owner, &shots.join("05-site-year.png")).await?;

    // Export the month's CSV through its link, as a download.
    chrome.goto(&owner, &format!("{}{month_path}", app.base)).await?;
    let downloads = tempfile::tempdir()?;
    chrome.allow_downloads(&owner, downloads.path()).await?;
    chrome.eval(&owner, "document.querySelector('a[download]').click()").await?;
    let file = cdp::downloaded(downloads.path()).await?;
    let csv = tokio::fs::read_to_string(&file).await?;
    anyhow::ensure!(
        file.file_name()
            .is_some_and(|n| n.to_string_lossy() == format!("SUN-1-month-{}.csv", yesterday.format("%Y-%m"))),
        "downloaded {}",
        file.display()
    );
    anyhow::ensure!(
        csv.starts_with("start,end,production_kwh,peak_power_w,peak_at,grid_import_kwh"),
        "{csv}"
    );
    anyhow::ensure!(csv.lines().count() == 1 + days as usize, "one row per day:\n{csv}");

    // The other pages, for the record.
    for (path, name) in [
        ("/sites/SUN-1/readings?device=inv-1".to_owned(), "06-readings.png"),
        ("/quarantine".to_owned(), "07-quarantine.png"),
        ("/settings".to_owned(), "08-settings.png"),
        ("/customers".to_owned(), "09-customers.png"),
        ("/gateways/SUN-1".to_owned(), "10-gateway.png"),
    ] {
        chrome.goto(&owner, &format!("{}{path}", app.base)).await?;
        chrome.screenshot(&owner, &shots.join(name)).await?;
    }

    // On a phone.
    chrome.viewport(&owner, 390, 844, true).await?;
    chrome.goto(&owner, &format!("{}{before}", app.base)).await?;
    chrome.screenshot(&owner, &shots.join("11-site-day-phone.png")).await?;
    chrome.goto(&owner, &format!("{}/sites", app.base)).await?;
    chrome.screenshot(&owner, &shots.join("12-fleet-phone.png")).await?;

    // No console errors anywhere: no CSP violation, no failed resource, no script error.
    let errors = chrome.console_errors(&owner);
    anyhow::ensure!(errors.is_empty(), "console errors: {errors:#?}");

    // Another provider's user, in a browser context of its own, cannot reach the first
    // provider's site or its export.
    let stranger = chrome.new_tab(true).await?;
    chrome.goto(&stranger, &format!("{}/login", app.base)).await?;
    chrome.log_in(&stranger, "voltwerk", USER, PASSWORD).await?;
    let theirs = chrome.text(&stranger).await?;
    anyhow::ensure!(theirs.contains("VOLT-1") && !theirs.contains("SUN-1"), "{theirs}");
    chrome.goto(&stranger, &format!("{}{before}", app.base)).await?;
    let refused = chrome.text(&stranger).await?;
    anyhow::ensure!(refused.contains("404 Not Found") && !refused.contains("Huber"), "{refused}");
    chrome.screenshot(&stranger, &shots.join("13-other-provider-404.png")).await?;
    let status = chrome.eval(&stranger, &format!("fetch('{month_path}/csv').then(r => r.status)")).await?;
    anyhow::ensure!(status == 404, "the CSV answered {status}");

    chrome.close().await?;
    Ok(())
}

fn days_in_month(date: NaiveDate) -> u32 {
    let first = NaiveDate::from_ymd_opt(date.year(), date.month(), 1).unwrap();
    let next = first.checked_add_months(chrono::Months::new(1)).unwrap();
    (next - first).num_days() as u32
}

/// True when the visible text holds `expected`, whatever the CSS does to letter case.
fn has(text: &str, expected: &str) -> bool {
    text.to_lowercase().contains(&expected.to_lowercase())
}
