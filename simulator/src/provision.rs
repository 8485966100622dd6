//! Simulated gateways: their identities and tokens (created in the store, or read from a file),
//! and the plant, meter and sensor each one carries.

use std::path::Path;

use anyhow::Context as _;
use chrono::{DateTime, Duration, Timelike, Utc};
use chrono_tz::Tz;
use heliograph_shared::store::{Store, TenantStore};
use heliograph_shared::{Customer, CustomerId, EmailAddress, Gateway, GatewayId, GatewayToken, ProviderSlug};

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
    /// What is wrong with the site, if anything.
    pub condition: Condition,
    /// Readings up to this time are already stored: they are still simulated (the counters run
    /// on from them) but not sent again.
    pub stored_until: Option<DateTime<Utc>>,
}

/// What a simulated site suffers from, so that the demo shows what an installer looks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Condition {
    /// Works as it should.
    Healthy,
    /// The inverter reports a fault and produces nothing from this time on.
    Fault {
        /// When the fault began.
        since: DateTime<Utc>,
    },
    /// The gateway has sent nothing since this time (a router unplugged, a SIM out of credit).
    Offline {
        /// Its last reading.
        since: DateTime<Utc>,
    },
    /// The plant delivers only this share of what its peers do (soiling, a failed string).
    Underperforming {
        /// The share, between 0 and 1.
        share: f64,
    },
}

impl SimulatedGateway {
    pub(crate) fn new(id: GatewayId, token: String, index: usize, seed: u64) -> Self {
        let capacity_kwp = capacity(index, seed);
        Self {
            id,
            token,
            plant: Plant {
                capacity_kwp,
                latitude: 48.14,
                longitude: 11.58,
                seed: seed.wrapping_mul(7919).wrapping_add(index as u64),
                derate: 1.0,
                // A few years of production already on the counter.
                energy_wh: capacity_kwp * 1_000.0 * 1_000.0 * (1.0 + (index % 5) as f64),
                last: None,
            },
            has_meter: index.is_multiple_of(2),
            has_sensor: index.is_multiple_of(3),
            meter: Meter { import_wh: 2.0e6 + index as f64 * 1e5, export_wh: 1.0e6, last: None },
            condition: Condition::Healthy,
            stored_until: None,
        }
    }

    /// Household consumption, W: a base load with morning and evening peaks, by the site's
    /// solar time (so that the peaks fall where the households are, whatever the longitude).
    pub fn consumption(&self, ts: DateTime<Utc>) -> f64 {
        let utc_hour = f64::from(ts.hour()) + f64::from(ts.minute()) / 60.0;
        let hour = (utc_hour + self.plant.longitude / 15.0).rem_euclid(24.0);
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
    let domain = slug.as_str().replace('_', "-");
    let mut gateways = Vec::with_capacity(count);
    for index in 1..=count {
        let id = GatewayId::parse(&format!("{prefix}-{index:04}"))?;
        let site = format!("{} ({index})", SITE_NAMES[(index - 1) % SITE_NAMES.len()]);
        let token = GatewayToken::generate();
        let simulated = SimulatedGateway::new(id.clone(), token.reveal().to_owned(), index, seed);
        let owner = Owner {
            name: &site,
            email: &format!("owner{index}@{domain}.example"),
            timezone: provider.timezone,
        };
        commission(tenant.as_ref(), &id, &token, &site, simulated.plant.capacity_kwp, &owner).await?;
        gateways.push(simulated);
    }
    Ok(gateways)
}

/// The customer a simulated site belongs to.
pub(crate) struct Owner<'a> {
    /// The customer's name.
    pub name: &'a str,
    /// Where their reports go.
    pub email: &'a str,
    /// Their time zone.
    pub timezone: Tz,
}

/// Gives the gateway `id` the new `token`: an existing gateway keeps its old token for an hour
/// (a running simulator may still be using it); a new one is created with its site and its
/// owner (a customer, created unless one of that name exists). Returns the gateway's last-seen
/// time when it existed.
pub(crate) async fn commission(
    tenant: &dyn TenantStore,
    id: &GatewayId,
    token: &GatewayToken,
    site_name: &str,
    capacity_kwp: f64,
    owner: &Owner<'_>,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    if let Some(mut existing) = tenant.gateway(id).await? {
        existing.previous_token = Some((existing.token_hash, Utc::now() + Duration::hours(1)));
        existing.token_hash = token.hash();
        tenant.update_gateway(&existing).await?;
        return Ok(existing.last_seen);
    }
    let customer = ensure_customer(tenant, owner).await?;
    let gateway = Gateway::new(id.clone(), Some(customer), site_name.to_owned(), capacity_kwp, token.hash());
    tenant.create_gateway(&gateway).await?;
    Ok(None)
}

async fn ensure_customer(tenant: &dyn TenantStore, owner: &Owner<'_>) -> anyhow::Result<CustomerId> {
    if let Some(existing) = tenant.customers().await?.into_iter().find(|c| c.name == owner.name) {
        return Ok(existing.id);
    }
    let customer = Customer {
        id: CustomerId::new_random(),
        name: owner.name.to_owned(),
        emails: vec![EmailAddress::parse(owner.email).map_err(anyhow::Error::msg)?],
        timezone: owner.timezone,
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
