//! Hostile and broken input: each gets its documented answer, and a well-behaved gateway on the
//! same server keeps getting its documents acknowledged throughout.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod common;

use std::time::{Duration, Instant};

use common::*;
use tokio::io::AsyncWriteExt;

/// Sends `documents` one at a time and returns how many were acked per second.
async fn steady_gateway(addr: std::net::SocketAddr, token: &str, documents: u64, first_seq: u64) -> f64 {
    let mut conn = GatewayConn::hello(addr, "GW-GOOD", token).await;
    let started = Instant::now();
    for seq in first_seq..first_seq + documents {
        let ts = minutes_ago(i64::try_from(seq % 10_000).unwrap() + 1);
        conn.send(format!("<batch seq=\"{seq}\">{}</batch>\n", reading("inv-1", &ts, 1.0, 1.0))).await;
        assert_eq!(conn.answer().await, format!("<ack seq=\"{seq}\" accepted=\"1\"/>"));
    }
    documents as f64 / started.elapsed().as_secs_f64()
}

async fn setup(settings: heliograph_ingest::IngestSettings) -> (TestStore, TestServer, String) {
    let test = open_store(Backend::Embedded).await;
    let tenant = provider(&test.store, "acme", None).await;
    let token = gateway(&tenant, "GW-GOOD").await;
    let server = TestServer::start(settings, test.store.clone()).await;
    (test, server, token)
}

#[tokio::test]
async fn deeply_nested_elements_are_refused_at_the_depth_limit() {
    let (_test, server, token) = setup(test_settings()).await;
    let mut conn = GatewayConn::hello(server.addr, "GW-GOOD", &token).await;
    conn.send(format!("<batch>{}", "<a>".repeat(100_000))).await;
    assert_eq!(
        conn.answer().await,
        "<nack code=\"too_deep\" reason=\"elements nested deeper than 16 levels\"/>"
    );
    assert!(conn.closed_within(Duration::from_secs(5)).await);
    steady_gateway(server.addr, &token, 5, 1).await;
    server.stop().await;
}

#[tokio::test]
async fn invalid_utf8_is_refused_as_malformed() {
    let (_test, server, token) = setup(test_settings()).await;
    let mut conn = GatewayConn::hello(server.addr, "GW-GOOD", &token).await;
    let mut document =
        format!("<batch seq=\"1\"><reading device=\"inv-1\" ts=\"{}\"><ac_power>", minutes_ago(1))
            .into_bytes();
    document.extend_from_slice(&[0xff, 0xfe, 0x80]);
    document.extend_from_slice(b"</ac_power></reading></batch>\n");
    conn.send(document).await;
    assert_eq!(conn.answer().await, "<nack code=\"malformed\" reason=\"text is not valid UTF-8\"/>");
    assert!(conn.closed_within(Duration::from_secs(5)).await);

    // In an attribute the framing survives: the document is refused, the connection goes on.
    let mut conn = GatewayConn::hello(server.addr, "GW-GOOD", &token).await;
    let mut document = b"<batch seq=\"2\"><reading device=\"inv-".to_vec();
    document.extend_from_slice(&[0xc3, 0x28]);
    document.extend_from_slice(
        format!("\" ts=\"{}\"><ac_power>1</ac_power></reading></batch>\n", minutes_ago(1)).as_bytes(),
    );
    conn.send(document).await;
    assert!(conn.answer().await.starts_with("<nack seq=\"2\" code=\"invalid\""));
    steady_gateway(server.addr, &token, 3, 10).await;
    server.stop().await;
}

#[tokio::test]
async fn a_hundred_mebibyte_document_is_cut_off_at_the_limit_without_being_read_whole() {
    let (_test, server, token) = setup(test_settings()).await;
    let mut conn = GatewayConn::hello(server.addr, "GW-GOOD", &token).await;
    let chunk = vec![b' '; 1024 * 1024];
    // The flood goes on its own connection (after a hello) so that this one reads the answer.
    let (read, mut write) = {
        let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        stream.into_split()
    };
    write
        .write_all(format!("<hello gateway=\"GW-GOOD\" token=\"{token}\"/>\n<batch seq=\"1\">").as_bytes())
        .await
        .unwrap();
    let flood = tokio::spawn(async move {
        let mut sent = 0usize;
        for _ in 0..100 {
            if write.write_all(&chunk).await.is_err() {
                break;
            }
            sent += chunk.len();
        }
        sent
    });
    let mut answers = tokio::io::BufReader::new(read);
    let mut welcome = String::new();
    tokio::io::AsyncBufReadExt::read_line(&mut answers, &mut welcome).await.unwrap();
    let mut nack = String::new();
    tokio::io::AsyncBufReadExt::read_line(&mut answers, &mut nack).await.unwrap();
    assert_eq!(
        nack.trim(),
        "<nack code=\"too_large\" reason=\"document exceeds the limit of 1048576 bytes\"/>"
    );
    let sent = tokio::time::timeout(Duration::from_secs(30), flood).await.unwrap().unwrap();
    assert!(sent < 100 * 1024 * 1024, "the server stopped reading: the flood could not be delivered whole");
    // Meanwhile the well-behaved connection is served.
    conn.send(format!("<batch seq=\"5\">{}</batch>\n", reading("inv-1", &minutes_ago(2), 1.0, 1.0))).await;
    assert_eq!(conn.answer().await, "<ack seq=\"5\" accepted=\"1\"/>");
    server.stop().await;
}

#[tokio::test]
async fn a_burst_of_twenty_thousand_connections_gets_busy_answers_and_good_gateways_keep_flowing() {
    let settings = heliograph_ingest::IngestSettings { max_connections: 512, ..test_settings() };
    let (_test, server, token) = setup(settings).await;
    let before = steady_gateway(server.addr, &token, 50, 1).await;
    let addr = server.addr;
    let burst = tokio::spawn(async move {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..20_000 {
            tasks.spawn(async move { tokio::net::TcpStream::connect(addr).await.is_ok() });
            if tasks.len() >= 2_000 {
                tasks.join_next().await;
            }
        }
        while tasks.join_next().await.is_some() {}
    });
    let during = steady_gateway(server.addr, &token, 50, 100).await;
    burst.await.unwrap();
    println!("well-behaved gateway: {before:.0} documents/s before the burst, {during:.0} during it");
    steady_gateway(server.addr, &token, 5, 200).await;
    server.stop().await;
}

#[tokio::test]
async fn thousands_of_unknown_gateway_ids_are_refused_and_the_server_keeps_serving() {
    let (test, server, token) = setup(test_settings()).await;
    let addr = server.addr;
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..20 {
        tasks.spawn(async move {
            for i in 0..150 {
                let mut conn = GatewayConn::connect(addr).await;
                conn.send(format!("<hello gateway=\"ROGUE-{worker}-{i}\" token=\"x\"/>\n")).await;
                assert_eq!(
                    conn.answer().await,
                    "<nack code=\"unauthorized\" reason=\"unknown gateway or wrong token\"/>"
                );
            }
        });
    }
    let during = steady_gateway(server.addr, &token, 30, 1).await;
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    println!("well-behaved gateway during 3,000 unknown ids: {during:.0} documents/s");
    // The operator sees some of them; one address cannot fill the list (the metrics count all).
    let recorded = test.store.unclaimed_gateways(10_000).await.unwrap();
    assert!((1..=20).contains(&recorded.len()), "{} recorded from one address", recorded.len());
    server.stop().await;
}
