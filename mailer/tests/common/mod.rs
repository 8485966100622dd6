//! Helpers for the mailer's end-to-end tests: a real SMTP server process (aiosmtpd), a real
//! embedded store with providers, customers, gateways and readings, and a mailer wired to both.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use heliograph_mailer::summary::{Cadence, SummaryPeriod};
use heliograph_mailer::{Mailer, MailerSettings, Outbox, SmtpOutbox, SmtpSecurity, SmtpSettings};
use heliograph_shared::store::{self, Store, StoreSettings, TenantStore, WriteBatch};
use heliograph_shared::{
    Customer, CustomerId, Device, DeviceId, DeviceKind, EmailAddress, Gateway, GatewayId, GatewayToken,
    Metric, Metrics, Provider, ProviderSlug, Reading, ReportSchedule, UnsubscribeKey,
};
use heliograph_testkit::try_wait_until;

/// The Python that runs aiosmtpd: `HELIOGRAPH_PYTHON`, else the test command's venv.
fn python() -> PathBuf {
    if let Ok(python) = std::env::var("HELIOGRAPH_PYTHON") {
        return PathBuf::from(python);
    }
    let cache = std::env::var("HELIOGRAPH_CACHE").map(PathBuf::from).unwrap_or_else(|_| {
        PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into())).join(".cache/heliograph")
    });
    cache.join("venv/bin/python")
}

/// The clock of tests whose mail falls due by the day in Berlin: real time, moved to noon of the
/// Berlin day the test starts in, so that no midnight passes while a test runs (a new daily
/// summary would fall due in the middle of it), whenever the suite runs.
pub struct BerlinDayClock {
    started: Instant,
    noon: DateTime<Utc>,
}

impl BerlinDayClock {
    /// A clock at noon of today in Berlin, running from now on.
    pub fn start() -> Self {
        let berlin = chrono_tz::Europe::Berlin;
        let today = Utc::now().with_timezone(&berlin).date_naive();
        let noon = today
            .and_hms_opt(12, 0, 0)
            .expect("noon is a time of day")
            .and_local_timezone(berlin)
            .single()
            .expect("noon is never in a Berlin clock change")
            .with_timezone(&Utc);
        Self { started: Instant::now(), noon }
    }

    /// The time on this clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.noon + TimeDelta::from_std(self.started.elapsed()).expect("a test runs for less than years")
    }

    /// The day before the clock's day in Berlin: the daily summary due.
    pub fn yesterday(&self) -> SummaryPeriod {
        let today = self.noon.with_timezone(&chrono_tz::Europe::Berlin).date_naive();
        SummaryPeriod::containing(Cadence::Day, today - chrono::Days::new(1))
    }
}

pub use heliograph_testkit::free_port;

