//! Simulated gateways: their identities and tokens (created in the store, or read from a file),
//! and the plant, meter and sensor each one carries.

use std::path::Path;

use anyhow::Context as _;
use chrono::{DateTime, Duration, Timelike, Utc};
use chrono_tz::Tz;
use heliograph_shared::store::{Store, StoreError, TenantStore};
use heliograph_shared::{
    Customer, CustomerId, EmailAddress, Gateway, GatewayId, GatewayToken, PasswordDigest, Provider,
    ProviderSlug, User, Username,
};

use crate::solar::Plant;

/// A grid meter's lifetime counters.
#[derive(Debug, Clone, Default)]
pub struct Meter {
    /// Imported energy, Wh.
    pub import_wh: f64,
    /// Exported energy, Wh.
    pub export_wh: f64,
    last: Option<DateTime<Utc>>,
}

impl Meter {
    /// Integrates the grid power (positive = import) up to `ts`.
    pub fn advance(&mut self, ts: DateTime<Utc>, grid_w: f64) {
        if let Some(last) = self.last {
            let hours = (ts - last).num_milliseconds().max(0) as f64 / 3_600_000.0;
            if grid_w >= 0.0 {
                self.import_wh += grid_w * hours;
            } else {
                self.export_wh += -grid_w * hours;
            }
        }
        self.last = Some(ts);
    }
}

/// One simulated gateway.
#[derive(Debug, Clone)]
pub struct SimulatedGateway {
    /// Its id.
    pub id: GatewayId,
    /// Its token, in clear (the simulator is the gateway).
    pub token: String,
    /// The plant behind its inverter.
    pub plant: Plant,
    /// Whether it also reports a grid meter.
    pub has_meter: bool,
    /// Whether it also reports an irradiance sensor.
    pub has_sensor: bool,
    /// The meter's counters.
    pub meter: Meter,
}

impl SimulatedGateway {
    fn new(id: GatewayId, token: String, index: usize, seed: u64) -> Self {
        let capacity_kwp = capacity(index, seed);
        Self {
            id,
            token,
            plant: Plant {
                capacity_kwp,
                latitude: 48.14,
                longitude: 11.58,
                seed: seed.wrapping_mul(7919).wrapping_add(index as u64),
                // A few years of production already on the counter.
                energy_wh: capacity_kwp * 1_000.0 * 1_000.0 * (1.0 + (index % 5) as f64),
                last: None,
            },
            has_meter: index.is_multiple_of(2),
            has_sensor: index.is_multiple_of(3),
            meter: Meter { import_wh: 2.0e6 + index as f64 * 1e5, export_wh: 1.0e6, last: None },
        }
    }

    /// Household consumption, W: a base load with morning and evening peaks.
    pub fn consumption(&self, ts: DateTime<Utc>) -> f64 {
        let hour = f64::from(ts.hour()) + f64::from(ts.minute()) / 60.0;
        let peak = |centre: f64, width: f64| (-((hour - centre) / width).powi(2)).exp();
        350.0 + 1_200.0 * peak(6.5, 1.2) + 2_000.0 * peak(18.5, 2.0)
    }
}

/// Capacities between 4 and 40 kWp, varying by site.
fn capacity(index: usize, seed: u64) -> f64 {
    let spread = ((index as u64).wrapping_mul(2_654_435_761).wrapping_add(seed) % 37) as f64;
    ((4.0 + spread) * 10.0).round() / 10.0
}

/// `ACME-CO` for `acme_co`.
pub fn default_prefix(slug: &ProviderSlug) -> String {
    slug.as_str().to_ascii_uppercase().replace('_', "-")
}

const SITE_NAMES: [&str; 12] = [
    "Huber residence",
    "Bakery Maier",
    "Schneider farm",
    "Town hall roof",
    "Weber family",
    "Car park canopy",
    "Brewery Fischer",
    "School gym",
    "Wagner residence",
    "Dairy Becker",
    "Hotel Alpenblick",
    "Workshop Koch",
];

