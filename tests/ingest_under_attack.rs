//! The ingest server against strangers who hold its resources and against tenants who try each
//! other's doors, over real sockets: memory held by unauthenticated connections, stalled HTTP
//! requests, a hello on the wrong provider's port, a gateway deactivated or its token revoked
//! while connected, and floods of made-up gateway ids. Each test prints the figure it bounds.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod common;

use std::net::SocketAddr;
use std::process::Child;
use std::time::{Duration, Instant};

use common::process::{EmbeddedAcme, free_port, start_role};
use common::*;
use heliograph_shared::{GatewayId, GatewayToken};
use heliograph_testkit::wait_until_async;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A field of `/proc/<pid>/status`, in KiB.
fn proc_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A child process killed when the test ends, however it ends.
struct Role(Child);

impl Drop for Role {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Documents of 60 readings a second, acked, over `window`, from a gateway sending one at a
/// time; `next` numbers the readings so that every one is new.
async fn documents_per_second(conn: &mut GatewayConn, next: &mut i64, window: Duration) -> f64 {
    let base = chrono::Utc::now() - chrono::TimeDelta::days(3);
    let started = Instant::now();
    let mut acked = 0;
    while started.elapsed() < window {
        let readings: String = (0..60)
            .map(|_| {
                *next += 1;
                let ts = (base + chrono::TimeDelta::seconds(*next))
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                reading("inv-1", &ts, 1000.0, 1.0)
            })
            .collect();
        conn.send(format!("<batch seq=\"{next}\">{readings}</batch>\n")).await;
        let answer = conn.answer().await;
        assert!(answer.starts_with("<ack "), "{answer}");
        acked += 1;
    }
    f64::from(acked) / started.elapsed().as_secs_f64()
}

/// The median of three windows.
async fn median_rate(conn: &mut GatewayConn, next: &mut i64) -> f64 {
    let mut rates = Vec::new();
    for _ in 0..3 {
        rates.push(documents_per_second(conn, next, Duration::from_millis(1500)).await);
    }
    rates.sort_by(f64::total_cmp);
    rates[1]
}

/// Opens `count` connections that each send `prefix` and then up to a mebibyte of spaces, and
/// keeps them open (idle) until dropped. Writes the server refuses to take are abandoned.
async fn strangers(addr: SocketAddr, count: usize, prefix: &'static str) -> Vec<TcpStream> {
    let spaces: std::sync::Arc<[u8]> = vec![b' '; 1024 * 1024].into();
    let mut tasks = Vec::new();
    for _ in 0..count {
        let spaces = std::sync::Arc::clone(&spaces);
        tasks.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.ok()?;
            let send = async {
                stream.write_all(prefix.as_bytes()).await?;
                stream.write_all(&spaces).await
            };
            let _ = tokio::time::timeout(Duration::from_secs(3), send).await;
            Some(stream)
        }));
    }
    let mut streams = Vec::new();
    for task in tasks {
        if let Some(stream) = task.await.unwrap() {
            streams.push(stream);
        }
    }
    streams
}

