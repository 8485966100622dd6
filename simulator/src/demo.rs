//! The demo behind `heliograph serve --demo`: two providers on opposite sides of the world (so
//! that one of them is in daylight at any hour), each with a fleet an installer would recognise
//! (households with grid meters, businesses with irradiance sensors, a site with an inverter
//! fault, one offline since yesterday, one producing half of what its peers do), six weeks of
//! history, and then live readings every minute.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, Duration, DurationRound, Utc};
use chrono_tz::Tz;
use heliograph_shared::store::{Store, StoreError, TenantStore};
use heliograph_shared::{
    GatewayId, GatewayToken, PasswordDigest, Provider, ProviderSlug, SiteLocation, User, Username,
};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::gateway::GatewayClient;
use crate::provision::{self, Condition, Owner, SimulatedGateway};
use crate::simulate::Plan;

/// The demo's panel user at every demo provider, and its password (printed at start-up).
pub const DEMO_LOGIN: (&str, &str) = ("demo", "demo");

/// The demo providers' slugs.
pub const DEMO_PROVIDERS: [&str; 2] = ["sunrise", "voltwerk"];

/// How much history `serve --demo` sends before going live: enough for a whole previous month,
/// so that month views, the year's bars and the first monthly summary show real figures.
pub const HISTORY: Duration = Duration::days(42);

/// Readings already stored are not sent again, except this much before the last contact (a
/// restart may have cut off documents that were in flight).
const RESEND_MARGIN: Duration = Duration::minutes(15);

/// A demo provider and where its sites are.
struct DemoProvider {
    slug: &'static str,
    name: &'static str,
    timezone: &'static str,
    latitude: f64,
    longitude: f64,
    sites: &'static [DemoSite],
}

/// What goes wrong at a demo site, relative to the demo's start.
#[derive(Clone, Copy)]
enum Trouble {
    None,
    /// The inverter reports a fault from this many hours ago.
    FaultFor(i64),
    /// The gateway has said nothing for this many hours.
    SilentFor(i64),
    /// The plant yields this share of its peers.
    Yields(f64),
}

/// One demo site: its owner, the site, and its equipment.
struct DemoSite {
    customer: &'static str,
    email: &'static str,
    site: &'static str,
    capacity_kwp: f64,
    meter: bool,
    sensor: bool,
    trouble: Trouble,
}

const fn site(
    customer: &'static str,
    email: &'static str,
    site: &'static str,
    capacity_kwp: f64,
    (meter, sensor): (bool, bool),
    trouble: Trouble,
) -> DemoSite {
    DemoSite { customer, email, site, capacity_kwp, meter, sensor, trouble }
}

const METER: (bool, bool) = (true, false);
const SENSOR: (bool, bool) = (false, true);
const BOTH: (bool, bool) = (true, true);

const PROVIDERS: [DemoProvider; 2] = [
    DemoProvider {
        slug: DEMO_PROVIDERS[0],
        name: "Sunrise Solar Installers",
        timezone: "Europe/Berlin",
        latitude: 48.14,
        longitude: 11.58,
        sites: &[
            site(
                "Anna & Markus Huber",
                "huber.family@example.de",
                "Huber home, Grünwald",
                9.8,
                METER,
                Trouble::None,
            ),
            site(
                "Bäckerei Maier GmbH",
                "buero@baeckerei-maier.example",
                "Bakery roof, Unterhaching",
                29.6,
                BOTH,
                Trouble::None,
            ),
            site(
                "Schneider Hof GbR",
                "hof@schneider-agrar.example",
                "Schneider farm barn",
                38.5,
                SENSOR,
                Trouble::FaultFor(30),
            ),
            site(
                "Gemeinde Oberhaching",
                "bauamt@oberhaching.example",
                "Town hall roof",
                24.0,
                SENSOR,
                // Half of a healthy plant: with the simulated plants' performance ratio of about
                // 0.89 this is about 55 % of the energy its sensor's sunlight leads to expect at
                // the default reference ratio of 80 %, under the alert's default 60 %.
                Trouble::Yields(0.5),
            ),
            site(
                "Familie Weber",
                "j.weber@example.de",
                "Weber home, Taufkirchen",
                7.2,
                METER,
                Trouble::SilentFor(26),
            ),
            site(
                "Hotel Alpenblick KG",
                "technik@alpenblick.example",
                "Hotel Alpenblick, Bad Tölz",
                19.9,
                BOTH,
                Trouble::None,
            ),
        ],
    },
    DemoProvider {
        slug: DEMO_PROVIDERS[1],
        name: "Voltwerk O&M",
        timezone: "Australia/Sydney",
        latitude: -33.87,
        longitude: 151.21,
        sites: &[
            site(
                "Harbourview Strata Plan 48211",
                "manager@harbourview-strata.example",
                "Harbourview apartments",
                36.0,
                SENSOR,
                Trouble::None,
            ),
            site(
                "Linh & David Nguyen",
                "nguyen.home@example.com.au",
                "Nguyen home, Marrickville",
                6.6,
                METER,
                Trouble::None,
            ),
            site(
                "Bondi Surf Bathers' Club",
                "facilities@bondi-surf.example",
                "Surf club roof, Bondi",
                15.0,
                BOTH,
                Trouble::Yields(0.5),
            ),
            site(
                "Marrickville Brewing Co.",
                "ops@marrickville-brewing.example",
                "Brewery warehouse",
                39.6,
                SENSOR,
                Trouble::FaultFor(5),
            ),
            site(
                "St Peter's Primary School",
                "office@stpeters-primary.example",
                "School hall roof",
                27.5,
                BOTH,
                Trouble::SilentFor(30),
            ),
        ],
    },
];

/// Seed for clouds and counters: the same demo each time.
const SEED: u64 = 11;

