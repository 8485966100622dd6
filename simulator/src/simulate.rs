//! `heliograph simulate`: gateways that push realistic solar data over real TCP connections,
//! used by the demo, the tests and the benchmarks.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration as StdDuration;

use anyhow::Context as _;
use chrono::{DateTime, Duration, DurationRound, Utc};
use clap::Args;
use heliograph_shared::ProviderSlug;
use heliograph_shared::store::StoreSettings;
use tokio_util::sync::CancellationToken;

use crate::gateway::{GatewayClient, Totals};
use crate::provision::{self, SimulatedGateway};

/// `simulate` options.
#[derive(Debug, Args, Clone)]
pub struct SimulateArgs {
    /// Ingest server to push to.
    #[arg(long, default_value = "127.0.0.1:7700")]
    pub target: SocketAddr,
    /// Provider whose gateways are simulated.
    #[arg(long)]
    pub provider: String,
    /// Number of gateways.
    #[arg(long, default_value_t = 3)]
    pub gateways: usize,
    /// Gateway id prefix; ids are `<PREFIX>-0001`…; defaults to the upper-cased provider slug.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Create the gateways (and a customer) in the store if missing and issue fresh tokens
    /// (needs the store settings); without it, tokens are read from --tokens.
    #[arg(long)]
    pub provision: bool,
    /// A file of `gateway-id token` lines, written by --provision, read otherwise.
    #[arg(long)]
    pub tokens: Option<PathBuf>,
    /// Simulate history from this many hours ago up to now (backfill), then stop unless --live.
    #[arg(long, default_value_t = 0.0)]
    pub history_hours: f64,
    /// Seconds between readings of one device.
    #[arg(long, default_value_t = 60)]
    pub step_secs: u64,
    /// Readings per document.
    #[arg(long, default_value_t = 60)]
    pub batch: usize,
    /// Keep sending live readings every --step-secs until interrupted (or for --live-secs).
    #[arg(long)]
    pub live: bool,
    /// Stop live mode after this many seconds.
    #[arg(long)]
    pub live_secs: Option<u64>,
    /// Site latitude for the sun's path.
    #[arg(long, default_value_t = 48.14)]
    pub latitude: f64,
    /// Site longitude for the sun's path.
    #[arg(long, default_value_t = 11.58)]
    pub longitude: f64,
    /// Seed for clouds and capacities (same seed, same data).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// `heliograph simulate`, against the store `store` describes (for `--provision`).
pub async fn run(store: &StoreSettings, args: SimulateArgs) -> anyhow::Result<()> {
    let slug = ProviderSlug::parse(&args.provider)?;
    let prefix = args.prefix.clone().unwrap_or_else(|| provision::default_prefix(&slug));
    let gateways = if args.provision {
        let store = heliograph_shared::store::open(store).await.context("cannot open the store")?;
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
