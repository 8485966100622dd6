//! `heliograph spool` on a spool directory left behind (a scaled-down ingest replica's volume):
//! its status, a drain into the store, and the lock that keeps it away from a running ingest.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod common;

use std::process::Command;

use chrono::{TimeDelta, Utc};
use common::process::{BIN, EmbeddedAcme, heliograph, start_role};
use heliograph_ingest::spool::Spool;
use heliograph_shared::store::WriteBatch;
use heliograph_shared::{DeviceId, GatewayId, Metric, Metrics, ProviderSlug, Reading};

#[tokio::test]
async fn a_left_behind_spool_is_drained_into_the_store_and_a_running_ingest_keeps_it_locked() {
    let dir = tempfile::tempdir().unwrap();
    let acme = EmbeddedAcme::new(dir.path(), "");
    let spool_dir = dir.path().join("spool");
    let base = Utc::now() - TimeDelta::hours(2);
    {
        let spool = Spool::open(&spool_dir, 1 << 30).unwrap();
        for minute in 0..3 {
            let gateway = GatewayId::parse("GW-1").unwrap();
            let mut metrics = Metrics::default();
            metrics.set(Metric::AcPower, 100.0 + f64::from(minute)).unwrap();
            let mut batch = WriteBatch::new(gateway.clone(), Utc::now());
            batch.readings.push(Reading {
                gateway,
                device: DeviceId::parse("inv-1").unwrap(),
                ts: base + TimeDelta::minutes(i64::from(minute)),
                status: None,
                metrics,
            });
            spool.append(&ProviderSlug::parse("acme").unwrap(), batch).await.unwrap();
        }
    }
    let status = heliograph(&acme.config, &["spool", "status"]);
    assert!(status.contains("3 records waiting for replay"), "{status}");

    // While an ingest process uses the directory, nothing else may.
    let mut ingest = start_role(&acme.config, "ingest", acme.ingest);
    let refused =
        Command::new(BIN).arg("--config").arg(&acme.config).args(["spool", "status"]).output().unwrap();
    let _ = ingest.kill();
    let _ = ingest.wait();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("in use by another process"));

    // The ingest process may have replayed some of them already: the drain stores the rest.
    let drained = heliograph(&acme.config, &["spool", "drain"]);
    assert!(drained.contains("the spool is empty"), "{drained}");
    assert!(heliograph(&acme.config, &["spool", "status"]).contains("0 records waiting"));
    let from = (base - TimeDelta::minutes(1)).to_rfc3339();
    let readings = heliograph(
        &acme.config,
        &["readings", "--provider", "acme", "--gateway", "GW-1", "--device", "inv-1", "--from", &from],
    );
    assert_eq!(readings.lines().filter(|l| l.contains("ac_power")).count(), 3, "{readings}");
}