/// Starts `heliograph ingest` on a fresh embedded installation with `extra` ingest settings.
fn ingest_process(dir: &std::path::Path, extra: &str) -> (EmbeddedAcme, Role) {
    let acme = EmbeddedAcme::new(dir, extra);
    let role = Role(start_role(&acme.config, "ingest", acme.ingest));
    (acme, role)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_strangers_sending_megabytes_hold_little_memory_and_an_honest_gateway_keeps_its_pace() {
    let dir = tempfile::tempdir().unwrap();
    // A small pool, so that the test shows the pool is what bounds unfinished documents.
    let (acme, role) = ingest_process(dir.path(), "max_bytes_in_flight = 16777216\n");
    let pid = role.0.id();
    let mut honest = GatewayConn::hello(acme.ingest_addr(), "GW-1", &acme.token).await;
    let mut next = 0;
    let before = median_rate(&mut honest, &mut next).await;
    let rss_before = proc_kib(pid, "VmRSS:");

    // Whitespace between documents is legal, a mebibyte of it is not.
    let gap = strangers(acme.ingest_addr(), 1000, "").await;
    // A document that never ends, from nobody: its bytes beyond a small allowance wait for the pool.
    let unfinished = strangers(
        acme.ingest_addr(),
        1000,
        "<batch seq=\"1\"><reading device=\"inv-1\" ts=\"2026-12-01T00:00:00Z\"><ac_power unit=\"W\">",
    )
    .await;
    let during = median_rate(&mut honest, &mut next).await;
    let peak = proc_kib(pid, "VmHWM:");
    let rss_during = proc_kib(pid, "VmRSS:");
    let still_open = unfinished.len();
    drop(unfinished);
    // The pace after the attack too, so that a machine whose speed drifts does not pass for it.
    let after = median_rate(&mut honest, &mut next).await;
    let baseline = (before + after) / 2.0;
    let rise_mib = peak.saturating_sub(rss_before) as f64 / 1024.0;
    println!(
        "2,000 strangers ({} still open: {} after the gap, {still_open} inside a document): resident memory \
         {:.1} MiB before, {:.1} MiB during, peak rise {rise_mib:.1} MiB; honest gateway {before:.0} before, \
         {during:.0} during, {after:.0} after documents/s ({:.2}x)",
        gap.len() + still_open,
        gap.len(),
        rss_before as f64 / 1024.0,
        rss_during as f64 / 1024.0,
        during / baseline
    );
    assert!(rise_mib <= 64.0, "peak resident memory rose by {rise_mib:.1} MiB");
    assert!(during >= 0.8 * baseline, "honest gateway slowed from {baseline:.0} to {during:.0} documents/s");

    // The gap's senders were told why and closed at once.
    let mut closed = 0;
    for mut stream in gap {
        let mut answer = Vec::new();
        if tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await.is_ok() {
            let answer = String::from_utf8_lossy(&answer);
            assert!(answer.contains("between documents") || answer.is_empty(), "{answer}");
            closed += 1;
        }
    }
    assert_eq!(closed, 1000, "every gap sender is closed");
}

#[tokio::test]
async fn a_connection_that_never_says_who_it_is_is_closed_after_the_authentication_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (acme, _role) = ingest_process(dir.path(), "auth_timeout_secs = 1\nidle_timeout_secs = 300\n");
    let started = Instant::now();
    let mut silent = GatewayConn::connect(acme.ingest_addr()).await;
    let answer = silent.answer().await;
    let waited = started.elapsed();
    println!("a silent stranger was answered {answer} and closed after {waited:?}");
    assert!(answer.contains("timeout"), "{answer}");
    assert!(silent.closed_within(Duration::from_secs(5)).await);
    assert!(waited < Duration::from_secs(10), "{waited:?}");

    // An authenticated gateway idles for the idle timeout instead.
    let mut honest = GatewayConn::hello(acme.ingest_addr(), "GW-1", &acme.token).await;
    assert!(!honest.closed_within(Duration::from_secs(3)).await, "a gateway that said hello may idle");
}

/// Connects and sends `bytes`, returning the stream.
async fn send_raw(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    stream
}

/// Reads what the server sends until it closes, within `within`; `None` if it stays open.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut answer = Vec::new();
    tokio::time::timeout(within, stream.read_to_end(&mut answer)).await.ok()?.ok()?;
    Some(String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_http_requests_are_closed_and_strangers_bodies_are_never_read() {
    let test = open_store(Backend::Embedded).await;
    let tenant = provider(&test.store, "acme", None).await;
    let token = gateway(&tenant, "GW-1").await;
    let settings = heliograph_ingest::IngestSettings {
        http_header_timeout_secs: 2,
        http_request_timeout_secs: 3,
        ..test_settings()
    };
    let server = TestServer::start(settings, test.store.clone()).await;

    // 200 half-sent request lines and 100 connections that send nothing: every one is closed
    // within the header timeout.
    let started = Instant::now();
    let mut stalled = Vec::new();
    for _ in 0..200 {
        stalled.push(send_raw(server.http, b"POST /sunspec HT").await);
    }
    for _ in 0..100 {
        stalled.push(send_raw(server.http, b"").await);
    }
    let mut closed = 0;
    for stream in &mut stalled {
        if read_until_closed(stream, Duration::from_secs(10)).await.is_some() {
            closed += 1;
        }
    }
    let took = started.elapsed();
    println!("300 stalled connections: {closed} closed, the last after {took:?} (header timeout 2 s)");
    assert_eq!(closed, 300);
    assert!(took < Duration::from_secs(8), "{took:?}");

    // A stranger's 1 MiB POST: refused on its headers, before a byte of the body is sent.
    let mut stranger = send_raw(
        server.http,
        b"POST /sunspec HTTP/1.1\r\nHost: x\r\nAuthorization: Basic R1ctMTpub3Bl\r\nContent-Length: 1048576\r\n\r\n",
    )
    .await;
    let mut head = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(5), stranger.read_exact(&mut head)).await.unwrap().unwrap();
    assert_eq!(&head, b"HTTP/1.1 401", "refused without the body");

    // A gateway's oversized declaration: 413 at once; a body that stalls: 408 at the deadline.
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("GW-1:{token}"));
    let mut large = send_raw(
        server.http,
        format!("POST /sunspec HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nContent-Length: 99999999\r\n\r\n")
            .as_bytes(),
    )
    .await;
    tokio::time::timeout(Duration::from_secs(5), large.read_exact(&mut head)).await.unwrap().unwrap();
    assert_eq!(&head, b"HTTP/1.1 413");
    let started = Instant::now();
    let mut slow = send_raw(
        server.http,
        format!("POST /sunspec HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nContent-Length: 100\r\n\r\n<sunSpec")
            .as_bytes(),
    )
    .await;
    tokio::time::timeout(Duration::from_secs(10), slow.read_exact(&mut head)).await.unwrap().unwrap();
    println!("a stalled body was answered {} after {:?}", String::from_utf8_lossy(&head), started.elapsed());
    assert_eq!(&head, b"HTTP/1.1 408");
    server.stop().await;
}