/// A real SMTP server process that writes each message it accepts to a directory.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl SmtpServer {
    /// Starts aiosmtpd on `port` and waits until it accepts connections.
    pub fn start_on(port: u16, dir: &Path) -> Self {
        Self::spawn(port, dir, Duration::ZERO)
    }

    /// Starts aiosmtpd on a free port, taking `delay` over each message before it accepts it.
    pub fn start_slow(dir: &Path, delay: Duration) -> Self {
        Self::spawn(free_port(), dir, delay)
    }

    fn spawn(port: u16, dir: &Path, delay: Duration) -> Self {
        let python = python();
        let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
        let child = Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "smtp_sink.Sink"])
            .arg(dir)
            .env("PYTHONPATH", &tests)
            .env("SMTP_SINK_DELAY", delay.as_secs_f64().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start the test SMTP server with {}: {e}. Create the venv with \
                     `python3 -m venv ~/.cache/heliograph/venv && ~/.cache/heliograph/venv/bin/pip install aiosmtpd==1.4.6` \
                     or set HELIOGRAPH_PYTHON to a Python that has aiosmtpd",
                    python.display()
                )
            });
        let mut server = Self { child, port, dir: dir.to_path_buf() };
        let listening = try_wait_until(Duration::from_secs(20), || {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "the test SMTP server ({} -m aiosmtpd) exited with {status}; is aiosmtpd installed in it?",
                    python.display()
                );
            }
            TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).is_ok()
        });
        assert!(listening, "the test SMTP server did not listen on port {port} within 20 s");
        server
    }

    /// Starts aiosmtpd on a free port.
    pub fn start(dir: &Path) -> Self {
        Self::start_on(free_port(), dir)
    }

    /// The raw messages received so far.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        paths.sort();
        paths.iter().map(|p| std::fs::read(p).expect("readable message")).collect()
    }

    /// Waits until at least `count` messages arrived (polling with a deadline).
    pub fn wait_for(&self, count: usize, within: Duration) -> Vec<Vec<u8>> {
        // The caller asserts on what arrived, so a shortfall is its failure, not this wait's.
        try_wait_until(within, || self.messages().len() >= count);
        self.messages()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Mailer settings for tests: SMTP on `port`, fast retries, no delay after a period closes.
pub fn settings(port: u16) -> MailerSettings {
    MailerSettings {
        smtp: SmtpSettings {
            host: "127.0.0.1".into(),
            port: Some(port),
            security: SmtpSecurity::Plain,
            timeout_secs: 5,
            pool_size: 4,
            ..SmtpSettings::default()
        },
        from_address: "reports@sunny.example".into(),
        public_url: "https://panel.sunny.example".into(),
        summary_delay_minutes: 0,
        catch_up_days: 1,
        retry_base_secs: 1,
        retry_max_secs: 2,
        ..MailerSettings::default()
    }
}

/// The unsubscribe key every test mailer shares.
pub fn unsubscribe_key() -> UnsubscribeKey {
    UnsubscribeKey::new(&[7u8; 32]).expect("32 bytes")
}

/// A mailer over `store` sending to the SMTP server on `port`.
pub fn mailer(store: Arc<dyn Store>, settings: MailerSettings) -> Mailer {
    let outbox = Outbox::Smtp(SmtpOutbox::new(&settings.smtp).expect("valid SMTP settings"));
    Mailer::new(store, settings, outbox, unsubscribe_key())
}

/// A provider with a brand.
/// An embedded store under `dir`.
pub async fn embedded_store(dir: &Path) -> Arc<dyn Store> {
    store::open(&StoreSettings::Embedded { data_dir: dir.join("data") }).await.expect("store opens")
}

pub async fn provider(store: &Arc<dyn Store>, slug: &str, schedule: ReportSchedule) -> Arc<dyn TenantStore> {
    let slug = ProviderSlug::parse(slug).expect("valid slug");
    let mut provider = Provider::new(slug.clone(), "Sunny Installations GmbH");
    provider.preferences.branding_name = "Sunny Solar".into();
    provider.preferences.report_schedule = schedule;
    provider.timezone = chrono_tz::Europe::Berlin;
    store.create_provider(&provider).await.expect("provider created");
    store.tenant(&slug).await.expect("tenant handle")
}

/// A customer with one address.
pub async fn customer(tenant: &Arc<dyn TenantStore>, name: &str, email: &str, tz: Tz) -> Customer {
    let customer = Customer {
        id: CustomerId::new_random(),
        name: name.into(),
        emails: vec![EmailAddress::parse(email).expect("valid address")],
        timezone: tz,
        active: true,
    };
    tenant.upsert_customer(&customer).await.expect("customer stored");
    customer
}

/// A site of `customer` with one inverter (and a meter when asked).
pub async fn site(
    tenant: &Arc<dyn TenantStore>,
    id: &str,
    name: &str,
    customer: CustomerId,
    kwp: f64,
) -> Gateway {
    let gateway = Gateway {
        id: GatewayId::parse(id).expect("valid id"),
        customer: Some(customer),
        site_name: name.into(),
        capacity_kwp: kwp,
        token_hash: GatewayToken::generate().hash(),
        previous_token: None,
        last_seen: None,
        active: true,
        location: None,
        alerting: Default::default(),
    };
    tenant.create_gateway(&gateway).await.expect("gateway created");
    gateway
}

/// One inverter's readings every `step` from `from` to `to`: the lifetime counter is
/// `counter(t)` Wh and AC power `power(t)` W.
pub fn inverter_readings(
    gateway: &GatewayId,
    device: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    step: TimeDelta,
    counter: impl Fn(DateTime<Utc>) -> f64,
    power: impl Fn(DateTime<Utc>) -> f64,
) -> Vec<Reading> {
    let mut out = Vec::new();
    let mut ts = from;
    while ts < to {
        let mut metrics = Metrics::default();
        metrics.set(Metric::Energy, counter(ts)).expect("valid energy");
        metrics.set(Metric::AcPower, power(ts)).expect("valid power");
        out.push(Reading {
            gateway: gateway.clone(),
            device: DeviceId::parse(device).expect("valid device id"),
            ts,
            status: None,
            metrics,
        });
        ts += step;
    }
    out
}

/// Stores readings as the ingest server would (in documents of at most 500), with the device.
pub async fn write(tenant: &Arc<dyn TenantStore>, readings: Vec<Reading>, kind: DeviceKind) {
    let Some(first) = readings.first() else { return };
    let device = Device {
        gateway: first.gateway.clone(),
        id: first.device.clone(),
        kind,
        manufacturer: Some("Fronius".into()),
        model: Some("Symo 10.0".into()),
        serial: None,
        last_seen: readings.last().map(|r| r.ts),
    };
    for chunk in readings.chunks(500) {
        let mut batch = WriteBatch::new(first.gateway.clone(), chunk[chunk.len() - 1].ts);
        batch.readings = chunk.to_vec();
        batch.devices = vec![device.clone()];
        tenant.write_batch(batch).await.expect("readings stored");
    }
}

/// Parses a received message.
pub fn parse(raw: &[u8]) -> mailparse::ParsedMail<'_> {
    mailparse::parse_mail(raw).expect("a parseable message")
}

/// A header's decoded value.
pub fn header(mail: &mailparse::ParsedMail<'_>, name: &str) -> Option<String> {
    use mailparse::MailHeaderMap as _;
    mail.headers.get_first_value(name)
}

/// The decoded body of the first part with `mime` type.
pub fn part(mail: &mailparse::ParsedMail<'_>, mime: &str) -> Option<String> {
    if mail.ctype.mimetype == mime {
        return mail.get_body().ok();
    }
    mail.subparts.iter().find_map(|p| part(p, mime))
}
