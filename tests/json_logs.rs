//! Logs as an operator ships them to Logstash or Loki: with `[log] format = "json"` every line of
//! `heliograph ingest` is one JSON object; a connection's lines carry its id and peer, and its
//! provider and gateway once it has authenticated; no line ever carries a token, right or wrong.
//! SIGTERM ends the process cleanly (exit code 0).

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::process::{BIN, EmbeddedAcme, wait_for_port};
use common::{GatewayConn, minutes_ago, reading};
use heliograph_testkit::wait_until;

#[tokio::test]
async fn json_log_lines_name_the_connection_provider_and_gateway_and_never_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let acme = EmbeddedAcme::new(
        dir.path(),
        "[log]\nformat = \"json\"\nfilter = \"info,heliograph_ingest=debug\"\n",
    );
    let token = acme.token.clone();
    let mut server = Command::new(BIN)
        .arg("--config")
        .arg(&acme.config)
        .arg("ingest")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The logs are read as they come, so that the test can wait for a line.
    let logs = Arc::new(Mutex::new(String::new()));
    let mut stdout = BufReader::new(server.stdout.take().unwrap());
    let reader = std::thread::spawn({
        let logs = Arc::clone(&logs);
        move || {
            let mut line = String::new();
            while stdout.read_line(&mut line).unwrap() > 0 {
                logs.lock().unwrap().push_str(&line);
                line.clear();
            }
        }
    });
    wait_for_port(acme.ingest, "ingest");
    let addr = acme.ingest_addr();
    let mut conn = GatewayConn::hello(addr, "GW-1", &token).await;
    let ts = minutes_ago(1);
    conn.send(format!("<batch seq=\"1\">{}</batch>\n", reading("inv-1", &ts, 5.0, 1.0))).await;
    assert!(conn.answer().await.starts_with("<ack seq=\"1\""));
    drop(conn);
    let wrong_token = "not-the-token-0123456789abcdef";
    let mut intruder = GatewayConn::connect(addr).await;
    intruder.send(format!("<hello gateway=\"GW-1\" token=\"{wrong_token}\"/>\n")).await;
    assert!(intruder.answer().await.contains("nack"));
    drop(intruder);
    // The refusal is logged by the time the nack is read, but the line may still be on its way
    // through the pipe: SIGTERM once it has arrived.
    wait_until(Duration::from_secs(10), "the refusal's log line", || {
        logs.lock().unwrap().contains("\"gateway refused\"")
    });

    let terminated = Command::new("kill").arg("-TERM").arg(server.id().to_string()).status().unwrap();
    assert!(terminated.success());
    let status = server.wait().unwrap();
    assert_eq!(status.code(), Some(0), "a clean stop on SIGTERM");
    reader.join().unwrap();
    let logs = std::mem::take(&mut *logs.lock().unwrap());

    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    assert!(!lines.is_empty());
    let stored = lines
        .iter()
        .find(|l| l["message"] == "document stored")
        .unwrap_or_else(|| panic!("no 'document stored' line in\n{logs}"));
    assert_eq!(stored["span"]["provider"], "acme", "{stored}");
    assert_eq!(stored["span"]["gateway"], "GW-1", "{stored}");
    assert!(stored["span"]["id"].as_u64().is_some() && stored["span"]["peer"].is_string(), "{stored}");
    let refused =
        lines.iter().find(|l| l["message"] == "gateway refused").unwrap_or_else(|| panic!("{logs}"));
    assert_eq!(refused["gateway"], "GW-1");
    assert!(!logs.contains(&token) && !logs.contains(wrong_token), "a token reached the logs:\n{logs}");
    // On SIGTERM the last line says what is left for the next start to replay.
    let last = lines.last().unwrap();
    assert!(last["message"].as_str().unwrap().starts_with("ingest stopped"), "{last}");
    assert_eq!((last["spool_records"].as_u64(), last["spool_bytes"].as_u64()), (Some(0), Some(0)), "{last}");
}
