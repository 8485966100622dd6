//! The real web app on port 0 over a real embedded store in a temporary directory, seeded with
//! two providers, and an HTTP client that logs in through the login form like a browser.

#![allow(dead_code, clippy::unwrap_used)] // each test binary uses part of the helpers

use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use heliograph_shared::reports::Period;
use heliograph_shared::store::{self, Store, StoreSettings, WriteBatch};
use heliograph_shared::{
    Alert, AlertKind, ApiToken, Customer, CustomerId, Device, DeviceId, DeviceKind, DeviceStatus,
    EmailAddress, Gateway, GatewayId, GatewayToken, Metric, Metrics, PasswordDigest, Provider, ProviderSlug,
    Reading, User, Username,
};
use heliograph_testkit::try_wait_until_async;
use heliograph_web::{WebServer, WebSettings};
use tokio_util::sync::CancellationToken;

/// Every seeded user's password.
pub const PASSWORD: &str = "correct horse battery";
/// Every seeded user's name.
pub const USER: &str = "anna";
/// The fixed day every provider has complete data for.
pub const DAY: &str = "2026-06-01";

/// The key the app verifies unsubscribe links with (the mailer would sign them with it).
pub fn unsubscribe_key() -> heliograph_shared::UnsubscribeKey {
    heliograph_shared::UnsubscribeKey::new(&[7; 32]).unwrap()
}

/// One seeded provider.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// Its slug.
    pub slug: ProviderSlug,
    /// Its timezone.
    pub timezone: Tz,
    /// Its customer.
    pub customer: CustomerId,
    /// Its gateway.
    pub gateway: GatewayId,
    /// A valid API token.
    pub api_token: String,
    /// Production on [`DAY`], Wh (the counter's rise over the local day).
    pub day_production_wh: f64,
}

/// A running app.
pub struct TestApp {
    /// `http://127.0.0.1:port`.
    pub base: String,
    /// The store behind it.
    pub store: Arc<dyn Store>,
    /// A client that does not follow redirects.
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A logged-in session: its cookie and CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    /// `hg_session=…`.
    pub cookie: String,
    /// The token forms carry.
    pub csrf: String,
}

/// The value of a `Set-Cookie` named `name` in a response.
pub fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    heliograph_testkit::cookies::set_cookie(response.headers(), name)
}

pub use heliograph_testkit::forms::csrf_field;

impl TestApp {
    /// Starts the app with two seeded providers, `sunrise` (Berlin) and `voltwerk` (Vienna).
    pub async fn spawn() -> anyhow::Result<(Self, Fleet, Fleet)> {
        Self::spawn_with(WebSettings::default()).await
    }

    /// Starts the app with these web settings (the listener is always 127.0.0.1:0).
    pub async fn spawn_with(settings: WebSettings) -> anyhow::Result<(Self, Fleet, Fleet)> {
        let (dir, store) = empty_store().await?;
        let sunrise = seed(store.as_ref(), "sunrise", "Europe/Berlin", "SUN-1", "Alice Huber").await?;
        let voltwerk = seed(store.as_ref(), "voltwerk", "Europe/Vienna", "VOLT-1", "Bob Gruber").await?;
        Ok((Self::start(dir, store, settings).await?, sunrise, voltwerk))
    }

    /// Starts the app over a store seeded by the caller.
    pub async fn start(
        dir: tempfile::TempDir,
        store: Arc<dyn Store>,
        mut settings: WebSettings,
    ) -> anyhow::Result<Self> {
        settings.listen = "127.0.0.1:0".parse()?;
        let server =
            WebServer::bind(&settings, Arc::clone(&store)).await?.with_unsubscribe_key(unsubscribe_key());
        let base = format!("http://{}", server.local_addr()?);
        let shutdown = CancellationToken::new();
        tokio::spawn(server.run(shutdown.clone()));
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
        let app = Self { base, store, http, shutdown, _dir: dir };
        app.wait_ready().await?;
        Ok(app)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let ready = try_wait_until_async(std::time::Duration::from_secs(10), || async {
            let answer = self.http.get(format!("{}/readyz", self.base)).send().await;
            answer.is_ok_and(|r| r.status().is_success()).then_some(())
        })
        .await;
        anyhow::ensure!(ready.is_some(), "the app did not become ready");
        Ok(())
    }

    /// The login page's token and cookie.
    pub async fn login_form(&self) -> anyhow::Result<(String, String)> {
        let response = self.http.get(format!("{}/login", self.base)).send().await?;
        let cookie = set_cookie(&response, "hg_login").context("no login cookie")?;
        let html = response.text().await?;
        let token = csrf_field(&html).context("no token on the login page")?;
        Ok((token, cookie.split(';').next().unwrap_or_default().to_owned()))
    }

