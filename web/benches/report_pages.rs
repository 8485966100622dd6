//! Report pages of a site with a year of one-minute data (an inverter and a grid meter, about a
//! million readings), served over real HTTP by the real app: the day, month and year views, the
//! year's CSV, and the fleet overview; beside them, the year view of a second site of the same
//! provider that holds one week of data, the baseline of "a year view does not slow down as
//! data grows". The target is a median under 50 ms per page and a year view within 2× of the
//! one-week site's.
//!
//!     cargo bench -p heliograph-web --bench report_pages                  # embedded store
//!     HELIOGRAPH_BENCH_CASSANDRA=127.0.0.1:9042 cargo bench -p heliograph-web --bench report_pages
//!
//! The embedded data set is built once (a few minutes) under `target/bench-data/` and reused;
//! on Cassandra it lives in the `bench_pages` provider's keyspace and is reused while that node
//! keeps its data. Under `cargo test` the bench runs once over three days of embedded data.

#![allow(missing_docs, clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, DurationRound, TimeDelta, Timelike, Utc};
use chrono_tz::Tz;
use criterion::{Criterion, criterion_group, criterion_main};
use heliograph_shared::reports::period::local_date;
use heliograph_shared::reports::{self, Period, SiteFacts, SiteReport};
use heliograph_shared::store::cassandra::KeyspaceName;
use heliograph_shared::store::{self, CassandraSettings, Store, StoreSettings, TenantStore, WriteBatch};
use heliograph_shared::{
    Customer, CustomerId, Device, DeviceId, DeviceKind, DeviceStatus, EmailAddress, Gateway, GatewayId,
    GatewayToken, Metric, Metrics, PasswordDigest, Provider, ProviderSlug, Reading, User, Username,
};
use heliograph_testkit::forms;
use heliograph_web::{WebServer, WebSettings};
use tokio_util::sync::CancellationToken;

const PASSWORD: &str = "benchmark password";

fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn data_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"), PathBuf::from)
        .join("bench-data/year-of-minutes-v3")
}

/// The Cassandra node to measure against, if asked (full runs only).
fn cassandra_node() -> Option<String> {
    std::env::var("HELIOGRAPH_BENCH_CASSANDRA").ok().filter(|_| full_run())
}

/// The provider that holds the data set.
fn slug() -> ProviderSlug {
    ProviderSlug::parse(if cassandra_node().is_some() { "bench_pages" } else { "bench" }).unwrap()
}

/// The site with a year of data, and the one with a week.
const YEAR_SITE: &str = "BENCH-1";
const WEEK_SITE: &str = "WEEK-1";

/// Clear-sky power of a 10 kWp plant near Munich, W.
fn power(ts: DateTime<Utc>) -> f64 {
    let season = 0.5 + 0.5 * (2.0 * std::f64::consts::PI * (f64::from(ts.ordinal0()) - 171.0) / 365.0).cos();
    let half_day = 4.0 + 4.0 * season;
    let x = (f64::from(ts.num_seconds_from_midnight()) / 3600.0 - 11.2) / half_day;
    if x.abs() >= 1.0 {
        0.0
    } else {
        10_000.0 * (0.3 + 0.55 * season) * (std::f64::consts::FRAC_PI_2 * x).cos()
    }
}

/// Whether a complete data set is in the store: the login user is written last.
async fn complete(store: &dyn Store) -> anyhow::Result<bool> {
    if store.provider(&slug()).await?.is_none() {
        return Ok(false);
    }
    Ok(store
        .tenant(&slug())
        .await?
        .user(&Username::parse("bench").map_err(anyhow::Error::msg)?)
        .await?
        .is_some())
}

