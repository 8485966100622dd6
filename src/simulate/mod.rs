//! `heliograph simulate`: gateways that push realistic solar data over real TCP connections,
//! used by the demo, the tests and the benchmarks.

mod client;
pub mod provision;
pub mod solar;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use anyhow::Context as _;
use chrono::{DateTime, Duration, DurationRound, Utc};
use heliograph_shared::ProviderSlug;
use heliograph_shared::store::Store;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use self::client::{GatewayClient, Totals};
use self::provision::SimulatedGateway;
use crate::cli::SimulateArgs;
use crate::commands::serve::open_store;
use crate::settings::Settings;

/// `heliograph simulate`.
pub async fn run(settings: Settings, args: SimulateArgs) -> anyhow::Result<()> {
    let slug = ProviderSlug::parse(&args.provider)?;
    let prefix = args.prefix.clone().unwrap_or_else(|| provision::default_prefix(&slug));
    let gateways = if args.provision {
        let store = open_store(&settings).await?;
        let gateways = provision::provision(store.as_ref(), &slug, &prefix, args.gateways, args.seed).await?;
        if let Some(path) = &args.tokens {
            provision::write_tokens(path, &gateways)?;
        }
        gateways
    } else {
        let path =
            args.tokens.as_ref().context("give --provision, or --tokens with a file of `id token` lines")?;
        provision::read_tokens(path, args.gateways, args.seed)?
    };
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });
    let plan = Plan::from_args(&args);
    let totals = drive(gateways, args.target, plan, shutdown).await?;
    println!(
        "simulated {} gateways: {} documents sent, {} acknowledged, {} readings accepted, {} rejected, {} refused",
        args.gateways, totals.documents, totals.acked, totals.accepted, totals.rejected, totals.refused
    );
    anyhow::ensure!(totals.refused == 0, "{} documents were refused", totals.refused);
    Ok(())
}

/// What to send: a backfill of history, then optionally live readings.
#[derive(Debug, Clone)]
pub struct Plan {
    /// First timestamp of the backfill (None: no backfill).
    pub history_from: Option<DateTime<Utc>>,
    /// Spacing of readings.
    pub step: Duration,
    /// Readings per document.
    pub batch: usize,
    /// Keep sending live readings.
    pub live: bool,
    /// Stop live mode after this long.
    pub live_for: Option<StdDuration>,
    /// Site latitude.
    pub latitude: f64,
    /// Site longitude.
    pub longitude: f64,
}

impl Plan {
    fn from_args(args: &SimulateArgs) -> Self {
        let step = Duration::seconds(i64::try_from(args.step_secs.max(1)).unwrap_or(60));
        let history_from = (args.history_hours > 0.0).then(|| {
            let start = Utc::now() - Duration::milliseconds((args.history_hours * 3_600_000.0) as i64);
            start.duration_trunc(step).unwrap_or(start)
        });
        Self {
            history_from,
            step,
            batch: args.batch.max(1),
            live: args.live,
            live_for: args.live_secs.map(StdDuration::from_secs),
            latitude: args.latitude,
            longitude: args.longitude,
        }
    }
}

/// Runs every gateway concurrently and adds up what happened.
pub async fn drive(
    gateways: Vec<SimulatedGateway>,
    target: SocketAddr,
    plan: Plan,
    shutdown: CancellationToken,
) -> anyhow::Result<Totals> {
    let mut tasks = tokio::task::JoinSet::new();
    for gateway in gateways {
        let plan = plan.clone();
        let shutdown = shutdown.clone();
        tasks.spawn(async move { GatewayClient::connect(target, gateway, plan).await?.run(shutdown).await });
    }
    let mut totals = Totals::default();
    while let Some(joined) = tasks.join_next().await {
        totals.add(&joined.context("a simulated gateway panicked")??);
    }
    Ok(totals)
}

/// The demo behind `heliograph serve --demo`: two providers with customers and gateways, a day of
/// history, then live readings every minute until shutdown.
pub async fn demo(store: Arc<dyn Store>, target: SocketAddr, shutdown: CancellationToken) {
    let outcome = async {
        let fleets = provision::demo_fleets(store.as_ref()).await?;
        let (user, password) = provision::DEMO_LOGIN;
        info!(
            providers = provision::DEMO_PROVIDERS.join(", "),
            user,
            password,
            "demo: log in to the panel with provider sunrise (or voltwerk), user {user}, password {password}"
        );
        // One plan, so each plant's energy counter runs on from history into live data.
        let plan = Plan {
            history_from: Some((Utc::now() - Duration::days(2)).duration_trunc(Duration::minutes(1))?),
            step: Duration::minutes(1),
            batch: 240,
            live: true,
            live_for: None,
            latitude: 48.14,
            longitude: 11.58,
        };
        let all: Vec<SimulatedGateway> = fleets.into_iter().flatten().collect();
        info!(gateways = all.len(), "demo: sending two days of history, then live readings every minute");
        drive(all, target, plan, shutdown).await?;
        anyhow::Ok(())
    };
    if let Err(e) = outcome.await {
        warn!(error = %e, "demo simulation stopped");
    }
}