    /// Posts the login form as a browser would.
    pub async fn login(
        &self,
        provider: &str,
        user: &str,
        password: &str,
    ) -> anyhow::Result<reqwest::Response> {
        let (token, cookie) = self.login_form().await?;
        Ok(self
            .http
            .post(format!("{}/login", self.base))
            .header(reqwest::header::COOKIE, cookie)
            .form(&[
                ("csrf", token.as_str()),
                ("provider", provider),
                ("username", user),
                ("password", password),
                ("next", "/"),
            ])
            .send()
            .await?)
    }

    /// Logs in as the seeded user of `provider`.
    pub async fn session(&self, provider: &str) -> anyhow::Result<Session> {
        let response = self.login(provider, USER, PASSWORD).await?;
        anyhow::ensure!(response.status() == 303, "login answered {}", response.status());
        let cookie = set_cookie(&response, "hg_session").context("no session cookie")?;
        let cookie = cookie.split(';').next().unwrap_or_default().to_owned();
        let html = self
            .http
            .get(format!("{}/sites", self.base))
            .header(reqwest::header::COOKIE, &cookie)
            .send()
            .await?
            .text()
            .await?;
        let csrf = csrf_field(&html).context("no token on the fleet page")?;
        Ok(Session { cookie, csrf })
    }

    /// `GET path` in a session.
    pub async fn get(&self, session: &Session, path: &str) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .http
            .get(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, &session.cookie)
            .send()
            .await?)
    }

    /// `POST path` with a form in a session, the session's CSRF token added.
    pub async fn post(
        &self,
        session: &Session,
        path: &str,
        form: &[(&str, &str)],
    ) -> anyhow::Result<reqwest::Response> {
        let mut fields: Vec<(&str, &str)> = vec![("csrf", session.csrf.as_str())];
        fields.extend_from_slice(form);
        Ok(self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, &session.cookie)
            .form(&fields)
            .send()
            .await?)
    }

    /// `GET /api/v1…` with a bearer token.
    pub async fn api(&self, token: &str, path: &str) -> anyhow::Result<reqwest::Response> {
        Ok(self.http.get(format!("{}/api/v1{path}", self.base)).bearer_auth(token).send().await?)
    }
}

pub use heliograph_testkit::sun::bell;

/// Readings of an inverter and a grid meter every `step` over `range`, counters continuing from
/// `energy` (Wh) and returned advanced.
pub fn readings(
    gateway: &GatewayId,
    range: std::ops::Range<DateTime<Utc>>,
    step: TimeDelta,
    peak: f64,
    energy: &mut f64,
    meter: &mut (f64, f64),
) -> Vec<Reading> {
    let inverter = DeviceId::parse("inv-1").unwrap();
    let grid = DeviceId::parse("meter-1").unwrap();
    let hours = step.num_seconds() as f64 / 3600.0;
    let mut out = Vec::new();
    let mut ts = range.start;
    while ts < range.end {
        let power = bell(ts, peak);
        *energy += power * hours;
        let net = 600.0 - power;
        if net >= 0.0 {
            meter.0 += net * hours;
        } else {
            meter.1 += -net * hours;
        }
        let mut m = Metrics::default();
        m.set(Metric::AcPower, power).unwrap();
        m.set(Metric::Energy, *energy).unwrap();
        m.set(Metric::AcVoltage, 230.0).unwrap();
        m.set(Metric::Temperature, 25.0).unwrap();
        let status = if power > 0.0 { DeviceStatus::Producing } else { DeviceStatus::Standby };
        out.push(Reading {
            gateway: gateway.clone(),
            device: inverter.clone(),
            ts,
            status: Some(status),
            metrics: m,
        });
        let mut g = Metrics::default();
        g.set(Metric::AcPower, net).unwrap();
        g.set(Metric::ImportEnergy, meter.0).unwrap();
        g.set(Metric::ExportEnergy, meter.1).unwrap();
        out.push(Reading { gateway: gateway.clone(), device: grid.clone(), ts, status: None, metrics: g });
        ts += step;
    }
    out
}

/// Writes readings in day-sized batches, describing the devices.
pub async fn write(
    store: &dyn Store,
    slug: &ProviderSlug,
    gateway: &GatewayId,
    all: Vec<Reading>,
    received: DateTime<Utc>,
) -> anyhow::Result<()> {
    let tenant = store.tenant(slug).await?;
    for chunk in all.chunks(2 * 288) {
        let mut batch = WriteBatch::new(gateway.clone(), received);
        for (id, kind) in [("inv-1", DeviceKind::Inverter), ("meter-1", DeviceKind::Meter)] {
            batch.devices.push(Device {
                gateway: gateway.clone(),
                id: DeviceId::parse(id)?,
                kind,
                manufacturer: Some("Acme".into()),
                model: None,
                serial: None,
                last_seen: chunk.last().map(|r| r.ts),
            });
        }
        batch.readings = chunk.to_vec();
        tenant.write_batch(batch).await?;
    }
    Ok(())
}

