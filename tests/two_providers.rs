//! The whole binary, as an operator runs it: `heliograph provider add`, `heliograph serve` (or
//! `heliograph ingest` on Cassandra), `heliograph simulate` for two providers, then a read-back
//! that finds each provider's readings in its own namespace only.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod common;

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use common::process::{OPS_ANY_PORT, free_port, heliograph};
use common::{cassandra_settings, unique};
use heliograph_testkit::try_wait_until;

const BIN: &str = env!("CARGO_BIN_EXE_heliograph");

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `role` and waits for its ingest port; if it exits or is slow, fails with what it
/// printed (its log goes to a file beside the config).
fn start(config: &Path, role: &str, ingest_port: u16) -> Running {
    let log_path = config.with_extension(format!("{role}.log"));
    let log = std::fs::File::create(&log_path).expect("creates the log file");
    let child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .arg(role)
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log)
        .spawn()
        .expect("starts heliograph");
    let mut running = Running(child);
    let mut exited = None;
    let opened = try_wait_until(Duration::from_secs(60), || {
        exited = running.0.try_wait().expect("polls the child");
        exited.is_some() || std::net::TcpStream::connect(("127.0.0.1", ingest_port)).is_ok()
    });
    if !opened || exited.is_some() {
        let printed = std::fs::read_to_string(&log_path).unwrap_or_default();
        panic!("{role} did not open its ingest port ({exited:?}); it printed:\n{printed}");
    }
    running
}

fn count(config: &Path, provider: &str, gateway: &str, device: &str) -> usize {
    let out = heliograph(
        config,
        &[
            "readings",
            "--provider",
            provider,
            "--gateway",
            gateway,
            "--device",
            device,
            "--limit",
            "100000",
            "--count",
        ],
    );
    out.trim().parse().expect("a count")
}

fn simulate(config: &Path, port: u16, provider: &str, gateways: usize) -> String {
    let target = format!("127.0.0.1:{port}");
    heliograph(
        config,
        &[
            "simulate",
            "--target",
            &target,
            "--provider",
            provider,
            "--gateways",
            &gateways.to_string(),
            "--provision",
            "--history-hours",
            "3",
            "--step-secs",
            "60",
            "--batch",
            "60",
        ],
    )
}

/// Writes a config file for the test and returns its path.
fn config(dir: &Path, store: &str, ingest: u16, http: u16, web: u16) -> std::path::PathBuf {
    let path = dir.join("heliograph.toml");
    let spool = dir.join("spool").display().to_string();
    let text = format!(
        "{store}\n[ingest]\nlisten = \"127.0.0.1:{ingest}\"\nhttp_listen = \"127.0.0.1:{http}\"\n\
         spool_dir = \"{spool}\"\n\
         [web]\nlisten = \"127.0.0.1:{web}\"\n[log]\nfilter = \"warn\"\n{OPS_ANY_PORT}"
    );
    std::fs::write(&path, text).expect("writes config");
    path
}

fn exercise_two_providers(config: &Path, role: &str, ingest: u16, alpha: &str, beta: &str) {
    heliograph(config, &["provider", "add", alpha, "--name", "Alpha Solar", "--timezone", "Europe/Berlin"]);
    heliograph(config, &["provider", "add", beta, "--name", "Beta O&M"]);
    let _server = start(config, role, ingest);
    let alpha_prefix = alpha.to_ascii_uppercase().replace('_', "-");
    let beta_prefix = beta.to_ascii_uppercase().replace('_', "-");

    let summary = simulate(config, ingest, alpha, 3);
    assert!(summary.contains("0 refused"), "{summary}");
    simulate(config, ingest, beta, 2);

    // Three hours of one-minute readings, one inverter per gateway.
    let alpha_gw = format!("{alpha_prefix}-0001");
    let beta_gw = format!("{beta_prefix}-0001");
    let own = count(config, alpha, &alpha_gw, "inv-1");
    assert!((170..=182).contains(&own), "alpha's inverter has {own} readings");
    assert!(count(config, beta, &beta_gw, "inv-1") >= 170);
    // Each provider's handle sees none of the other's readings.
    assert_eq!(count(config, beta, &alpha_gw, "inv-1"), 0);
    assert_eq!(count(config, alpha, &beta_gw, "inv-1"), 0);
}

#[test]
fn serve_and_simulate_store_two_providers_apart_on_the_embedded_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let store = format!("[store]\nbackend = \"embedded\"\ndata_dir = \"{}\"", data.display());
    let ingest = free_port();
    let config = config(dir.path(), &store, ingest, free_port(), free_port());
    exercise_two_providers(&config, "serve", ingest, "alpha", "beta");
    // One database file per provider.
    assert!(data.join("providers/alpha.db").exists());
    assert!(data.join("providers/beta.db").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn ingest_and_simulate_store_two_providers_in_their_own_cassandra_keyspaces() {
    let settings = cassandra_settings();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!(
        "[store]\nbackend = \"cassandra\"\nnodes = [\"{}\"]\nregistry_keyspace = \"{}\"\nconsistency = \"one\"",
        settings.nodes[0], settings.registry_keyspace
    );
    let ingest = free_port();
    let config = config(dir.path(), &store, ingest, free_port(), free_port());
    let alpha = unique("alpha_");
    let beta = unique("beta_");
    let (config_path, role, a, b) = (config.clone(), "ingest", alpha.clone(), beta.clone());
    tokio::task::spawn_blocking(move || exercise_two_providers(&config_path, role, ingest, &a, &b))
        .await
        .expect("exercise runs");

    // Straight from Cassandra: each keyspace holds its own provider's gateways only.
    let session = scylla::client::session_builder::SessionBuilder::new()
        .known_node(&settings.nodes[0])
        .build()
        .await
        .expect("connects to Cassandra");
    for (slug, own_prefix) in [(&alpha, alpha.to_ascii_uppercase()), (&beta, beta.to_ascii_uppercase())] {
        let query = format!("SELECT DISTINCT gateway, device, day FROM hg_{slug}.readings");
        let rows = session
            .query_unpaged(query, &[])
            .await
            .expect("query")
            .into_rows_result()
            .expect("rows")
            .rows::<(String, String, i32)>()
            .expect("typed rows")
            .collect::<Result<Vec<_>, _>>()
            .expect("rows decode");
        assert!(!rows.is_empty(), "hg_{slug} holds readings");
        for (gateway, _, _) in rows {
            assert!(gateway.starts_with(&own_prefix.replace('_', "-")), "hg_{slug} holds {gateway}");
        }
    }
}