/// Creates (or re-keys) `count` gateways with ids `<prefix>-0001…` at `slug`, each commissioned to
/// a customer of its own, and returns them with fresh tokens.
pub async fn provision(
    store: &dyn Store,
    slug: &ProviderSlug,
    prefix: &str,
    count: usize,
    seed: u64,
) -> anyhow::Result<Vec<SimulatedGateway>> {
    let provider = store.provider(slug).await?.with_context(|| format!("provider {slug} does not exist"))?;
    let tenant = store.tenant(slug).await?;
    let mut gateways = Vec::with_capacity(count);
    for index in 1..=count {
        let id = GatewayId::parse(&format!("{prefix}-{index:04}"))?;
        let site = SITE_NAMES[(index - 1) % SITE_NAMES.len()];
        let token = GatewayToken::generate();
        let simulated = SimulatedGateway::new(id.clone(), token.reveal().to_owned(), index, seed);
        match tenant.gateway(&id).await? {
            Some(mut existing) => {
                existing.previous_token = Some((existing.token_hash, Utc::now() + Duration::hours(1)));
                existing.token_hash = token.hash();
                tenant.update_gateway(&existing).await?;
            }
            None => {
                let customer = ensure_customer(tenant.as_ref(), site, provider.timezone, index).await?;
                let gateway = Gateway {
                    id,
                    customer: Some(customer),
                    site_name: format!("{site} ({index})"),
                    capacity_kwp: simulated.plant.capacity_kwp,
                    token_hash: token.hash(),
                    previous_token: None,
                    last_seen: None,
                    active: true,
                };
                tenant.create_gateway(&gateway).await?;
            }
        }
        gateways.push(simulated);
    }
    Ok(gateways)
}

async fn ensure_customer(
    tenant: &dyn TenantStore,
    site: &str,
    timezone: Tz,
    index: usize,
) -> anyhow::Result<CustomerId> {
    let name = format!("{site} ({index})");
    if let Some(existing) = tenant.customers().await?.into_iter().find(|c| c.name == name) {
        return Ok(existing.id);
    }
    let email = format!("owner{index}@{}.example", tenant.provider().as_str().replace('_', "-"));
    let customer = Customer {
        id: CustomerId::new_random(),
        name,
        emails: vec![EmailAddress::parse(&email).map_err(anyhow::Error::msg)?],
        timezone,
        active: true,
    };
    tenant.upsert_customer(&customer).await?;
    Ok(customer.id)
}

/// Writes `id token` lines (mode 0600: they are secrets).
pub fn write_tokens(path: &Path, gateways: &[SimulatedGateway]) -> anyhow::Result<()> {
    let text: String = gateways.iter().map(|g| format!("{} {}\n", g.id, g.token)).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    // Created owner-only, so the tokens are never readable by others, not even for a moment.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        // An existing file keeps its mode when opened: narrow it too.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    std::io::Write::write_all(&mut file, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Reads `id token` lines; uses the first `count`.
pub fn read_tokens(path: &Path, count: usize, seed: u64) -> anyhow::Result<Vec<SimulatedGateway>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut gateways = Vec::new();
    for (index, line) in text.lines().filter(|l| !l.trim().is_empty()).take(count).enumerate() {
        let (id, token) =
            line.split_once(' ').with_context(|| format!("line {} is not `id token`", index + 1))?;
        gateways.push(SimulatedGateway::new(
            GatewayId::parse(id.trim())?,
            token.trim().to_owned(),
            index + 1,
            seed,
        ));
    }
    anyhow::ensure!(
        gateways.len() == count,
        "{} holds {} gateways, {count} wanted",
        path.display(),
        gateways.len()
    );
    Ok(gateways)
}

/// The demo's panel user at every demo provider, and its password (printed at start-up).
pub const DEMO_LOGIN: (&str, &str) = ("demo", "demo");

/// The demo providers' slugs.
pub const DEMO_PROVIDERS: [&str; 2] = ["sunrise", "voltwerk"];

/// Creates the demo user at a provider unless it exists.
async fn ensure_demo_user(tenant: &dyn TenantStore) -> anyhow::Result<()> {
    let username = Username::parse(DEMO_LOGIN.0).map_err(anyhow::Error::msg)?;
    if tenant.user(&username).await?.is_some() {
        return Ok(());
    }
    let password = tokio::task::spawn_blocking(|| PasswordDigest::hash(DEMO_LOGIN.1))
        .await?
        .map_err(anyhow::Error::msg)?;
    tenant.upsert_user(&User::new(username, "Demo user", password)).await?;
    Ok(())
}

/// The demo's two providers and their fleets (created when missing, re-keyed otherwise), each
/// with the demo panel user.
pub async fn demo_fleets(store: &dyn Store) -> anyhow::Result<Vec<Vec<SimulatedGateway>>> {
    let fleets = [
        (DEMO_PROVIDERS[0], "Sunrise Solar Installers", "Europe/Berlin", 4),
        (DEMO_PROVIDERS[1], "Voltwerk O&M", "Europe/Vienna", 3),
    ];
    let mut out = Vec::new();
    for (slug, name, timezone, count) in fleets {
        let slug = ProviderSlug::parse(slug)?;
        let mut provider = Provider::new(slug.clone(), name);
        provider.timezone = timezone.parse().map_err(|_| anyhow::anyhow!("bad demo timezone"))?;
        match store.create_provider(&provider).await {
            Ok(()) | Err(StoreError::ProviderExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
        ensure_demo_user(store.tenant(&slug).await?.as_ref()).await?;
        out.push(provision(store, &slug, &default_prefix(&slug), count, 11).await?);
    }
    Ok(out)
}