async fn build(store: &dyn Store, days: i64, now: DateTime<Utc>) -> anyhow::Result<()> {
    let slug = slug();
    let mut provider = Provider::new(slug.clone(), "Bench Solar");
    provider.timezone = "Europe/Berlin".parse::<Tz>().map_err(|_| anyhow::anyhow!("zone"))?;
    anyhow::ensure!(
        store.provider(&slug).await?.is_none(),
        "provider {slug} holds an incomplete data set from an interrupted run: drop its keyspace (or the node's data) and run again"
    );
    store.create_provider(&provider).await?;
    let tenant = store.tenant(&slug).await?;
    let customer = Customer {
        id: CustomerId::new_random(),
        name: "Year of minutes".into(),
        emails: vec![EmailAddress::parse("bench@example.com").map_err(anyhow::Error::msg)?],
        timezone: provider.timezone,
        active: true,
    };
    tenant.upsert_customer(&customer).await?;
    for (site, name, days) in
        [(YEAR_SITE, "A year of minutes", days), (WEEK_SITE, "A week of minutes", days.min(7))]
    {
        let gateway = GatewayId::parse(site)?;
        tenant
            .create_gateway(&Gateway {
                id: gateway.clone(),
                customer: Some(customer.id),
                site_name: name.into(),
                capacity_kwp: 10.0,
                token_hash: GatewayToken::generate().hash(),
                previous_token: None,
                last_seen: None,
                active: true,
                location: None,
                alerting: Default::default(),
            })
            .await?;
        write_site(tenant.as_ref(), &gateway, days, now).await?;
    }
    let password = PasswordDigest::hash(PASSWORD).map_err(anyhow::Error::msg)?;
    tenant
        .upsert_user(&User::new(Username::parse("bench").map_err(anyhow::Error::msg)?, "Bench", password))
        .await?;
    Ok(())
}

/// `days` of one-minute readings up to `now` from the site's inverter and grid meter.
async fn write_site(
    tenant: &dyn TenantStore,
    gateway: &GatewayId,
    days: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let (inverter, meter) = (DeviceId::parse("inv-1")?, DeviceId::parse("meter-1")?);
    let (mut energy, mut import, mut export) = (5.0e7, 2.0e6, 1.0e6);
    let start = (now - TimeDelta::days(days)).duration_trunc(TimeDelta::days(1))?;
    let mut day = start;
    while day < now {
        let mut batch = WriteBatch::new(gateway.clone(), now);
        for (id, kind) in [(&inverter, DeviceKind::Inverter), (&meter, DeviceKind::Meter)] {
            batch.devices.push(Device {
                gateway: gateway.clone(),
                id: id.clone(),
                kind,
                manufacturer: None,
                model: None,
                serial: None,
                last_seen: Some(now.min(day + TimeDelta::days(1))),
            });
        }
        for minute in 0..1440 {
            let ts = day + TimeDelta::minutes(minute);
            if ts >= now {
                break;
            }
            let watts = power(ts);
            energy += watts / 60.0;
            let grid = 400.0 - watts;
            if grid >= 0.0 {
                import += grid / 60.0
            } else {
                export -= grid / 60.0
            }
            let mut m = Metrics::default();
            m.set(Metric::AcPower, watts)?;
            m.set(Metric::Energy, energy)?;
            m.set(Metric::AcVoltage, 230.0)?;
            m.set(Metric::Temperature, 20.0)?;
            let status = Some(if watts > 0.0 { DeviceStatus::Producing } else { DeviceStatus::Standby });
            batch.readings.push(Reading {
                gateway: gateway.clone(),
                device: inverter.clone(),
                ts,
                status,
                metrics: m,
            });
            let mut g = Metrics::default();
            g.set(Metric::AcPower, grid)?;
            g.set(Metric::ImportEnergy, import)?;
            g.set(Metric::ExportEnergy, export)?;
            batch.readings.push(Reading {
                gateway: gateway.clone(),
                device: meter.clone(),
                ts,
                status: None,
                metrics: g,
            });
        }
        tenant.write_batch(batch).await?;
        day += TimeDelta::days(1);
    }
    Ok(())
}

struct Running {
    base: String,
    cookie: String,
    http: reqwest::Client,
    _shutdown: CancellationToken,
    store: Arc<dyn Store>,
    _temp: Option<tempfile::TempDir>,
}

