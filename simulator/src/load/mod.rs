//! `heliograph load`: a load generator for benchmarks. N gateways on real TCP connections send
//! pre-built documents (so generating them costs the measurement nothing), keep a window of
//! documents in flight, wait for every answer, and report readings/s, acks/s and ack latency;
//! with `--server-pid`, also the server's CPU time and peak RSS from /proc. `--direct-cassandra`
//! measures the driver-only baseline instead ([`direct`]).

mod direct;
mod prefill;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{TimeDelta, Utc};
use clap::Args;
use heliograph_shared::ProviderSlug;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use heliograph_shared::store::StoreSettings;

use crate::provision;

/// `load` options.
#[derive(Debug, Args, Clone)]
pub struct LoadArgs {
    /// Ingest server to load.
    #[arg(long, default_value = "127.0.0.1:7700")]
    pub target: SocketAddr,
    /// Provider whose gateways send.
    #[arg(long)]
    pub provider: String,
    /// Concurrent gateways (connections).
    #[arg(long, default_value_t = 64)]
    pub gateways: usize,
    /// Readings per document.
    #[arg(long, default_value_t = 60)]
    pub batch: usize,
    /// Documents per gateway.
    #[arg(long, default_value_t = 100)]
    pub documents: usize,
    /// Documents in flight per connection.
    #[arg(long, default_value_t = 4)]
    pub window: usize,
    /// Pause between documents of one gateway, milliseconds (0: as fast as acks allow).
    #[arg(long, default_value_t = 0)]
    pub pace_ms: u64,
    /// Create the gateways in the store first (needs the store settings); else read --tokens.
    #[arg(long)]
    pub provision: bool,
    /// `id token` lines (written by --provision, read otherwise).
    #[arg(long)]
    pub tokens: Option<PathBuf>,
    /// Days back from now of the first reading; readings are one minute apart, so
    /// documents × batch minutes must end before now (runs with other offsets write other rows).
    #[arg(long, default_value_t = 30)]
    pub days_back: i64,
    /// The server's process id, to report its CPU time and peak RSS.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Instead of sending, open this many idle connections, hold them, and report the server's
    /// resident memory per connection (needs --server-pid and a high `ulimit -n`).
    #[arg(long)]
    pub idle: Option<usize>,
    /// How long idle connections are held, seconds.
    #[arg(long, default_value_t = 3)]
    pub hold_secs: u64,
    /// Instead of sending to a server, write the same readings straight into the provider's
    /// Cassandra keyspace through the driver, one document at a time per gateway: the baseline
    /// of the Cassandra ingest figure (needs Cassandra store settings and --tokens).
    #[arg(long)]
    pub direct_cassandra: bool,
    /// Instead of sending, write this many readings of history straight into the store (spread
    /// over the --tokens gateways, ending --days-back days ago), for a growth run; run it while
    /// no ingest server has the embedded store open.
    #[arg(long)]
    pub prefill: Option<u64>,
}

/// What one gateway measured.
struct GatewayRun {
    latencies: Vec<Duration>,
    accepted: u64,
    refused: u64,
}

/// `heliograph load`.
pub async fn run(store: &StoreSettings, args: LoadArgs) -> anyhow::Result<()> {
    if let Some(count) = args.idle {
        return idle(&args, count).await;
    }
    let slug = ProviderSlug::parse(&args.provider)?;
    if let Some(total) = args.prefill {
        let path = args.tokens.as_ref().context("--prefill needs --tokens (the gateway ids)")?;
        let gateways: Vec<_> =
            provision::read_tokens(path, args.gateways, 1)?.into_iter().map(|g| g.id).collect();
        let tenant = open_store(store).await?.tenant(&slug).await?;
        let end = Utc::now() - TimeDelta::days(args.days_back);
        let (written, seconds) = prefill::run(tenant, &gateways, total, end).await?;
        let result = serde_json::json!({
            "mode": "prefill",
            "readings_written": written,
            "seconds": seconds,
            "readings_per_second": written as f64 / seconds,
        });
        println!("{result}");
        return Ok(());
    }
    if args.direct_cassandra {
        let path = args.tokens.as_ref().context("--direct-cassandra needs --tokens (the gateway ids)")?;
        let gateways = provision::read_tokens(path, args.gateways, 1)?;
        let measured = direct::run(store, &slug, &args, &gateways).await?;
        return measured.report(&args, None, None);
    }
    let prefix = format!("LOAD-{}", provision::default_prefix(&slug));
    let gateways = if args.provision {
        let store = open_store(store).await?;
        let gateways = provision::provision(store.as_ref(), &slug, &prefix, args.gateways, 1).await?;
        if let Some(path) = &args.tokens {
            provision::write_tokens(path, &gateways)?;
        }
        gateways
    } else {
        let path = args.tokens.as_ref().context("give --provision, or --tokens")?;
        provision::read_tokens(path, args.gateways, 1)?
    };
    // Every document is written before the clock starts, as the direct baseline parses its own
    // up front: the figure is the server's, not the load generator's formatting.
    let documents: Vec<Vec<String>> = (0..gateways.len()).map(|index| documents(&args, index)).collect();
    let cpu_before = args.server_pid.map(server_cpu_seconds).transpose()?;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for ((index, gateway), documents) in gateways.into_iter().enumerate().zip(documents) {
        let args = args.clone();
        tasks.spawn(async move { drive(&args, index, documents, gateway.id.as_str(), &gateway.token).await });
    }
    let mut latencies = Vec::new();
    let (mut accepted, mut refused) = (0u64, 0u64);
    while let Some(joined) = tasks.join_next().await {
        let run = joined.context("a load gateway panicked")??;
        latencies.extend(run.latencies);
        accepted += run.accepted;
        refused += run.refused;
    }
    let elapsed = started.elapsed();
    let cpu = match (args.server_pid, cpu_before) {
        (Some(pid), Some(before)) => Some(server_cpu_seconds(pid)? - before),
        _ => None,
    };
    let rss = args.server_pid.map(server_peak_rss_kib).transpose()?;
    Measured { latencies, accepted, refused, elapsed }.report(&args, cpu, rss)
}

