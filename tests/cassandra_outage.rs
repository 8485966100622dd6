//! Cassandra SIGKILLed under a running `heliograph ingest`, on a node of its own that
//! `scripts/test.sh` starts for this (`HELIOGRAPH_CASSANDRA_FAULT`, never the shared test node):
//! sixteen gateways keep being acknowledged from the durable spool while the node is down, the
//! spool drains into the node once it is back, and a SIGKILL of ingest in the middle of that
//! replay neither loses nor duplicates a reading.
//!
//! Without `HELIOGRAPH_CASSANDRA_FAULT` (a plain `cargo test`) the test says so and passes; when
//! it is set, a node that does not answer fails it.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use common::process::{BIN, free_port, wait_for_port};
use common::{GatewayConn, reading, unique};
use heliograph_shared::store::cassandra::KeyspaceName;
use heliograph_shared::store::{self, CassandraSettings, ConsistencySetting, StoreSettings, TenantStore};
use heliograph_shared::{DeviceId, GatewayId};

const GATEWAYS: usize = 16;
const READINGS_PER_DOCUMENT: i64 = 10;

/// The fault node and how to kill and restart it (`scripts/cassandra.sh` with its own ports).
#[derive(Clone)]
struct FaultNode {
    address: String,
    control_env: Vec<(&'static str, String)>,
}

impl FaultNode {
    fn from_env() -> Option<Self> {
        let Ok(address) = std::env::var("HELIOGRAPH_CASSANDRA_FAULT") else {
            eprintln!("HELIOGRAPH_CASSANDRA_FAULT is not set: skipped (scripts/test.sh runs this test)");
            return None;
        };
        let var = |name: &str| {
            std::env::var(name)
                .unwrap_or_else(|_| panic!("{name} must be set with HELIOGRAPH_CASSANDRA_FAULT"))
        };
        let port = address.rsplit(':').next().unwrap().to_owned();
        let mut control_env = vec![
            ("CASSANDRA_RUN_DIR", var("HELIOGRAPH_CASSANDRA_FAULT_RUN_DIR")),
            ("CASSANDRA_PORT", port),
            ("CASSANDRA_STORAGE_PORT", var("HELIOGRAPH_CASSANDRA_FAULT_STORAGE_PORT")),
            ("CASSANDRA_JMX_PORT", var("HELIOGRAPH_CASSANDRA_FAULT_JMX_PORT")),
        ];
        if let Ok(heap) = std::env::var("HELIOGRAPH_CASSANDRA_FAULT_HEAP") {
            control_env.push(("CASSANDRA_HEAP", heap));
        }
        Some(Self { address, control_env })
    }

    /// `scripts/cassandra.sh <args>` on the fault node; fails the test if the script fails.
    fn control(&self, args: &[&str]) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/cassandra.sh");
        let output = Command::new(script)
            .args(args)
            .envs(self.control_env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "scripts/cassandra.sh {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn settings(&self, registry: &str) -> CassandraSettings {
        CassandraSettings {
            nodes: vec![self.address.clone()],
            registry_keyspace: KeyspaceName::parse(registry).unwrap(),
            consistency: ConsistencySetting::One,
            request_timeout_ms: 2_000,
            ..CassandraSettings::default()
        }
    }
}

/// A `heliograph ingest` process, SIGKILLed when dropped.
struct Ingest {
    child: Child,
    log: PathBuf,
}

impl Ingest {
    fn start(config: &Path, port: u16, log: PathBuf) -> Self {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        let child = Command::new(BIN)
            .arg("--config")
            .arg(config)
            .arg("ingest")
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap();
        wait_for_port(port, "ingest");
        Self { child, log }
    }