async fn start() -> anyhow::Result<Running> {
    let now = Utc::now();
    let days = if full_run() { 366 } else { 3 };
    let (store, temp) = match cassandra_node() {
        Some(node) => {
            let settings = CassandraSettings {
                nodes: vec![node],
                registry_keyspace: KeyspaceName::parse("bench_pages_registry").map_err(anyhow::Error::msg)?,
                ..CassandraSettings::default()
            };
            let store = store::open(&StoreSettings::Cassandra(settings)).await?;
            if !complete(store.as_ref()).await? {
                eprintln!("building {days} days of one-minute data on Cassandra …");
                build(store.as_ref(), days, now).await?;
            }
            (store, None)
        }
        None => {
            let (dir, temp) = if full_run() {
                (data_dir(), None)
            } else {
                let temp = tempfile::tempdir()?;
                (temp.path().to_path_buf(), Some(temp))
            };
            let marker = dir.join("complete");
            if !marker.exists() {
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir)?;
            }
            let store = store::open(&StoreSettings::Embedded { data_dir: dir.clone() }).await?;
            if !marker.exists() {
                eprintln!("building {days} days of one-minute data in {} …", dir.display());
                build(store.as_ref(), days, now).await?;
                std::fs::write(&marker, now.to_rfc3339())?;
            }
            (store, temp)
        }
    };
    let settings = WebSettings { listen: "127.0.0.1:0".parse()?, ..WebSettings::default() };
    let server = WebServer::bind(&settings, Arc::clone(&store)).await?;
    let base = format!("http://{}", server.local_addr()?);
    let shutdown = CancellationToken::new();
    tokio::spawn(server.run(shutdown.clone()));
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let cookie = forms::log_in(&http, &base, slug().as_str(), "bench", PASSWORD).await?;
    Ok(Running { base, cookie, http, _shutdown: shutdown, store, _temp: temp })
}

fn pages(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let running = runtime.block_on(start()).unwrap();
    let tz: Tz = "Europe/Berlin".parse().unwrap();
    let yesterday = local_date(tz, Utc::now()).pred_opt().unwrap();
    let site = format!("/sites/{YEAR_SITE}");
    let paths = [
        ("day", format!("{site}/day/{}", yesterday.format("%Y-%m-%d"))),
        ("month", format!("{site}/month/{}", yesterday.format("%Y-%m"))),
        ("year", format!("{site}/year/{}", yesterday.year())),
        ("year_of_a_one_week_site", format!("/sites/{WEEK_SITE}/year/{}", yesterday.year())),
        ("last_12_months_range", {
            let first = yesterday - TimeDelta::days(364);
            format!("{site}/range/{}..{}", first.format("%Y-%m-%d"), yesterday.format("%Y-%m-%d"))
        }),
        ("year_csv", format!("{site}/year/{}/csv", yesterday.year())),
        ("fleet", "/sites".to_owned()),
    ];
    let backend = running.store.backend();
    let mut group = c.benchmark_group(format!("report_pages_{backend}"));
    group.sample_size(30).measurement_time(Duration::from_secs(5));
    for (name, path) in paths {
        let url = format!("{}{path}", running.base);
        group.bench_function(name, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let response =
                        running.http.get(&url).header("cookie", &running.cookie).send().await.unwrap();
                    assert_eq!(response.status(), 200, "{url}");
                    response.bytes().await.unwrap()
                })
            })
        });
    }
    group.finish();

    // Where a year page's time goes: reading the rollups, and computing the report from them.
    let store = Arc::clone(&running.store);
    let tenant = runtime.block_on(store.tenant(&slug())).unwrap();
    let gateway = runtime.block_on(tenant.gateway(&GatewayId::parse(YEAR_SITE).unwrap())).unwrap().unwrap();
    let devices = runtime.block_on(tenant.devices(&gateway.id)).unwrap();
    let year = Period::Year { year: yesterday.year() };
    let mut group = c.benchmark_group(format!("year_report_{backend}"));
    group.sample_size(30).measurement_time(Duration::from_secs(5));
    group.bench_function("read_rollups", |b| {
        b.iter(|| {
            runtime
                .block_on(reports::device_rollups(tenant.as_ref(), &gateway.id, &devices, year.bounds(tz)))
                .unwrap()
        })
    });
    let rollups = runtime
        .block_on(reports::device_rollups(tenant.as_ref(), &gateway.id, &devices, year.bounds(tz)))
        .unwrap();
    let facts = SiteFacts::of(&gateway, tz, None);
    let now = Utc::now();
    group.bench_function("compute", |b| b.iter(|| SiteReport::compute(facts, &rollups, year, now)));
    group.finish();
}

criterion_group!(benches, pages);
criterion_main!(benches);