/// What a load run measured, before it is reported.
struct Measured {
    /// One per document answered (or written, for the direct baseline).
    latencies: Vec<Duration>,
    /// Readings acknowledged.
    accepted: u64,
    /// Documents refused.
    refused: u64,
    /// From the first connection to the last answer.
    elapsed: Duration,
}

impl Measured {
    /// Prints the figures (one JSON object with `--json`); fails if a document was refused.
    fn report(mut self, args: &LoadArgs, cpu: Option<f64>, rss: Option<u64>) -> anyhow::Result<()> {
        let Self { accepted, refused, .. } = self;
        let elapsed = self.elapsed.as_secs_f64();
        self.latencies.sort_unstable();
        let latencies = &self.latencies;
        let percentile = |p: f64| -> f64 {
            if latencies.is_empty() {
                return 0.0;
            }
            let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
            latencies[index].as_secs_f64() * 1000.0
        };
        let result = serde_json::json!({
            "mode": if args.direct_cassandra { "direct-cassandra" } else { "ingest" },
            "gateways": args.gateways,
            "batch": args.batch,
            "documents": latencies.len(),
            "refused": refused,
            "readings_acked": accepted,
            "seconds": elapsed,
            "readings_per_second": accepted as f64 / elapsed,
            "acks_per_second": latencies.len() as f64 / elapsed,
            "ack_ms_p50": percentile(0.50),
            "ack_ms_p99": percentile(0.99),
            "ack_ms_max": percentile(1.0),
            "server_cpu_seconds": cpu,
            "server_cpu_percent": cpu.map(|c| 100.0 * c / elapsed),
            "server_peak_rss_mib": rss.map(|kib| kib as f64 / 1024.0),
        });
        if args.json {
            println!("{result}");
        } else {
            println!(
                "{accepted} readings acked in {elapsed:.2} s: {:.0} readings/s, {:.0} acks/s, ack p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {refused} refused",
                accepted as f64 / elapsed,
                latencies.len() as f64 / elapsed,
                percentile(0.5),
                percentile(0.99),
                percentile(1.0)
            );
            if let (Some(cpu), Some(rss)) = (cpu, rss) {
                println!(
                    "server: {cpu:.2} s CPU ({:.0}%), peak RSS {:.1} MiB",
                    100.0 * cpu / elapsed,
                    rss as f64 / 1024.0
                );
            }
        }
        anyhow::ensure!(refused == 0, "{refused} documents were refused");
        Ok(())
    }
}