/// An empty embedded store in a temporary directory.
pub async fn empty_store() -> anyhow::Result<(tempfile::TempDir, Arc<dyn Store>)> {
    let dir = tempfile::tempdir()?;
    let store = store::open(&StoreSettings::Embedded { data_dir: dir.path().to_path_buf() }).await?;
    Ok((dir, store))
}

/// A provider in `timezone` with the user [`USER`] and an API token; returns the token.
pub async fn provider(
    store: &dyn Store,
    slug: &ProviderSlug,
    name: &str,
    timezone: Tz,
) -> anyhow::Result<String> {
    let mut provider = Provider::new(slug.clone(), name);
    provider.timezone = timezone;
    store.create_provider(&provider).await?;
    let tenant = store.tenant(slug).await?;
    let password =
        tokio::task::spawn_blocking(|| PasswordDigest::hash(PASSWORD)).await?.map_err(anyhow::Error::msg)?;
    let username = Username::parse(USER).map_err(anyhow::Error::msg)?;
    tenant.upsert_user(&User::new(username, "Anna", password)).await?;
    let (api_token, hash) = heliograph_web::auth::api_token::issue(slug);
    tenant.add_api_token(&ApiToken { hash, name: "test".into(), created_at: Utc::now() }).await?;
    Ok(api_token)
}

/// A customer and a gateway commissioned to it.
pub async fn site(
    store: &dyn Store,
    slug: &ProviderSlug,
    gateway: &str,
    customer: &str,
    site_name: &str,
    capacity_kwp: f64,
) -> anyhow::Result<(CustomerId, GatewayId)> {
    let tenant = store.tenant(slug).await?;
    let provider = store.provider(slug).await?.context("no provider")?;
    let customer = Customer {
        id: CustomerId::new_random(),
        name: customer.into(),
        emails: vec![EmailAddress::parse("owner@example.com").map_err(anyhow::Error::msg)?],
        timezone: provider.timezone,
        active: true,
    };
    tenant.upsert_customer(&customer).await?;
    let gateway = GatewayId::parse(gateway)?;
    let token = GatewayToken::generate();
    let record =
        Gateway::new(gateway.clone(), Some(customer.id), site_name.into(), capacity_kwp, token.hash());
    tenant.create_gateway(&record).await?;
    Ok((customer.id, gateway))
}

/// Opens an underperformance alert on `gateway` at `at`, as the monitor would.
pub async fn underperforming(
    store: &dyn Store,
    slug: &ProviderSlug,
    gateway: &GatewayId,
    at: DateTime<Utc>,
) -> anyhow::Result<()> {
    let alert = Alert::open(
        AlertKind::Underperformance,
        gateway.clone(),
        None,
        None,
        at,
        "produced 41 % of its recent median".into(),
    );
    store.tenant(slug).await?.open_alert(&alert).await?;
    Ok(())
}

/// A provider with a user, a customer, a gateway, a complete [`DAY`] of five-minute data, the
/// last three hours up to now, and an API token.
pub async fn seed(
    store: &dyn Store,
    slug: &str,
    timezone: &str,
    gateway: &str,
    customer: &str,
) -> anyhow::Result<Fleet> {
    let slug = ProviderSlug::parse(slug)?;
    let tz: Tz = timezone.parse().map_err(|_| anyhow::anyhow!("bad zone"))?;
    let api_token = provider(store, &slug, &format!("{} Solar", slug.as_str()), tz).await?;
    let (customer, gateway) = site(store, &slug, gateway, customer, &format!("{customer} site"), 8.0).await?;
    let day = Period::Day { date: NaiveDate::parse_from_str(DAY, "%Y-%m-%d")? };
    let bounds = day.bounds(tz);
    let (mut energy, mut meter) = (1_000_000.0, (50_000.0, 20_000.0));
    let start_energy = energy;
    let mut all = readings(&gateway, bounds, TimeDelta::minutes(5), 6_000.0, &mut energy, &mut meter);
    // The day's first reading (local midnight, dark) holds the starting value.
    let day_production_wh = energy - start_energy;
    let now = Utc::now();
    let recent_start = (now - TimeDelta::hours(3)).duration_trunc_minutes();
    all.extend(readings(
        &gateway,
        recent_start..now,
        TimeDelta::minutes(5),
        6_000.0,
        &mut energy,
        &mut meter,
    ));
    write(store, &slug, &gateway, all, now).await?;
    Ok(Fleet { slug, timezone: tz, customer, gateway, api_token, day_production_wh })
}

trait TruncateMinutes {
    fn duration_trunc_minutes(self) -> Self;
}

impl TruncateMinutes for DateTime<Utc> {
    fn duration_trunc_minutes(self) -> Self {
        use chrono::DurationRound as _;
        self.duration_trunc(TimeDelta::minutes(5)).unwrap_or(self)
    }
}
