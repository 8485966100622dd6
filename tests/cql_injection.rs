//! CQL injection, against the real Cassandra node: identifiers that become keyspace or table
//! names are validated (hostile provider slugs, keyspace names, replication maps and gateway ids
//! are refused, by the CLI with a clear error), and every value is bound, never formatted into
//! CQL: names full of quotes and semicolons round-trip verbatim and every keyspace survives.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod common;

use std::process::Command;

use chrono::Utc;
use common::{cassandra_settings, unique};
use heliograph_shared::store::cassandra::KeyspaceName;
use heliograph_shared::store::{self, StoreSettings, WriteBatch};
use heliograph_shared::{
    Customer, CustomerId, Device, DeviceId, DeviceKind, EmailAddress, Gateway, GatewayId, GatewayToken,
    Provider, ProviderSlug, QuarantinedReading, Replication,
};

const BIN: &str = env!("CARGO_BIN_EXE_heliograph");

const HOSTILE_IDS: &[&str] = &[
    "acme; DROP KEYSPACE system_auth",
    "acme\"; DROP TABLE x; --",
    "acme' OR '1'='1",
    "acme.readings",
    "Acme",
    "acme\u{0}",
    "hg_acme WITH replication = {'class': 'SimpleStrategy'}",
    "",
];

#[test]
fn hostile_identifiers_are_refused_before_they_reach_cql() {
    for hostile in HOSTILE_IDS {
        assert!(ProviderSlug::parse(hostile).is_err(), "slug {hostile:?}");
        assert!(KeyspaceName::parse(hostile).is_err(), "keyspace {hostile:?}");
        // Gateway ids are bound values, never names, but quotes, semicolons and spaces are
        // refused anyway (the ones left, like "acme.readings", are plain ids).
        if hostile.contains([';', '\'', '"', ' ', '\u{0}']) || hostile.is_empty() {
            assert!(GatewayId::parse(hostile).is_err(), "gateway {hostile:?}");
        }
    }
    for hostile in ["dc1':3}; DROP KEYSPACE x; --:1", "dc1:3'", "simple:1; DROP", "dc1:0"] {
        assert!(Replication::parse(hostile).is_err(), "replication {hostile:?}");
    }
    // The CLI says why, and creates nothing.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("heliograph.toml");
    let data = dir.path().join("data");
    std::fs::write(&config, format!("[store]\nbackend = \"embedded\"\ndata_dir = \"{}\"\n", data.display()))
        .unwrap();
    for hostile in &HOSTILE_IDS[..4] {
        let output = Command::new(BIN)
            .arg("--config")
            .arg(&config)
            .args(["provider", "add", hostile, "--name", "X"])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{hostile:?} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("a-z") || stderr.contains("provider"),
            "no reason given for {hostile:?}: {stderr}"
        );
    }
    let listed = Command::new(BIN).arg("--config").arg(&config).args(["provider", "list"]).output().unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).trim().is_empty(), "no provider was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotes_and_semicolons_in_values_are_stored_verbatim_on_cassandra() {
    let settings = cassandra_settings();
    let registry = settings.registry_keyspace.clone();
    let store = store::open(&StoreSettings::Cassandra(settings.clone())).await.unwrap();
    let slug = ProviderSlug::parse(&unique("inj_")).unwrap();
    let evil = format!("x'); DROP KEYSPACE {registry}; DROP KEYSPACE hg_{slug}; -- \" ; ' OR 1=1");
    let mut provider = Provider::new(slug.clone(), &evil);
    provider.preferences.branding_name = evil.clone();
    store.create_provider(&provider).await.unwrap();
    let tenant = store.tenant(&slug).await.unwrap();

    let customer = Customer {
        id: CustomerId::new_random(),
        name: evil.clone(),
        emails: vec![EmailAddress::parse("o'brien@example.com").unwrap()],
        timezone: chrono_tz::Europe::Berlin,
        active: true,
    };
    tenant.upsert_customer(&customer).await.unwrap();
    let gateway = GatewayId::parse("GW-1").unwrap();
    tenant
        .create_gateway(&Gateway {
            id: gateway.clone(),
            customer: Some(customer.id),
            site_name: evil.clone(),
            capacity_kwp: 5.0,
            token_hash: GatewayToken::generate().hash(),
            previous_token: None,
            last_seen: None,
            active: true,
            location: None,
            alerting: Default::default(),
        })
        .await
        .unwrap();
    let now = Utc::now();
    let mut batch = WriteBatch::new(gateway.clone(), now);
    batch.devices.push(Device {
        gateway: gateway.clone(),
        id: DeviceId::parse("inv-1").unwrap(),
        kind: DeviceKind::Inverter,
        manufacturer: Some(evil.clone()),
        model: Some(evil.clone()),
        serial: Some(evil.clone()),
        last_seen: Some(now),
    });
    batch.quarantined.push(QuarantinedReading {
        gateway: gateway.clone(),
        received_at: now,
        seq: Some(1),
        device: evil.clone(),
        ts: evil.clone(),
        reason: evil.clone(),
        content: evil.clone(),
    });
    tenant.write_batch(batch).await.unwrap();

    assert_eq!(store.provider(&slug).await.unwrap().unwrap().display_name, evil);
    assert_eq!(tenant.customer(customer.id).await.unwrap().unwrap().name, evil);
    assert_eq!(tenant.gateway(&gateway).await.unwrap().unwrap().site_name, evil);
    let device = tenant.devices(&gateway).await.unwrap().pop().unwrap();
    assert_eq!(
        (device.manufacturer.as_deref(), device.model.as_deref()),
        (Some(evil.as_str()), Some(evil.as_str()))
    );
    let quarantined = tenant
        .quarantined(now - chrono::TimeDelta::minutes(1)..now + chrono::TimeDelta::minutes(1), 10)
        .await
        .unwrap();
    assert_eq!(quarantined.len(), 1);
    assert_eq!((&quarantined[0].reason, &quarantined[0].content), (&evil, &evil));

    // Both keyspaces are still there, straight from Cassandra's schema.
    let session = scylla::client::session_builder::SessionBuilder::new()
        .known_node(&settings.nodes[0])
        .build()
        .await
        .unwrap();
    for keyspace in [registry.to_string(), format!("hg_{slug}")] {
        let rows = session
            .query_unpaged(
                "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?",
                (keyspace.as_str(),),
            )
            .await
            .unwrap()
            .into_rows_result()
            .unwrap();
        assert_eq!(rows.rows_num(), 1, "keyspace {keyspace} survived");
    }
    for keyspace in [registry.to_string(), format!("hg_{slug}")] {
        session.query_unpaged(format!("DROP KEYSPACE IF EXISTS {keyspace}"), &[]).await.unwrap();
    }
}
