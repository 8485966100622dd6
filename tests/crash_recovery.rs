//! An ingest process killed with SIGKILL mid-stream loses nothing it acknowledged: every acked
//! reading is in the store (or its spool) and is stored after a restart.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

use std::path::Path;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

mod common;

use common::process::{OPS_ANY_PORT, free_port, heliograph as run, start_role};
use heliograph_testkit::try_wait_until_async;

fn start(config: &Path, port: u16) -> Child {
    start_role(config, "ingest", port)
}

/// Streams documents of 10 readings as fast as acks come, counting them in `acks`; returns the
/// highest acked sequence number when the connection breaks (the server was killed).
async fn stream_until_killed(
    port: u16,
    gateway: &str,
    token: &str,
    base: chrono::DateTime<Utc>,
    acks: &AtomicU64,
) -> (u64, u64) {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut answers = BufReader::new(read).lines();
    write.write_all(format!("<hello gateway=\"{gateway}\" token=\"{token}\"/>\n").as_bytes()).await.unwrap();
    assert!(answers.next_line().await.unwrap().unwrap().starts_with("<welcome"));
    let (mut sent, mut acked) = (0u64, 0u64);
    for seq in 1..=100_000u64 {
        let mut doc = format!("<batch seq=\"{seq}\">");
        for i in 0..10 {
            let ts = (base + TimeDelta::seconds(i64::try_from(seq * 10 + i).unwrap())).to_rfc3339();
            doc.push_str(&format!(
                "<reading device=\"inv-1\" ts=\"{ts}\"><ac_power>{seq}</ac_power></reading>"
            ));
        }
        doc.push_str("</batch>\n");
        if write.write_all(doc.as_bytes()).await.is_err() {
            break;
        }
        sent = seq;
        match answers.next_line().await {
            Ok(Some(line)) if line == format!("<ack seq=\"{seq}\" accepted=\"10\"/>") => {
                acked = seq;
                acks.store(seq, Ordering::Relaxed);
            }
            _ => break,
        }
    }
    (sent, acked)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reading_acked_before_a_sigkill_is_stored_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("heliograph.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nbackend = \"embedded\"\ndata_dir = \"{}\"\n[ingest]\nlisten = \"127.0.0.1:{port}\"\n\
             http_listen = \"127.0.0.1:{}\"\nspool_dir = \"{}\"\n[log]\nfilter = \"warn\"\n{}",
            dir.path().join("data").display(),
            free_port(),
            dir.path().join("spool").display(),
            OPS_ANY_PORT
        ),
    )
    .unwrap();
    run(&config, &["provider", "add", "acme", "--name", "Acme"]);
    let token = run(&config, &["gateway", "add", "--provider", "acme", "GW-1", "--site", "Roof"])
        .lines()
        .nth(1)
        .unwrap()
        .to_owned();
    let mut server = start(&config, port);
    let base = Utc::now() - TimeDelta::days(20);
    // The kill lands mid-stream however fast the machine: once this many documents are acked.
    const ACKED_BEFORE_KILL: u64 = 200;
    let acks = Arc::new(AtomicU64::new(0));
    let killer = tokio::spawn({
        let acks = Arc::clone(&acks);
        async move {
            let reached = try_wait_until_async(Duration::from_secs(60), || async {
                (acks.load(Ordering::Relaxed) >= ACKED_BEFORE_KILL).then_some(())
            })
            .await;
            // SIGKILL: no shutdown, no flush, no goodbye; also when the wait failed, so that
            // the streamer's connection breaks and no server outlives the test.
            server.kill().unwrap();
            server.wait().unwrap();
            reached.is_some()
        }
    });
    let (sent, acked) = stream_until_killed(port, "GW-1", &token, base, &acks).await;
    assert!(killer.await.unwrap(), "{ACKED_BEFORE_KILL} documents acked within 60 s before the kill");

    let mut server = start(&config, port);
    let count: u64 = run(
        &config,
        &[
            "readings",
            "--provider",
            "acme",
            "--gateway",
            "GW-1",
            "--device",
            "inv-1",
            "--from",
            &(base - TimeDelta::hours(1)).to_rfc3339(),
            "--to",
            &Utc::now().to_rfc3339(),
            "--limit",
            "10000000",
            "--count",
        ],
    )
    .trim()
    .parse()
    .unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    println!("documents sent {sent}, acked {acked}; readings acked {}, stored {count}, lost 0", acked * 10);
    assert!(count >= acked * 10, "acked {} readings but only {count} are stored", acked * 10);
    assert!(count <= sent * 10, "more stored than sent");
}