/// Runs the demo until `shutdown`: sets the providers, their panel user and fleets up (re-keying
/// gateways that exist), sends what the store lacks of `history` (see [`HISTORY`]), then live
/// readings to the ingest server at `target`.
pub async fn run(store: Arc<dyn Store>, target: SocketAddr, history: Duration, shutdown: CancellationToken) {
    if let Err(e) = drive(store, target, history, shutdown).await {
        warn!(error = %e, "demo simulation stopped");
    }
}

async fn drive(
    store: Arc<dyn Store>,
    target: SocketAddr,
    history: Duration,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let now = Utc::now().duration_trunc(Duration::minutes(1))?;
    let mut fleets = Vec::new();
    for provider in &PROVIDERS {
        fleets.push((provider, set_up(store.as_ref(), provider, now).await?));
    }
    let (user, password) = DEMO_LOGIN;
    info!(
        providers = DEMO_PROVIDERS.join(", "),
        user,
        password,
        "demo: log in to the panel with provider sunrise (or voltwerk), user {user}, password {password}"
    );
    info!(
        days = history.num_days(),
        "demo: sending what the store lacks of the history, then live readings every minute"
    );
    let mut tasks = JoinSet::new();
    for (provider, gateways) in fleets {
        let plan = Plan {
            history_from: Some(now - history),
            step: Duration::minutes(1),
            batch: 240,
            live: true,
            live_for: None,
            latitude: provider.latitude,
            longitude: provider.longitude,
        };
        let slug = ProviderSlug::parse(provider.slug)?;
        for gateway in gateways {
            let (store, plan, shutdown, slug) =
                (Arc::clone(&store), plan.clone(), shutdown.clone(), slug.clone());
            tasks.spawn(async move { send(store.as_ref(), &slug, gateway, target, plan, shutdown).await });
        }
    }
    while let Some(joined) = tasks.join_next().await {
        joined.context("a demo gateway panicked")??;
    }
    Ok(())
}

/// Sends one gateway's readings. An offline site's history is sent like any other, and its
/// last contact then dated back to its last reading, as if it had gone quiet then.
async fn send(
    store: &dyn Store,
    slug: &ProviderSlug,
    gateway: SimulatedGateway,
    target: SocketAddr,
    plan: Plan,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let silent_since = match gateway.condition {
        Condition::Offline { since } => Some(since),
        _ => None,
    };
    if let (Some(since), Some(until)) = (silent_since, gateway.stored_until)
        && until + RESEND_MARGIN >= since
    {
        return Ok(());
    }
    let id = gateway.id.clone();
    GatewayClient::connect(target, gateway, plan).await?.run(shutdown).await?;
    if let Some(since) = silent_since {
        let tenant = store.tenant(slug).await?;
        if let Some(mut stored) = tenant.gateway(&id).await? {
            stored.last_seen = Some(since);
            tenant.update_gateway(&stored).await?;
        }
    }
    Ok(())
}

/// Creates the provider, its demo user and its fleet (or re-keys the fleet), and returns the
/// fleet's simulated gateways.
async fn set_up(
    store: &dyn Store,
    demo: &DemoProvider,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<SimulatedGateway>> {
    let slug = ProviderSlug::parse(demo.slug)?;
    let timezone: Tz =
        demo.timezone.parse().map_err(|_| anyhow::anyhow!("bad demo time zone {}", demo.timezone))?;
    let mut provider = Provider::new(slug.clone(), demo.name);
    provider.timezone = timezone;
    match store.create_provider(&provider).await {
        Ok(()) | Err(StoreError::ProviderExists(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let tenant = store.tenant(&slug).await?;
    ensure_demo_user(tenant.as_ref()).await?;
    let prefix = provision::default_prefix(&slug);
    // The demo's sites are where its simulated sun shines: their daylight follows it.
    let location = SiteLocation::new(demo.latitude, demo.longitude)?;
    let mut gateways = Vec::with_capacity(demo.sites.len());
    for (index, site) in demo.sites.iter().enumerate() {
        let id = GatewayId::parse(&format!("{prefix}-{:04}", index + 1))?;
        let token = GatewayToken::generate();
        let owner = Owner { name: site.customer, email: site.email, timezone };
        let last_seen =
            provision::commission(tenant.as_ref(), &id, &token, site.site, site.capacity_kwp, &owner).await?;
        locate(tenant.as_ref(), &id, location).await?;
        let mut gateway = SimulatedGateway::new(id, token.reveal().to_owned(), index + 1, SEED);
        gateway.plant.capacity_kwp = site.capacity_kwp;
        gateway.plant.energy_wh = site.capacity_kwp * 1.0e6 * (1.0 + (index % 5) as f64);
        gateway.has_meter = site.meter;
        gateway.has_sensor = site.sensor;
        gateway.condition = match site.trouble {
            Trouble::None => Condition::Healthy,
            Trouble::FaultFor(hours) => Condition::Fault { since: now - Duration::hours(hours) },
            Trouble::SilentFor(hours) => Condition::Offline { since: now - Duration::hours(hours) },
            Trouble::Yields(share) => Condition::Underperforming { share },
        };
        gateway.stored_until = last_seen.map(|seen| seen - RESEND_MARGIN);
        gateways.push(gateway);
    }
    Ok(gateways)
}

/// Gives a demo site its location unless it has that one.
async fn locate(tenant: &dyn TenantStore, id: &GatewayId, location: SiteLocation) -> anyhow::Result<()> {
    let gateway = tenant.gateway(id).await?.ok_or_else(|| anyhow::anyhow!("demo gateway {id} is gone"))?;
    if gateway.location != Some(location) {
        tenant.set_location(id, Some(location)).await?;
    }
    Ok(())
}

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