/// Builds every document of one gateway up front.
fn documents(args: &LoadArgs, index: usize) -> Vec<String> {
    let base = Utc::now() - TimeDelta::days(args.days_back);
    (0..args.documents)
        .map(|doc| {
            let mut text = format!("<batch seq=\"{}\">", doc + 1);
            for i in 0..args.batch {
                let n = (doc * args.batch + i) as i64;
                let ts = (base + TimeDelta::minutes(n)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                let power = 1000.0 + (n % 997) as f64 + index as f64;
                text.push_str(&format!(
                    "<reading device=\"inv-1\" ts=\"{ts}\"><ac_power unit=\"W\">{power}</ac_power>\
                     <energy unit=\"Wh\">{}</energy><ac_voltage unit=\"V\">230.1</ac_voltage>\
                     <frequency unit=\"Hz\">50.01</frequency></reading>",
                    1_000_000 + n
                ));
            }
            text.push_str("</batch>\n");
            text
        })
        .collect()
}

async fn drive(
    args: &LoadArgs,
    index: usize,
    documents: Vec<String>,
    gateway: &str,
    token: &str,
) -> anyhow::Result<GatewayRun> {
    let stream = TcpStream::connect(args.target).await?;
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut answers = BufReader::new(read).lines();
    write.write_all(format!("<hello gateway=\"{gateway}\" token=\"{token}\"/>\n").as_bytes()).await?;
    let welcome = answers.next_line().await?.context("no answer to hello")?;
    anyhow::ensure!(welcome.starts_with("<welcome"), "hello refused: {welcome}");
    let mut run = GatewayRun { latencies: Vec::with_capacity(documents.len()), accepted: 0, refused: 0 };
    let mut sent_at = std::collections::VecDeque::new();
    let mut next = 0;
    // Paced documents go out on a schedule; the wait happens before a send, never between a
    // send and its answer, so that it is not counted as ack latency.
    let pace = Duration::from_millis(args.pace_ms);
    // Gateways start spread over one pace interval, as a fleet's clocks are, not in lockstep.
    let stagger = pace.mul_f64(index as f64 / args.gateways.max(1) as f64);
    let mut next_send = tokio::time::Instant::now() + stagger;
    while next < documents.len() || !sent_at.is_empty() {
        while next < documents.len() && sent_at.len() < args.window.max(1) {
            if !pace.is_zero() {
                tokio::time::sleep_until(next_send).await;
                next_send += pace;
            }
            write.write_all(documents[next].as_bytes()).await?;
            sent_at.push_back(Instant::now());
            next += 1;
        }
        let answer = answers.next_line().await?.context("server closed the connection")?;
        let sent = sent_at.pop_front().context("an answer nobody asked for")?;
        run.latencies.push(sent.elapsed());
        if answer.starts_with("<ack") {
            run.accepted += args.batch as u64;
        } else {
            run.refused += 1;
        }
    }
    Ok(run)
}

/// Opens `count` connections that send nothing and measures what they cost the server.
async fn idle(args: &LoadArgs, count: usize) -> anyhow::Result<()> {
    let pid = args.server_pid.context("--idle needs --server-pid")?;
    let before = server_rss_kib(pid)?;
    let mut connections = Vec::with_capacity(count);
    for _ in 0..count {
        connections
            .push(TcpStream::connect(args.target).await.context("connect (is `ulimit -n` high enough?)")?);
    }
    tokio::time::sleep(Duration::from_secs(args.hold_secs)).await;
    let after = server_rss_kib(pid)?;
    // Every connection must still be open: a read would return 0 bytes had the server closed it.
    let mut open = 0;
    for connection in &connections {
        let mut probe = [0u8; 1];
        match connection.try_read(&mut probe) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => open += 1,
            _ => {}
        }
    }
    let per_connection = after.saturating_sub(before) as f64 / count as f64;
    let result = serde_json::json!({
        "idle_connections": count,
        "still_open": open,
        "server_rss_before_mib": before as f64 / 1024.0,
        "server_rss_after_mib": after as f64 / 1024.0,
        "kib_per_connection": per_connection,
    });
    if args.json {
        println!("{result}");
    } else {
        println!(
            "{open}/{count} idle connections open; server RSS {before} KiB -> {after} KiB: {per_connection:.2} KiB each"
        );
    }
    anyhow::ensure!(open == count, "the server closed {} idle connections early", count - open);
    Ok(())
}

/// Current resident set size of a process, KiB.
fn server_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("no VmRSS")?;
    Ok(line.split_whitespace().nth(1).context("VmRSS value")?.parse()?)
}

/// utime + stime of a process, seconds.
fn server_cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_name = stat.rsplit_once(") ").context("unexpected /proc stat format")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 =
        fields.get(11).context("utime")?.parse::<f64>()? + fields.get(12).context("stime")?.parse::<f64>()?;
    Ok(ticks / 100.0)
}

/// Peak resident set size of a process, KiB.
fn server_peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).context("no VmHWM")?;
    Ok(line.split_whitespace().nth(1).context("VmHWM value")?.parse()?)
}

async fn open_store(
    settings: &StoreSettings,
) -> anyhow::Result<std::sync::Arc<dyn heliograph_shared::store::Store>> {
    heliograph_shared::store::open(settings).await.context("cannot open the store")
}