    /// SIGKILL: no shutdown, no flush, no goodbye.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one gateway sent and got acknowledged, as reading timestamps (ms since the epoch).
#[derive(Default)]
struct Tally {
    sent: BTreeSet<i64>,
    acked: BTreeSet<i64>,
    /// Each acknowledged document's sequence number and when its answer arrived.
    acked_at: Vec<(i64, Instant)>,
    /// Answers other than an acknowledgement.
    refused: Vec<String>,
}

/// Whether gateways send: `pause` holds them (the spool stays small while the node restarts),
/// `stop` ends their streams.
#[derive(Default)]
struct Flow {
    pause: AtomicBool,
    stop: AtomicBool,
}

/// Sends ten-reading documents over `conn` (timestamps one second apart from `base`), one
/// after the other's answer, until told to stop.
async fn stream(mut conn: GatewayConn, base: DateTime<Utc>, pace: Duration, flow: Arc<Flow>) -> Tally {
    let mut tally = Tally::default();
    let mut seq = 0i64;
    while !flow.stop.load(Ordering::Relaxed) {
        if flow.pause.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        seq += 1;
        let stamps: Vec<DateTime<Utc>> = (0..READINGS_PER_DOCUMENT)
            .map(|i| base + TimeDelta::seconds(seq * READINGS_PER_DOCUMENT + i))
            .collect();
        let body: String = stamps
            .iter()
            .map(|ts| reading("inv-1", &ts.to_rfc3339_opts(SecondsFormat::Secs, true), 500.0, 1.0))
            .collect();
        conn.send(format!("<batch seq=\"{seq}\">{body}</batch>\n")).await;
        tally.sent.extend(stamps.iter().map(DateTime::timestamp_millis));
        let answer = conn.answer().await;
        if answer.starts_with(&format!("<ack seq=\"{seq}\" accepted=\"{READINGS_PER_DOCUMENT}\"")) {
            tally.acked.extend(stamps.iter().map(DateTime::timestamp_millis));
            tally.acked_at.push((seq, Instant::now()));
        } else {
            tally.refused.push(answer);
        }
        tokio::time::sleep(pace).await;
    }
    tally
}

/// Readings streamed by every gateway in one phase.
struct Phase {
    base: DateTime<Utc>,
    tallies: Vec<Tally>,
}

/// Timestamps (ms) of a gateway's stored readings from `from` on, one per row returned; retried
/// while the test's own session reconnects to a restarted node (ingest's may be back first).
async fn stored_when_back(tenant: &Arc<dyn TenantStore>, gateway: &str, from: DateTime<Utc>) -> Vec<i64> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match try_stored(tenant, gateway, from).await {
            Ok(rows) => return rows,
            Err(e) => assert!(Instant::now() < deadline, "the node does not answer reads: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Spooled records ingest has replayed since it started (its metrics on `ops`).
async fn replayed(ops: SocketAddr) -> u64 {
    let (status, metrics) = common::http_get(ops, "/metrics").await;
    assert_eq!(status, 200, "ingest's metrics");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("heliograph_ingest_spool_replayed_total "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map_or(0, |value| value as u64)
}

async fn try_stored(
    tenant: &Arc<dyn TenantStore>,
    gateway: &str,
    from: DateTime<Utc>,
) -> Result<Vec<i64>, heliograph_shared::store::StoreError> {
    let rows = tenant
        .readings(
            &GatewayId::parse(gateway).unwrap(),
            &DeviceId::parse("inv-1").unwrap(),
            from..Utc::now(),
            usize::MAX,
        )
        .await?;
    Ok(rows.iter().map(|r| r.ts.timestamp_millis()).collect())
}

/// Figures of one check: acknowledged readings found, lost and duplicated, and readings stored
/// that were never sent.
#[derive(Debug, Default, PartialEq)]
struct Check {
    /// Lost readings as (gateway, document sequence number).
    lost_documents: BTreeSet<(String, i64)>,
    sent: usize,
    acked: usize,
    found: usize,
    lost: usize,
    duplicated: usize,
    unknown: usize,
}

async fn check(tenant: &Arc<dyn TenantStore>, gateways: &[String], phase: &Phase) -> Check {
    let mut figures = Check::default();
    for (gateway, tally) in gateways.iter().zip(&phase.tallies) {
        // Phases are days apart; each one's readings fit in its own window.
        let rows: Vec<i64> = stored_when_back(tenant, gateway, phase.base)
            .await
            .into_iter()
            .filter(|ts| *ts < phase_end(phase.base))
            .collect();
        let distinct: BTreeSet<i64> = rows.iter().copied().collect();
        figures.sent += tally.sent.len();
        figures.acked += tally.acked.len();
        figures.found += tally.acked.intersection(&distinct).count();
        figures.lost += tally.acked.difference(&distinct).count();
        for ts in tally.acked.difference(&distinct) {
            let seq = (ts - phase.base.timestamp_millis()) / 1000 / READINGS_PER_DOCUMENT;
            figures.lost_documents.insert((gateway.clone(), seq));
        }
        figures.duplicated += rows.len() - distinct.len();
        figures.unknown += distinct.difference(&tally.sent).count();
    }
    figures
}

/// Phases start a day apart; a phase's readings end before the next one's start.
fn phase_end(base: DateTime<Utc>) -> i64 {
    (base + TimeDelta::days(1)).timestamp_millis()
}

/// Bytes in the spool directory's segments (zero once every segment was replayed).
fn spool_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("spool-"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Waits until the spool directory holds no segment; how long that took.
async fn wait_for_drain(dir: &Path, ingest: &Ingest) -> Duration {
    let started = Instant::now();
    while spool_bytes(dir) > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the spool did not drain in 180 s ({} bytes left); ingest's log:\n{}",
            spool_bytes(dir),
            ingest.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    started.elapsed()
}

/// Opens a connection per gateway (hello answered with welcome).
async fn connect(addr: SocketAddr, gateways: &[(String, String)]) -> Vec<GatewayConn> {
    let mut conns = Vec::new();
    for (id, token) in gateways {
        conns.push(GatewayConn::hello(addr, id, token).await);
    }
    conns
}

fn spawn_streams(
    conns: Vec<GatewayConn>,
    base: DateTime<Utc>,
    pace: Duration,
    flow: &Arc<Flow>,
) -> Vec<tokio::task::JoinHandle<Tally>> {
    conns.into_iter().map(|conn| tokio::spawn(stream(conn, base, pace, Arc::clone(flow)))).collect()
}

async fn finish(streams: Vec<tokio::task::JoinHandle<Tally>>, flow: &Flow) -> Vec<Tally> {
    flow.stop.store(true, Ordering::Relaxed);
    let mut tallies = Vec::new();
    for handle in streams {
        tallies.push(handle.await.unwrap());
    }
    tallies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cassandra_killed_mid_stream_and_ingest_killed_mid_replay_lose_and_duplicate_no_acked_reading() {
    let Some(node) = FaultNode::from_env() else { return };
    let dir = tempfile::tempdir().unwrap();
    let registry = unique("outage_registry_");
    let store = store::open(&StoreSettings::Cassandra(node.settings(&registry)))
        .await
        .unwrap_or_else(|e| panic!("the fault node {} does not answer: {e}", node.address));
    let slug = unique("outage_");
    let tenant = common::provider(&store, &slug, None).await;
    let mut gateways = Vec::new();
    for g in 1..=GATEWAYS {
        let id = format!("GW-{g:02}");
        let token = common::gateway(&tenant, &id).await;
        gateways.push((id, token));
    }
    let ids: Vec<String> = gateways.iter().map(|(id, _)| id.clone()).collect();
    let (port, http, ops) = (free_port(), free_port(), free_port());
    let spool = dir.path().join("spool");
    let config = dir.path().join("heliograph.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nbackend = \"cassandra\"\nnodes = [\"{}\"]\nregistry_keyspace = \"{registry}\"\n\
             consistency = \"one\"\nrequest_timeout_ms = 2000\n\
             [ingest]\nlisten = \"127.0.0.1:{port}\"\nhttp_listen = \"127.0.0.1:{http}\"\nspool_dir = \"{}\"\n\
             [log]\nfilter = \"warn,heliograph_ingest=info\"\n\
             [ops]\ningest = \"127.0.0.1:{ops}\"\nweb = \"127.0.0.1:0\"\nmailer = \"127.0.0.1:0\"\n",
            node.address,
            spool.display(),
        ),
    )
    .unwrap();
    let log = dir.path().join("ingest.log");
    eprintln!("ingest logs to {}", log.display());
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let whole_seconds = |t: DateTime<Utc>| DateTime::from_timestamp(t.timestamp(), 0).unwrap();

    // Phase 1: Cassandra is SIGKILLed while sixteen gateways stream, stays down, comes back.
    let mut ingest = Ingest::start(&config, port, log.clone());
    let first = whole_seconds(Utc::now() - TimeDelta::days(4));
    let flow = Arc::new(Flow::default());
    let streams = spawn_streams(connect(addr, &gateways).await, first, Duration::from_millis(200), &flow);
    tokio::time::sleep(Duration::from_secs(3)).await;
    node.control(&["kill", "1"]);
    let killed_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let spooled_while_down = spool_bytes(&spool);
    flow.pause.store(true, Ordering::Relaxed);
    let restarting = Instant::now();
    node.control(&["restart", "1"]);
    let back_at = Instant::now();
    flow.pause.store(false, Ordering::Relaxed);
    // Gateways keep streaming a little while the spool replays (new documents queue behind it).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let tallies = finish(streams, &flow).await;
    let drained_in = wait_for_drain(&spool, &ingest).await;
    let refused: Vec<&String> = tallies.iter().flat_map(|t| &t.refused).collect();
    assert!(refused.is_empty(), "every document is acknowledged through the outage: {refused:?}");
    let acked_while_down: usize =
        tallies.iter().flat_map(|t| &t.acked_at).filter(|(_, at)| *at > killed_at && *at < back_at).count()
            * READINGS_PER_DOCUMENT as usize;
    let phase1 = Phase { base: first, tallies };
    let figures = check(&tenant, &ids, &phase1).await;
    println!(
        "Cassandra SIGKILLed mid-stream ({GATEWAYS} gateways): readings sent {}, acked {} ({acked_while_down} \
         while the node was down, {spooled_while_down} bytes spooled), found in store {}, lost {}, \
         duplicated {}, stored but never sent {}; node back in {:.1} s, spool drained {:.1} s later",
        figures.sent,
        figures.acked,
        figures.found,
        figures.lost,
        figures.duplicated,
        figures.unknown,
        (back_at - restarting).as_secs_f64(),
        drained_in.as_secs_f64(),
    );
    for (gateway, seq) in &figures.lost_documents {
        let tally = &phase1.tallies[ids.iter().position(|id| id == gateway).unwrap()];
        let at = tally.acked_at.iter().find(|(s, _)| s == seq).map(|(_, at)| *at);
        let relative = at.map(|at| {
            if at > killed_at { (at - killed_at).as_secs_f64() } else { -(killed_at - at).as_secs_f64() }
        });
        eprintln!("lost: {gateway} document {seq}, acked {relative:?} s after the kill");
    }
    if figures.lost > 0 {
        eprintln!("kept for inspection: {}", dir.keep().display());
        panic!("{} acknowledged readings lost", figures.lost);
    }
    assert!(acked_while_down > 0 && spooled_while_down > 0, "ingest acknowledged from its spool");
    assert_eq!((figures.lost, figures.duplicated, figures.unknown), (0, 0, 0));
    assert_eq!(figures.found, figures.acked);

    // Phase 2: the node goes down again before the documents come; ingest is SIGKILLed while it
    // replays them, started again, and replays the rest (what it replayed before, again).
    let second = whole_seconds(Utc::now() - TimeDelta::days(2));
    let conns = connect(addr, &gateways).await;
    node.control(&["kill", "1"]);
    let flow = Arc::new(Flow::default());
    let streams = spawn_streams(conns, second, Duration::from_millis(200), &flow);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let tallies = finish(streams, &flow).await;
    let spooled = spool_bytes(&spool);
    let refused: Vec<&String> = tallies.iter().flat_map(|t| &t.refused).collect();
    assert!(refused.is_empty(), "every document is acknowledged from the spool: {refused:?}");
    let first_gateway_acked = tallies[0].acked.len();
    // Ingest's own count of replayed records says when the replay is under way, at once: the
    // node is restarted in the background (its script notices the node only at its next poll),
    // and this test's driver session reconnects later than ingest's, by when a fast replay of
    // the whole spool is over. Kill ingest as soon as the count moves.
    let ops = SocketAddr::from(([127, 0, 0, 1], ops));
    let before = replayed(ops).await;
    let restart = {
        let node = node.clone();
        std::thread::spawn(move || node.control(&["restart", "1"]))
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    while replayed(ops).await <= before {
        assert!(Instant::now() < deadline, "the replay did not start; ingest's log:\n{}", ingest.log_tail());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    ingest.kill();
    restart.join().unwrap();
    let left = spool_bytes(&spool);
    let at_kill = stored_when_back(&tenant, &ids[0], second).await;
    println!(
        "ingest SIGKILLed mid-replay: {} of {first_gateway_acked} acked readings of {} stored, {left} of \
         {spooled} spooled bytes still on disk",
        at_kill.len(),
        ids[0]
    );
    assert!(left > 0, "ingest was killed before the spool was replayed");
    // A crash in the middle of an append (or a full disk) leaves half a record at the end of the
    // last segment. It was never acknowledged, and it must not stall the replay.
    let last = std::fs::read_dir(&spool)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("spool-")))
        .max()
        .expect("a segment is left");
    {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().append(true).open(&last).unwrap();
        file.write_all(b"0badc0de 4096 {\"provider\":\"torn\",\"batch\":{\"gateway\":\"GW").unwrap();
    }
    ingest = Ingest::start(&config, port, log.clone());
    let drained_in = wait_for_drain(&spool, &ingest).await;
    ingest.kill();
    let phase2 = Phase { base: second, tallies };
    let figures2 = check(&tenant, &ids, &phase2).await;
    let figures1 = check(&tenant, &ids, &phase1).await;
    println!(
        "after the restart of ingest (drained in {:.1} s): readings sent {}, acked {}, found in store {}, lost {}, \
         duplicated {}, stored but never sent {}; the first phase still all there: {}",
        drained_in.as_secs_f64(),
        figures2.sent,
        figures2.acked,
        figures2.found,
        figures2.lost,
        figures2.duplicated,
        figures2.unknown,
        figures1 == figures,
    );
    assert_eq!((figures2.lost, figures2.duplicated, figures2.unknown), (0, 0, 0));
    assert_eq!(figures2.found, figures2.acked);
    assert!(figures2.acked > 0);
    assert_eq!(figures1, figures);

    let session = scylla::client::session_builder::SessionBuilder::new()
        .known_node(&node.address)
        .build()
        .await
        .unwrap();
    for keyspace in [registry, format!("hg_{slug}")] {
        let _ = session.query_unpaged(format!("DROP KEYSPACE IF EXISTS {keyspace}"), &[]).await;
    }
}
