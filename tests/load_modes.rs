//! The benchmark modes of `heliograph load` write what they claim: `--prefill` the history of a
//! growth run (readings and their rollups, ending where it says), `--direct-cassandra` the very
//! rows the ingest server stores for the same documents, straight through the driver.

mod common;

use std::path::Path;

use chrono::{TimeDelta, Utc};
use common::process::heliograph;
use heliograph_shared::store::{self, StoreSettings, TenantStore};
use heliograph_shared::{DeviceId, GatewayId, Metric, ProviderSlug};

/// Adds provider `slug` and two gateways with the CLI and writes the `id token` file `load`
/// reads; returns the gateway ids.
fn provision(config: &Path, slug: &str, tokens: &Path) -> Vec<GatewayId> {
    heliograph(config, &["provider", "add", slug, "--name", "Bench"]);
    let mut lines = String::new();
    let mut ids = Vec::new();
    for id in ["LOAD-A", "LOAD-B"] {
        let added = heliograph(config, &["gateway", "add", "--provider", slug, id, "--site", id]);
        let token = added.lines().nth(1).expect("the token line").trim().to_owned();
        lines.push_str(&format!("{id} {token}\n"));
        ids.push(GatewayId::parse(id).expect("valid id"));
    }
    std::fs::write(tokens, lines).expect("writes the tokens");
    ids
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not one JSON object ({e}): {stdout}"))
}

async fn tenant(settings: &StoreSettings, slug: &str) -> std::sync::Arc<dyn TenantStore> {
    let store = store::open(settings).await.expect("store opens");
    store.tenant(&ProviderSlug::parse(slug).expect("valid slug")).await.expect("tenant")
}

#[tokio::test]
async fn prefill_writes_each_gateways_history_and_its_rollups_ending_days_back() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = dir.path().join("data");
    let config = dir.path().join("heliograph.toml");
    std::fs::write(&config, format!("[store]\nbackend = \"embedded\"\ndata_dir = \"{}\"\n", data.display()))
        .expect("writes the config");
    let tokens = dir.path().join("tokens");
    let gateways = provision(&config, "bench", &tokens);

    let tokens_arg = tokens.to_string_lossy();
    let out = heliograph(
        &config,
        &[
            "load",
            "--provider",
            "bench",
            "--gateways",
            "2",
            "--tokens",
            &tokens_arg,
            "--prefill",
            "4000",
            "--days-back",
            "3",
        ],
    );
    let result = json(&out);
    assert_eq!(result["readings_written"], 4000, "{result}");

    let tenant = tenant(&StoreSettings::Embedded { data_dir: data }, "bench").await;
    let device = DeviceId::parse("inv-1").expect("valid id");
    let end = Utc::now() - TimeDelta::days(3);
    for gateway in &gateways {
        let stored = tenant
            .readings(gateway, &device, end - TimeDelta::days(5)..Utc::now(), 10_000)
            .await
            .expect("reads");
        assert_eq!(stored.len(), 2000, "{gateway} holds half of the readings");
        let last = stored.last().expect("a last reading").ts;
        assert!(
            last < end && end - last < TimeDelta::minutes(5),
            "{gateway}'s history ends at {last}, not {end}"
        );
        assert!(
            stored.windows(2).all(|w| w[1].ts - w[0].ts == TimeDelta::minutes(1)),
            "one reading a minute"
        );
        let rollups =
            tenant.hourly_rollups(gateway, &device, stored[0].ts..end).await.expect("reads the rollups");
        assert!(rollups.len() >= 33, "{gateway}: {} hourly rollups for 2,000 minutes", rollups.len());
    }
}

#[tokio::test]
async fn direct_cassandra_writes_the_rows_the_ingest_server_would_store() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let settings = common::cassandra_settings();
    let config = dir.path().join("heliograph.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nbackend = \"cassandra\"\nnodes = [\"{}\"]\nregistry_keyspace = \"{}\"\nconsistency = \"one\"\n[log]\nfilter = \"warn\"\n",
            settings.nodes[0], settings.registry_keyspace
        ),
    )
    .expect("writes the config");
    // Provider keyspaces are named from the slug alone: a fresh slug keeps runs apart.
    let slug = common::unique("bench");
    let tokens = dir.path().join("tokens");
    let gateways = provision(&config, &slug, &tokens);

    let tokens_arg = tokens.to_string_lossy();
    let before = Utc::now();
    let out = heliograph(
        &config,
        &[
            "load",
            "--provider",
            &slug,
            "--gateways",
            "2",
            "--batch",
            "10",
            "--documents",
            "3",
            "--days-back",
            "2",
            "--tokens",
            &tokens_arg,
            "--direct-cassandra",
            "--json",
        ],
    );
    let result = json(&out);
    assert_eq!(result["mode"], "direct-cassandra");
    assert_eq!(result["readings_acked"], 60, "{result}");
    assert_eq!(result["documents"], 6, "{result}");

    let tenant = tenant(&StoreSettings::Cassandra(settings), &slug).await;
    let device = DeviceId::parse("inv-1").expect("valid id");
    let first = before - TimeDelta::days(2);
    for (index, gateway) in gateways.iter().enumerate() {
        let stored = tenant
            .readings(gateway, &device, first - TimeDelta::minutes(1)..Utc::now(), 1000)
            .await
            .expect("reads");
        assert_eq!(stored.len(), 30, "{gateway} holds its three documents of ten readings");
        // The load's documents: power 1000 W + minute + gateway index, a counter from 1 MWh,
        // 230.1 V and 50.01 Hz, one reading a minute.
        for (n, reading) in stored.iter().enumerate() {
            let m = &reading.metrics;
            assert_eq!(m.get(Metric::AcPower), Some(1000.0 + n as f64 + index as f64), "{reading:?}");
            assert_eq!(m.get(Metric::Energy), Some(1_000_000.0 + n as f64), "{reading:?}");
            assert_eq!(m.get(Metric::AcVoltage), Some(230.1));
            assert_eq!(m.get(Metric::Frequency), Some(50.01));
        }
        assert!(
            stored.windows(2).all(|w| w[1].ts - w[0].ts == TimeDelta::minutes(1)),
            "one reading a minute"
        );
    }
}