async fn a_hello_on_another_providers_port_cannot_lock_a_gateway_out(backend: Backend) {
    let test = open_store(backend).await;
    let port = free_port();
    let a = provider(&test.store, &unique("a"), Some(port)).await;
    let b = provider(&test.store, &unique("b"), None).await;
    let bolt = unique("BOLT-");
    let token = gateway(&b, &bolt).await;
    let settings = heliograph_ingest::IngestSettings { gateway_cache_secs: 30, ..test_settings() };
    let server = TestServer::start(settings, test.store.clone()).await;
    let dedicated = SocketAddr::from(([127, 0, 0, 1], port));
    common::process::wait_for_port(port, "provider a's dedicated port");

    // Someone who knows B's gateway id says hello with it on A's port, with any token.
    let mut intruder = GatewayConn::connect(dedicated).await;
    intruder.send(format!("<hello gateway=\"{bolt}\" token=\"{}\"/>\n", "0".repeat(64))).await;
    assert!(intruder.answer().await.starts_with("<nack code=\"unauthorized\""));

    // The real gateway, on the shared port and over HTTP, is not affected.
    let mut real = GatewayConn::hello(server.addr, &bolt, &token).await;
    real.send(format!("<batch seq=\"1\">{}</batch>\n", reading("inv-1", &minutes_ago(1), 1.0, 1.0))).await;
    assert_eq!(real.answer().await, "<ack seq=\"1\" accepted=\"1\"/>");
    let (status, body) = http_post(server.http, "/sunspec", &bolt, &token, "<sunSpecData v=\"1\"/>").await;
    assert_ne!(status, 401, "HTTP uploads of the real gateway are authenticated: {body}");

    // A's refusals show nothing of B's gateway.
    let refused = a.refused_gateways(100).await.unwrap();
    assert!(refused.iter().all(|r| r.gateway.as_str() != bolt), "{refused:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hello_on_another_providers_port_cannot_lock_a_gateway_out_embedded() {
    a_hello_on_another_providers_port_cannot_lock_a_gateway_out(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hello_on_another_providers_port_cannot_lock_a_gateway_out_cassandra() {
    a_hello_on_another_providers_port_cannot_lock_a_gateway_out(Backend::Cassandra).await;
}

/// Sends documents on `conn` every 100 ms until one is refused; returns how long that took
/// and the refusal.
async fn until_refused(conn: &mut GatewayConn, first_seq: u64) -> (Duration, String) {
    let started = Instant::now();
    for seq in first_seq.. {
        conn.send(format!("<batch seq=\"{seq}\">{}</batch>\n", reading("inv-1", &minutes_ago(1), 1.0, 1.0)))
            .await;
        let answer = conn.answer().await;
        if !answer.starts_with("<ack") {
            return (started.elapsed(), answer);
        }
        assert!(started.elapsed() < Duration::from_secs(20), "still accepted after 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    unreachable!()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivation_and_a_revoked_token_end_an_open_session_within_the_cache_time() {
    let test = open_store(Backend::Embedded).await;
    let tenant = provider(&test.store, "acme", None).await;
    let token = gateway(&tenant, "GW-1").await;
    let settings = heliograph_ingest::IngestSettings { gateway_cache_secs: 2, ..test_settings() };
    let server = TestServer::start(settings, test.store.clone()).await;
    let id = GatewayId::parse("GW-1").unwrap();

    let mut conn = GatewayConn::hello(server.addr, "GW-1", &token).await;
    let mut record = tenant.gateway(&id).await.unwrap().unwrap();
    record.active = false;
    tenant.update_gateway(&record).await.unwrap();
    let (took, answer) = until_refused(&mut conn, 1).await;
    println!("deactivated while connected: refused after {took:?} ({answer})");
    assert!(answer.starts_with("<nack") && answer.contains("unauthorized"), "{answer}");
    assert!(took <= Duration::from_secs(5), "{took:?} for a 2 s cache");
    assert!(conn.closed_within(Duration::from_secs(5)).await);

    record.active = true;
    tenant.update_gateway(&record).await.unwrap();
    // A hello is refused for as long as the server holds the deactivated record: ask until welcomed.
    let reactivated = Instant::now();
    let (addr, hello) = (server.addr, &format!("<hello gateway=\"GW-1\" token=\"{token}\"/>\n"));
    let mut conn = wait_until_async(
        Duration::from_secs(10),
        "the reactivated gateway to be welcomed",
        move || async move {
            let mut conn = GatewayConn::connect(addr).await;
            conn.send(hello).await;
            conn.answer().await.starts_with("<welcome").then_some(conn)
        },
    )
    .await;
    let took = reactivated.elapsed();
    println!("reactivated: welcomed after {took:?}");
    assert!(took <= Duration::from_secs(5), "{took:?} for a 2 s cache");
    let stolen = GatewayToken::from_presented(&token);
    let new = GatewayToken::generate();
    record.rotate_token(&new, None, chrono::Utc::now());
    tenant.update_gateway(&record).await.unwrap();
    assert!(!record.accepts(&stolen, chrono::Utc::now()));
    let (took, answer) = until_refused(&mut conn, 100).await;
    println!("token revoked while connected: refused after {took:?} ({answer})");
    assert!(answer.contains("unauthorized"), "{answer}");
    assert!(took <= Duration::from_secs(5), "{took:?} for a 2 s cache");
    GatewayConn::hello(server.addr, "GW-1", new.reveal()).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_thousand_made_up_ids_leave_the_refusal_lists_small() {
    let test = open_store(Backend::Embedded).await;
    let port = free_port();
    let tenant = provider(&test.store, "acme", Some(port)).await;
    let server = TestServer::start(test_settings(), test.store.clone()).await;
    common::process::wait_for_port(port, "the dedicated port");
    let dedicated = SocketAddr::from(([127, 0, 0, 1], port));
    let started = Instant::now();
    let token = "0".repeat(64);
    for (addr, first) in [(server.addr, 0), (dedicated, 25_000)] {
        // A connection that never authenticates is closed after a while: a new one per thousand.
        for thousand in (first..first + 25_000).step_by(1000) {
            let mut conn = GatewayConn::connect(addr).await;
            // Credentials on every document: a refused document leaves the connection open.
            let documents: String = (thousand..thousand + 1000)
                .map(|n| format!("<batch gateway=\"FAKE-{n}\" token=\"{token}\" seq=\"{n}\"></batch>\n"))
                .collect();
            conn.send(documents).await;
            for _ in 0..1000 {
                assert!(conn.answer().await.contains("unauthorized"));
            }
        }
    }
    let unclaimed = test.store.unclaimed_gateways(usize::MAX).await.unwrap();
    let refused = tenant.refused_gateways(usize::MAX).await.unwrap();
    println!(
        "50,000 made-up ids in {:?}: {} rows installation-wide, {} at the provider",
        started.elapsed(),
        unclaimed.len(),
        refused.len()
    );
    // One address may have 20 refusals a minute written, wherever they land.
    let written = unclaimed.len() + refused.len();
    assert!((1..=20).contains(&written), "{written} rows");
    server.stop().await;
}
