//! The mailer's target: 10,000 monthly summaries computed, rendered and handed to a local SMTP
//! server in at most 120 s. A real embedded store holds 10,000 customers, each with a site that
//! reported a whole month of hourly readings (rollups included, as ingest leaves them); one
//! mailer round at the start of the next month sends every summary to a real aiosmtpd process,
//! and the messages it received are counted.
//!
//! `cargo bench -p heliograph-mailer --bench monthly_round` prints one JSON line;
//! `HELIOGRAPH_BENCH_CUSTOMERS` changes the number of customers. Under `cargo test` it runs
//! once with 20 customers. aiosmtpd comes from the test command's venv (or `HELIOGRAPH_PYTHON`).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, Datelike, TimeDelta, TimeZone, Timelike, Utc};
use futures::{StreamExt, TryStreamExt, stream};
use heliograph_mailer::MailerSettings;
use heliograph_shared::store::{self, Store, StoreSettings, TenantStore};
use heliograph_shared::{DeviceKind, ReportSchedule};

/// Customers written at once while the store is filled.
const CONCURRENT_CUSTOMERS: usize = 16;
/// The target, seconds.
const TARGET_SECONDS: f64 = 120.0;

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; a filter naming another benchmark skips this one.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if filter.is_some_and(|f| !"monthly_round".contains(f.as_str())) {
        return Ok(());
    }
    // `cargo bench` runs the real size; `cargo test --all-targets` runs this as a smoke test.
    let full_run = std::env::args().any(|a| a == "--bench");
    let customers: usize = match std::env::var("HELIOGRAPH_BENCH_CUSTOMERS") {
        Ok(text) => text.parse().context("HELIOGRAPH_BENCH_CUSTOMERS must be a number")?,
        Err(_) if full_run => 10_000,
        Err(_) => 20,
    };
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(bench(customers))
}

async fn bench(customers: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn Store> =
        store::open(&StoreSettings::Embedded { data_dir: dir.path().join("data") }).await?;
    let tenant = common::provider(&store, "bench", ReportSchedule::Monthly).await;
    let (from, to) = last_month(Utc::now());

    let filling = Instant::now();
    stream::iter(0..customers)
        .map(|index| fill(Arc::clone(&tenant), index, from, to))
        .buffer_unordered(CONCURRENT_CUSTOMERS)
        .try_collect::<Vec<()>>()
        .await?;
    eprintln!("filled {customers} customers' month in {:.1} s", filling.elapsed().as_secs_f64());

    let outbox = dir.path().join("smtp");
    std::fs::create_dir_all(&outbox)?;
    let smtp = common::SmtpServer::start(&outbox);
    // The tests' settings (plain SMTP on the sink's port, no delay after the month closes) with
    // the production pool size and concurrency, which the tests turn down.
    let mut settings = common::settings(smtp.port);
    let defaults = MailerSettings::default();
    settings.smtp.pool_size = pool_size().unwrap_or(defaults.smtp.pool_size);
    settings.concurrency = defaults.concurrency;
    let mailer = common::mailer(Arc::clone(&store), settings);
    // Six hours into the new month (UTC): the customers' month (Berlin) has closed.
    let now = to + TimeDelta::hours(6);
    let started = Instant::now();
    let report = mailer.round(now).await?;
    let seconds = started.elapsed().as_secs_f64();
    let received = smtp.wait_for(customers, Duration::from_secs(30)).len();
    let result = serde_json::json!({
        "customers": customers,
        "sent": report.sent,
        "failed": report.failed,
        "received_by_smtp": received,
        "seconds": seconds,
        "summaries_per_second": report.sent as f64 / seconds,
        "target_seconds": TARGET_SECONDS * customers as f64 / 10_000.0,
    });
    println!("{result}");
    anyhow::ensure!(
        report.sent == customers && received == customers,
        "{} sent and {received} received of {customers} summaries",
        report.sent
    );
    Ok(())
}

/// `HELIOGRAPH_BENCH_SMTP_POOL`, to try other SMTP pool sizes.
fn pool_size() -> Option<u32> {
    std::env::var("HELIOGRAPH_BENCH_SMTP_POOL").ok().and_then(|v| v.parse().ok())
}

/// One customer with one site and its month of hourly readings.
async fn fill(
    tenant: Arc<dyn TenantStore>,
    index: usize,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<()> {
    let name = format!("Customer {index}");
    let email = format!("customer{index}@bench.example");
    let customer = common::customer(&tenant, &name, &email, chrono_tz::Europe::Berlin).await;
    let kwp = 5.0 + (index % 20) as f64;
    let gateway =
        common::site(&tenant, &format!("GW-{index:05}"), &format!("Roof {index}"), customer.id, kwp).await;
    let start = from - TimeDelta::days(1);
    let readings = common::inverter_readings(
        &gateway.id,
        "inv-1",
        start,
        to + TimeDelta::hours(6),
        TimeDelta::hours(1),
        |t| 1.0e6 + kwp * 4_000.0 * (t - start).num_hours() as f64 / 24.0,
        |t| daylight_power(t, kwp),
    );
    common::write(&tenant, readings, DeviceKind::Inverter).await;
    Ok(())
}

/// A clear-sky-shaped power curve, W: zero at night, peaking at noon UTC.
fn daylight_power(t: DateTime<Utc>, kwp: f64) -> f64 {
    let hour = f64::from(t.hour());
    let shape = (std::f64::consts::PI * (hour - 5.0) / 14.0).sin().max(0.0);
    kwp * 800.0 * shape
}

/// The month before the one `now` falls in, UTC.
fn last_month(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let this = Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0).single().unwrap_or(now);
    let previous = this - TimeDelta::days(1);
    let from =
        Utc.with_ymd_and_hms(previous.year(), previous.month(), 1, 0, 0, 0).single().unwrap_or(previous);
    (from, this)
}
