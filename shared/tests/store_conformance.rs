//! One behaviour, two backends: every test here runs against the embedded store (SQLite in a
//! temporary directory) and against Cassandra (the node named by `HELIOGRAPH_CASSANDRA`, in
//! keyspaces of the test's own), through the `Store` and `TenantStore` traits only.
//!
//! The Cassandra tests fail, and do not skip, when `HELIOGRAPH_CASSANDRA` is unset or the node
//! does not answer: `scripts/test.sh` starts one, or set it to a node such as `127.0.0.1:9042`.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use futures::FutureExt;
use futures::future::join_all;
use heliograph_shared::reports::daily::DaySummary;
use heliograph_shared::reports::daylight::DaylightRule;
use heliograph_shared::reports::{self, Period, SiteFacts, SiteReport, hourly_rollups};
use heliograph_shared::store::cassandra::KeyspaceName;
use heliograph_shared::store::{
    self, CassandraSettings, ConsistencySetting, ReadingsLog, Store, StoreError, StoreSettings, TenantStore,
    WriteBatch,
};
use heliograph_shared::{
    Customer, CustomerId, Device, DeviceId, DeviceKind, DeviceStatus, EmailAddress, Gateway, GatewayId,
    GatewayToken, Metric, Metrics, Provider, ProviderSlug, QuarantinedReading, Reading, RefusalReason,
    RefusedGateway, SiteAlerting, SiteLocation,
};

// ---------------------------------------------------------------------------------------------
// Fixtures: a store per test, on either backend.

/// Which backend a test runs on.
#[derive(Clone, Copy)]
enum Backend {
    Embedded,
    Cassandra,
}

/// A fresh store for one test, and what it takes to reopen and clean it up.
struct Fixture {
    store: Arc<dyn Store>,
    settings: StoreSettings,
    /// Suffix of every provider slug and keyspace this test creates, so tests share a node.
    token: String,
    _dir: tempfile::TempDir,
}

fn cassandra_node() -> String {
    std::env::var("HELIOGRAPH_CASSANDRA").unwrap_or_else(|_| {
        panic!(
            "HELIOGRAPH_CASSANDRA is not set: the Cassandra conformance tests need a node. Run \
             scripts/test.sh (it starts one), or start one with `scripts/cassandra.sh start` and set \
             HELIOGRAPH_CASSANDRA=127.0.0.1:9042"
        )
    })
}

impl Fixture {
    async fn new(backend: Backend) -> Self {
        let token = format!("{:08x}", rand::random::<u32>());
        let dir = tempfile::tempdir().unwrap();
        let settings = match backend {
            Backend::Embedded => StoreSettings::Embedded { data_dir: dir.path().join("data") },
            Backend::Cassandra => StoreSettings::Cassandra(CassandraSettings {
                nodes: vec![cassandra_node()],
                registry_keyspace: KeyspaceName::parse(&format!("conf_{token}")).unwrap(),
                consistency: ConsistencySetting::One,
                request_timeout_ms: 20_000,
                ..CassandraSettings::default()
            }),
        };
        let store = open(&settings).await;
        Self { store, settings, token, _dir: dir }
    }

    /// A provider slug unique to this test.
    fn slug(&self, name: &str) -> ProviderSlug {
        ProviderSlug::parse(&format!("{name}_{}", self.token)).unwrap()
    }

    /// Registers a provider and returns its handle.
    async fn provider(&self, name: &str) -> Arc<dyn TenantStore> {
        let slug = self.slug(name);
        self.store.create_provider(&Provider::new(slug.clone(), name)).await.unwrap();
        self.store.tenant(&slug).await.unwrap()
    }

    /// Registers a provider and a gateway of it, and returns the provider's handle.
    async fn provider_with_gateway(&self, name: &str, gateway: &str) -> Arc<dyn TenantStore> {
        let tenant = self.provider(name).await;
        tenant.create_gateway(&gateway_record(gateway)).await.unwrap();
        tenant
    }

    /// Drops what the test created on Cassandra, then reports the test's outcome.
    async fn finish(self, outcome: Result<(), Box<dyn Any + Send>>) {
        if let StoreSettings::Cassandra(settings) = &self.settings {
            drop_keyspaces(&settings.nodes[0], &self.token).await;
        }
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }
}

async fn open(settings: &StoreSettings) -> Arc<dyn Store> {
    match store::open(settings).await {
        Ok(store) => store,
        Err(e) => match settings {
            StoreSettings::Cassandra(c) => panic!(
                "cannot use the Cassandra node at {:?} (HELIOGRAPH_CASSANDRA): {e}. Start one with \
                 `scripts/cassandra.sh start` or point HELIOGRAPH_CASSANDRA at a reachable node",
                c.nodes
            ),
            StoreSettings::Embedded { .. } => panic!("cannot open the embedded store: {e}"),
        },
    }
}

/// Drops the registry and provider keyspaces whose names end with the test's token.
async fn drop_keyspaces(node: &str, token: &str) {
    use scylla::client::session_builder::SessionBuilder;
    use scylla::statement::Statement;

    let session = SessionBuilder::new().known_node(node).build().await.unwrap();
    let names: Vec<(String,)> = session
        .query_unpaged("SELECT keyspace_name FROM system_schema.keyspaces", ())
        .await
        .unwrap()
        .into_rows_result()
        .unwrap()
        .rows::<(String,)>()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let suffix = format!("_{token}");
    for (name,) in names.into_iter().filter(|(name,)| name.ends_with(&suffix)) {
        let mut statement = Statement::new(format!("DROP KEYSPACE IF EXISTS {name}"));
        statement.set_request_timeout(Some(Duration::from_secs(120)));
        session.query_unpaged(statement, ()).await.unwrap();
    }
}

/// Instantiates each named test for both backends: `embedded::name` and `cassandra::name`.
macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::run(super::Backend::Embedded, |f| Box::pin(super::$test(f))).await;
                }
            )*
        }
        mod cassandra {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::run(super::Backend::Cassandra, |f| Box::pin(super::$test(f))).await;
                }
            )*
        }
    };
}

type TestFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;

async fn run(backend: Backend, test: impl for<'a> FnOnce(&'a Fixture) -> TestFuture<'a>) {
    let fixture = Fixture::new(backend).await;
    let outcome = AssertUnwindSafe(test(&fixture)).catch_unwind().await;
    fixture.finish(outcome).await;
}

conformance!(
    providers_are_registered_once_read_listed_and_updated,
    readings_keep_every_metric_status_and_extra_across_utc_midnight,
    rewriting_a_reading_keeps_one_row_with_the_last_values,
    reading_ranges_include_the_start_exclude_the_end_and_honour_the_limit,
    a_document_with_hundreds_of_readings_for_several_devices_is_stored_whole,
    hourly_rollups_equal_a_fold_of_the_raw_readings,
    a_connections_documents_keep_rollups_equal_to_a_fold_of_everything_stored,
    two_connections_of_one_gateway_taking_turns_keep_rollups_equal_to_a_fold,
    a_document_in_stretches_hours_apart_keeps_every_hours_rollup_equal_to_a_fold,
    customers_are_replaced_whole_and_listed_by_name,
    gateways_are_created_read_replaced_and_listed_by_id,
    a_sites_location_and_alerting_are_set_alone_and_undo_no_other_change,
    a_gateway_id_belongs_to_one_provider_across_the_installation,
    a_batch_marks_its_gateway_seen_and_creates_no_gateway_of_its_own,
    devices_are_upserted_keeping_details_a_later_document_leaves_out,
    quarantined_readings_come_back_newest_first_within_the_range,
    refused_gateways_count_every_attempt_and_come_back_most_recent_first,
    unclaimed_gateways_count_every_attempt_and_come_back_most_recent_first,
    thousands_of_made_up_ids_fill_at_most_the_refusal_slots,
    a_providers_handle_never_sees_another_providers_data,
    reopening_the_store_keeps_providers_and_their_data,
    operator_accounts_are_kept_in_the_registry_and_replaced_whole,
    rollups_follow_rewrites_and_corrections_across_a_month_boundary,
    the_first_rollup_hour_is_the_earliest_written_in_any_order_and_by_any_writer,
    users_are_replaced_whole_listed_by_name_and_kept_per_provider,
    ending_a_users_sessions_changes_its_generation_alone_and_makes_no_user,
    ending_an_operators_sessions_changes_its_generation_alone_and_makes_no_operator,
    api_tokens_are_found_by_hash_listed_and_revoked_per_provider,
    day_summaries_are_kept_per_site_and_zone_and_replaced_whole,
    late_readings_change_the_history_mark_and_live_ones_do_not,
    a_year_report_counts_late_readings_in_days_summarised_before,
    a_connections_late_documents_count_in_year_reports_at_each_acknowledgement,
);

// ---------------------------------------------------------------------------------------------
// Test data.

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).single().unwrap()
}

fn gw(id: &str) -> GatewayId {
    GatewayId::parse(id).unwrap()
}

fn dev(id: &str) -> DeviceId {
    DeviceId::parse(id).unwrap()
}

fn gateway_record(id: &str) -> Gateway {
    Gateway {
        id: gw(id),
        customer: None,
        site_name: format!("Site {id}"),
        capacity_kwp: 9.9,
        token_hash: GatewayToken::generate().hash(),
        previous_token: None,
        last_seen: None,
        active: true,
        location: None,
        alerting: Default::default(),
    }
}

/// A reading with every canonical metric, a status and two extras, all derived from `seed`.
fn full_reading(gateway: &str, device: &str, ts: DateTime<Utc>, seed: f64) -> Reading {
    let mut metrics = Metrics::default();
    for (i, metric) in Metric::ALL.iter().enumerate() {
        let i = u32::try_from(i).unwrap();
        metrics.set(*metric, seed * 10.0 + f64::from(i) + 0.25).unwrap();
    }
    metrics.insert_extra("string_1_current", seed + 0.5, Some("A")).unwrap();
    metrics.insert_extra("fan_speed", -seed, None).unwrap();
    Reading {
        gateway: gw(gateway),
        device: dev(device),
        ts,
        status: Some(if seed > 2.0 {
            DeviceStatus::Other("grid-lost".into())
        } else {
            DeviceStatus::Producing
        }),
        metrics,
    }
}

fn power_reading(gateway: &str, device: &str, ts: DateTime<Utc>, power: f64) -> Reading {
    let mut metrics = Metrics::default();
    metrics.set(Metric::AcPower, power).unwrap();
    Reading { gateway: gw(gateway), device: dev(device), ts, status: None, metrics }
}

/// A reading of `power` and an energy counter standing at `energy`.
fn metered_reading(gateway: &str, device: &str, ts: DateTime<Utc>, power: f64, energy: f64) -> Reading {
    let mut reading = power_reading(gateway, device, ts, power);
    reading.metrics.set(Metric::Energy, energy).unwrap();
    reading
}

/// A small count (minutes, readings) as a float, for readings' values.
fn float(count: i64) -> f64 {
    f64::from(i32::try_from(count).unwrap())
}

fn batch(gateway: &str, received_at: DateTime<Utc>, readings: Vec<Reading>) -> WriteBatch {
    let mut batch = WriteBatch::new(gw(gateway), received_at);
    batch.readings = readings;
    batch
}

fn quarantined(
    gateway: &str,
    received_at: DateTime<Utc>,
    seq: Option<u64>,
    reason: &str,
) -> QuarantinedReading {
    QuarantinedReading {
        gateway: gw(gateway),
        received_at,
        seq,
        device: "inv 1".into(),
        ts: "yesterday".into(),
        reason: reason.into(),
        content: format!("<reading reason=\"{reason}\"/>"),
    }
}

fn refusal(
    gateway: &str,
    reason: RefusalReason,
    seen: DateTime<Utc>,
    attempts: u64,
    address: &str,
) -> RefusedGateway {
    RefusedGateway {
        gateway: gw(gateway),
        reason,
        first_seen: seen,
        last_seen: seen,
        attempts,
        last_address: address.into(),
    }
}

fn customer(name: &str, emails: &[&str], timezone: chrono_tz::Tz) -> Customer {
    Customer {
        id: CustomerId::new_random(),
        name: name.into(),
        emails: emails.iter().map(|e| EmailAddress::parse(e).unwrap()).collect(),
        timezone,
        active: true,
    }
}

/// Every reading of a device on 2026-06-01 and 2026-06-02, as the store holds them.
async fn all_readings(tenant: &dyn TenantStore, gateway: &str, device: &str) -> Vec<Reading> {
    let range = at(2026, 5, 31, 0, 0, 0)..at(2026, 6, 4, 0, 0, 0);
    tenant.readings(&gw(gateway), &dev(device), range, usize::MAX).await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// The tests.

async fn providers_are_registered_once_read_listed_and_updated(f: &Fixture) {
    f.store.ping().await.unwrap();
    let acme = Provider::new(f.slug("acme"), "Acme Solar");
    let sunny = Provider::new(f.slug("sunny"), "Sunny O&M");
    f.store.create_provider(&sunny).await.unwrap();
    f.store.create_provider(&acme).await.unwrap();

    let again = Provider::new(acme.slug.clone(), "Someone else");
    assert!(
        matches!(f.store.create_provider(&again).await, Err(StoreError::ProviderExists(s)) if s == acme.slug)
    );

    assert_eq!(f.store.provider(&acme.slug).await.unwrap(), Some(acme.clone()));
    assert_eq!(f.store.provider(&f.slug("nobody")).await.unwrap(), None);
    assert_eq!(f.store.providers().await.unwrap(), vec![acme.clone(), sunny.clone()], "listed by slug");

    let mut updated = acme.clone();
    updated.display_name = "Acme Solar GmbH".into();
    updated.retention_days = 30;
    updated.ingest_port = Some(7001);
    updated.timezone = chrono_tz::Europe::Berlin;
    f.store.update_provider(&updated).await.unwrap();
    assert_eq!(f.store.provider(&acme.slug).await.unwrap(), Some(updated.clone()));
    assert_eq!(f.store.providers().await.unwrap(), vec![updated, sunny]);

    let unknown = Provider::new(f.slug("nobody"), "Nobody");
    assert!(matches!(f.store.update_provider(&unknown).await, Err(StoreError::UnknownProvider(_))));
    assert!(matches!(f.store.tenant(&unknown.slug).await, Err(StoreError::UnknownProvider(_))));
    assert_eq!(f.store.tenant(&acme.slug).await.unwrap().provider(), &acme.slug);
}

async fn readings_keep_every_metric_status_and_extra_across_utc_midnight(f: &Fixture) {
    let tenant = f.provider_with_gateway("acme", "GW-1").await;
    let written = vec![
        full_reading("GW-1", "inv-1", at(2026, 6, 1, 23, 58, 0), 1.0),
        full_reading("GW-1", "inv-1", at(2026, 6, 1, 23, 59, 59) + TimeDelta::milliseconds(999), 2.0),
        full_reading("GW-1", "inv-1", at(2026, 6, 2, 0, 0, 0), 3.0),
        full_reading("GW-1", "inv-1", at(2026, 6, 2, 0, 1, 0), 4.0),
    ];
    let status_only = Reading {
        status: Some(DeviceStatus::Fault),
        metrics: Metrics::default(),
        ..power_reading("GW-1", "inv-1", at(2026, 6, 2, 0, 2, 0), 0.0)
    };
    let mut all = written.clone();
    all.push(status_only);
    // Sent out of order, with another device's reading in between.
    let mut sent = all.clone();
    sent.reverse();
    sent.insert(2, power_reading("GW-1", "inv-2", at(2026, 6, 1, 23, 59, 0), 5.0));
    tenant.write_batch(batch("GW-1", at(2026, 6, 2, 0, 5, 0), sent)).await.unwrap();

    assert_eq!(all_readings(tenant.as_ref(), "GW-1", "inv-1").await, all, "oldest first, every value kept");
    assert_eq!(all_readings(tenant.as_ref(), "GW-1", "inv-2").await.len(), 1);
    assert!(all_readings(tenant.as_ref(), "GW-1", "inv-3").await.is_empty());

    let after_midnight = at(2026, 6, 2, 0, 0, 0)..at(2026, 6, 3, 0, 0, 0);
    let second_day = tenant.readings(&gw("GW-1"), &dev("inv-1"), after_midnight, 100).await.unwrap();
    assert_eq!(second_day, all[2..].to_vec());
}

async fn rewriting_a_reading_keeps_one_row_with_the_last_values(f: &Fixture) {
    let tenant = f.provider_with_gateway("acme", "GW-1").await;
    let ts = at(2026, 6, 1, 12, 0, 0);
    let first = full_reading("GW-1", "inv-1", ts, 1.0);
    let second = full_reading("GW-1", "inv-1", ts, 7.0);
    tenant.write_batch(batch("GW-1", ts, vec![first.clone()])).await.unwrap();
    tenant.write_batch(batch("GW-1", ts, vec![first.clone()])).await.unwrap();
    assert_eq!(all_readings(tenant.as_ref(), "GW-1", "inv-1").await, vec![first], "a resend is stored once");

    tenant.write_batch(batch("GW-1", ts, vec![second.clone()])).await.unwrap();
    assert_eq!(all_readings(tenant.as_ref(), "GW-1", "inv-1").await, vec![second], "the last write wins");

    // The same key twice in one document: its last occurrence is what is stored.
    let (third, fourth) = (full_reading("GW-1", "inv-1", ts, 8.0), full_reading("GW-1", "inv-1", ts, 3.0));
    tenant.write_batch(batch("GW-1", ts, vec![third, fourth.clone()])).await.unwrap();
    assert_eq!(all_readings(tenant.as_ref(), "GW-1", "inv-1").await, vec![fourth]);
}

async fn reading_ranges_include_the_start_exclude_the_end_and_honour_the_limit(f: &Fixture) {
    let tenant = f.provider_with_gateway("acme", "GW-1").await;
    // Every 10 minutes from 22:00 on June 1st to 02:00 on June 3rd: three day partitions.
    let start = at(2026, 6, 1, 22, 0, 0);
    let readings: Vec<Reading> = (0..=168)
        .map(|i| power_reading("GW-1", "inv-1", start + TimeDelta::minutes(10 * i), float(i)))
        .collect();
    tenant.write_batch(batch("GW-1", at(2026, 6, 3, 2, 0, 0), readings.clone())).await.unwrap();
    let query = |range: std::ops::Range<DateTime<Utc>>, limit: usize| {
        let tenant = Arc::clone(&tenant);
        async move { tenant.readings(&gw("GW-1"), &dev("inv-1"), range, limit).await.unwrap() }
    };

    assert_eq!(
        query(start..start + TimeDelta::minutes(30), 100).await,
        readings[0..3].to_vec(),
        "start in, end out"
    );
    let midnight = at(2026, 6, 2, 0, 0, 0);
    assert_eq!(query(midnight - TimeDelta::minutes(20)..midnight, 100).await, readings[10..12].to_vec());
    assert_eq!(query(midnight..midnight + TimeDelta::milliseconds(1), 100).await, readings[12..13].to_vec());
    assert_eq!(query(start..start + TimeDelta::days(3), 5).await, readings[0..5].to_vec(), "the oldest five");
    assert_eq!(
        query(midnight - TimeDelta::minutes(30)..midnight + TimeDelta::days(2), 150).await,
        readings[9..159].to_vec(),
        "a limit across partitions"
    );
    assert_eq!(query(start..start + TimeDelta::days(3), usize::MAX).await, readings);
    assert!(query(start..start, 100).await.is_empty(), "an empty range");
    assert!(query(midnight..start, 100).await.is_empty(), "a reversed range");
    assert!(query(start..start + TimeDelta::days(3), 0).await.is_empty(), "a zero limit");
}

async fn a_document_with_hundreds_of_readings_for_several_devices_is_stored_whole(f: &Fixture) {
    let tenant = f.provider_with_gateway("acme", "GW-1").await;
    let start = at(2026, 6, 1, 19, 0, 0);
    let devices = ["inv-1", "inv-2", "meter-1"];
    let mut readings = Vec::new();
    for (d, device) in devices.iter().enumerate() {
        for second in 0..350 {
            let power = f64::from(u32::try_from(d * 1000 + second).unwrap());
            readings.push(power_reading(
                "GW-1",
                device,
                start + TimeDelta::seconds(i64::try_from(second).unwrap() * 60),
                power,
            ));
        }
    }
    tenant.write_batch(batch("GW-1", start, readings.clone())).await.unwrap();
    for (d, device) in devices.iter().enumerate() {
        let expected = readings[d * 350..(d + 1) * 350].to_vec();
        assert_eq!(all_readings(tenant.as_ref(), "GW-1", device).await, expected, "{device}");
    }
}

async fn hourly_rollups_equal_a_fold_of_the_raw_readings(f: &Fixture) {
    let tenant = f.provider_with_gateway("acme", "GW-1").await;
    let start = at(2026, 6, 1, 22, 0, 0);
    let readings: Vec<Reading> = (0..240)
        .map(|minute| {
            metered_reading(
                "GW-1",
                "inv-1",
                start + TimeDelta::minutes(minute),
                1000.0 + 10.0 * float(minute % 37),
                50_000.0 + 20.0 * float(minute),
            )
        })
        .collect();
    // In two documents, the second one first.
    tenant.write_batch(batch("GW-1", start, readings[120..].to_vec())).await.unwrap();
    tenant.write_batch(batch("GW-1", start, readings[..120].to_vec())).await.unwrap();
    let range = at(2026, 6, 1, 23, 0, 0)..at(2026, 6, 2, 1, 0, 0);
    let expected: Vec<_> =
        hourly_rollups(&readings).into_iter().filter(|r| range.contains(&r.hour)).collect();
    assert_eq!(expected.len(), 2);
    assert_eq!(tenant.hourly_rollups(&gw("GW-1"), &dev("inv-1"), range).await.unwrap(), expected);
}

/// One connection's documents, written with its session (both stores fold most of them on from
/// what it carries), mixed with a rewrite, a backfill behind the carry, a reading stored
/// ahead of it by another writer, a second device and a forgotten session: every hour's rollup
/// stays what folding the stored readings gives.
async fn a_connections_documents_keep_rollups_equal_to_a_fold_of_everything_stored(f: &Fixture) {
    let tenant = f.provider_with_gateway("acme", "GW-1").await;
    let start = at(2026, 6, 1, 21, 7, 0);
    let reading = |device: &str, minute: i64| {
        let counter = if minute < 1500 { minute } else { minute - 1500 };
        metered_reading(
            "GW-1",
            device,
            start + TimeDelta::minutes(minute),
            1000.0 + 7.0 * float(minute % 41),
            9_000.0 + 13.0 * float(counter),
        )
    };
    // Every third minute of 45 hours of inv-1, in documents of 50 readings, with an hour
    // without readings in the fourth document and a counter reset at minute 1500.
    let minutes = |range: std::ops::Range<i64>| range.map(|i| 3 * i).filter(|m| !(510..570).contains(m));
    let documents: Vec<Vec<Reading>> =
        (0..18).map(|d| minutes(d * 50..(d + 1) * 50).map(|m| reading("inv-1", m)).collect()).collect();
    // Another writer stored a reading ahead of where the connection will be, further than the
    // connection's reads look ahead (minute 2101, 35 hours in, between two of its own).
    let mut ahead = reading("inv-1", 2101);
    ahead.metrics.set(Metric::AcPower, 4321.0).unwrap();
    tenant.write_batch(batch("GW-1", start, vec![ahead])).await.unwrap();
    let writer = ReadingsLog::writer(Arc::clone(&tenant) as Arc<dyn ReadingsLog>);
    let write = |readings: Vec<Reading>| writer.write(batch("GW-1", start, readings));
    for document in &documents[..8] {
        write(document.clone()).await.unwrap();
    }
    // A rewrite of the second document with other values, then a second device alongside.
    let mut rewritten = documents[1].clone();
    for r in &mut rewritten {
        r.metrics.set(Metric::AcPower, 333.0).unwrap();
    }
    write(rewritten.clone()).await.unwrap();
    for document in &documents[8..12] {
        let mut mixed = document.clone();
        mixed.extend(document.iter().map(|r| reading("meter-1", (r.ts - start).num_minutes())));
        write(mixed).await.unwrap();
    }
    // On across minute 2101, a forgotten session (a document went to the spool), readings
    // ahead, and the last document, which then lies behind the carry.
    for document in &documents[12..16] {
        write(document.clone()).await.unwrap();
    }
    writer.forget();
    write(documents[16].clone()).await.unwrap();
    write(minutes(900..950).map(|m| reading("inv-1", m)).collect()).await.unwrap();
    write(documents[17].clone()).await.unwrap();

    let range = start - TimeDelta::hours(1)..start + TimeDelta::hours(50);
    for device in ["inv-1", "meter-1"] {
        let stored = tenant.readings(&gw("GW-1"), &dev(device), range.clone(), usize::MAX).await.unwrap();
        let expected = hourly_rollups(&stored);
        assert!(expected.len() > if device == "inv-1" { 40 } else { 8 }, "{device}: {}", expected.len());
        let rollups = tenant.hourly_rollups(&gw("GW-1"), &dev(device), range.clone()).await.unwrap();
        assert_eq!(rollups, expected, "{device}");
    }
    // The rewrite's values are what is stored and rolled up.
    let stored = tenant.readings(&gw("GW-1"), &dev("inv-1"), range, usize::MAX).await.unwrap();
    assert_eq!(stored.len(), 950 - 20 + 1);
    assert!(stored.iter().filter(|r| r.metrics.get(Metric::AcPower) == Some(333.0)).count() >= 50);
}

/// A gateway with two connections at once (a reconnect while the old one still sends, or two
/// processes sharing its id) whose documents take turns: each connection's next document comes
/// after readings the other one stored in between, and every hour must still fold them all.
async fn two_connections_of_one_gateway_taking_turns_keep_rollups_equal_to_a_fold(f: &Fixture) {
    let tenant = f.provider_with_gateway("acme", "GW-1").await;
    let start = at(2026, 6, 1, 21, 0, 0);
    let reading = |minute: i64| {
        metered_reading(
            "GW-1",
            "inv-1",
            start + TimeDelta::minutes(minute),
            1000.0 + 11.0 * float(minute % 37),
            20_000.0 + 17.0 * float(minute),
        )
    };
    // Twelve documents of 30 one-minute readings; the connections send every other one.
    let log = || Arc::clone(&tenant) as Arc<dyn ReadingsLog>;
    let connections = [log().writer(), log().writer()];
    for document in 0..12 {
        let readings: Vec<Reading> = (document * 30..(document + 1) * 30).map(reading).collect();
        let writer = &connections[usize::try_from(document % 2).unwrap()];
        writer.write(batch("GW-1", start, readings)).await.unwrap();
    }

    let range = start - TimeDelta::hours(1)..start + TimeDelta::hours(8);
    let stored = tenant.readings(&gw("GW-1"), &dev("inv-1"), range.clone(), usize::MAX).await.unwrap();
    assert_eq!(stored.len(), 360);
    let expected = hourly_rollups(&stored);
    assert_eq!(expected.len(), 6);
    assert_eq!(tenant.hourly_rollups(&gw("GW-1"), &dev("inv-1"), range).await.unwrap(), expected);
}

/// One document holding two stretches of a device hours apart, and a second device beside the
/// first, after another writer stored readings between the stretches (some of them rewritten by
/// the document). Every reading carries each value a rollup folds: power, irradiance, the three
/// energy counters, and now and then a fault. Every hour's rollup is the fold of what is stored.
async fn a_document_in_stretches_hours_apart_keeps_every_hours_rollup_equal_to_a_fold(f: &Fixture) {
    let tenant = f.provider_with_gateway("acme", "GW-1").await;
    let start = at(2026, 6, 1, 6, 0, 0);
    let reading = |device: &str, minute: i64| {
        let ts = start + TimeDelta::minutes(minute);
        let mut reading = metered_reading(
            "GW-1",
            device,
            ts,
            900.0 + 5.0 * float(minute % 23),
            1_000.0 + 2.0 * float(minute),
        );
        reading.metrics.set(Metric::Irradiance, 100.0 + float(minute % 17)).unwrap();
        reading.metrics.set(Metric::ImportEnergy, 500.0 + float(minute)).unwrap();
        reading.metrics.set(Metric::ExportEnergy, 700.0 + 3.0 * float(minute)).unwrap();
        if minute % 11 == 0 {
            reading.status = Some(DeviceStatus::Fault);
        }
        reading
    };
    // The other writer: 8:50 to 10:29.
    tenant
        .write_batch(batch("GW-1", start, (170..270).map(|m| reading("inv-1", m)).collect()))
        .await
        .unwrap();
    // The document: inv-1 from 6:10 to 7:49 and from 10:20 to 12:19, meter-1 from 6:10 to 7:49.
    // Its hours touched are 5 to 8 and 10 to 12: 9 lies between, more than the gap from both.
    let mut document: Vec<Reading> = (10..110).chain(260..380).map(|m| reading("inv-1", m)).collect();
    document.extend((10..110).map(|m| reading("meter-1", m)));
    tenant.write_batch(batch("GW-1", start, document)).await.unwrap();

    let range = start - TimeDelta::hours(1)..start + TimeDelta::hours(8);
    for (device, hours) in [("inv-1", 7), ("meter-1", 2)] {
        let stored = tenant.readings(&gw("GW-1"), &dev(device), range.clone(), usize::MAX).await.unwrap();
        let expected = hourly_rollups(&stored);
        assert_eq!(expected.len(), hours, "{device}");
        let folded = |r: &reports::HourlyRollup| {
            r.insolation > 0.0 && r.import_gain > 0.0 && r.export_gain > 0.0 && r.fault_samples > 0
        };
        assert!(expected.iter().any(folded), "{device}: every kind of value is folded");
        let rollups = tenant.hourly_rollups(&gw("GW-1"), &dev(device), range.clone()).await.unwrap();
        assert_eq!(rollups, expected, "{device}");
    }
}

async fn customers_are_replaced_whole_and_listed_by_name(f: &Fixture) {
    let tenant = f.provider("acme").await;
    let zed = customer("Zed", &["zed@example.com"], chrono_tz::Europe::Vienna);
    let mut anna =
        customer("Anna", &["anna@example.com", "billing@anna.example"], chrono_tz::America::New_York);
    tenant.upsert_customer(&zed).await.unwrap();
    tenant.upsert_customer(&anna).await.unwrap();
    assert_eq!(tenant.customer(anna.id).await.unwrap(), Some(anna.clone()));
    assert_eq!(tenant.customers().await.unwrap(), vec![anna.clone(), zed.clone()], "listed by name");

    anna.name = "Anna B.".into();
    anna.emails.clear();
    anna.active = false;
    anna.timezone = chrono_tz::UTC;
    tenant.upsert_customer(&anna).await.unwrap();
    assert_eq!(tenant.customer(anna.id).await.unwrap(), Some(anna.clone()));
    assert_eq!(tenant.customers().await.unwrap(), vec![anna, zed]);
    assert_eq!(tenant.customer(CustomerId::new_random()).await.unwrap(), None);
}

async fn gateways_are_created_read_replaced_and_listed_by_id(f: &Fixture) {
    let tenant = f.provider("acme").await;
    let owner = customer("Owner", &["owner@example.com"], chrono_tz::UTC);
    tenant.upsert_customer(&owner).await.unwrap();
    let b = gateway_record("GW-B");
    let mut a = Gateway {
        customer: Some(owner.id),
        previous_token: Some((GatewayToken::generate().hash(), at(2026, 7, 1, 0, 0, 0))),
        last_seen: Some(at(2026, 6, 1, 8, 0, 0)),
        location: Some(SiteLocation::new(-33.8688, 151.2093).unwrap()),
        alerting: SiteAlerting {
            offline_after_minutes: Some(180),
            underperformance_percent: Some(45),
            maintenance_until: Some(at(2026, 6, 2, 14, 30, 0)),
        },
        ..gateway_record("GW-A")
    };
    tenant.create_gateway(&b).await.unwrap();
    tenant.create_gateway(&a).await.unwrap();
    assert_eq!(tenant.gateway(&a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(tenant.gateways().await.unwrap(), vec![a.clone(), b.clone()], "listed by id");

    assert!(matches!(tenant.create_gateway(&a).await, Err(StoreError::GatewayExists(id)) if id == a.id));

    a.token_hash = GatewayToken::generate().hash();
    a.previous_token = None;
    a.customer = None;
    a.site_name = "Roof, east".into();
    a.capacity_kwp = 12.5;
    a.active = false;
    a.location = None;
    a.alerting = SiteAlerting { underperformance_percent: Some(70), ..SiteAlerting::default() };
    tenant.update_gateway(&a).await.unwrap();
    assert_eq!(tenant.gateway(&a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(tenant.gateways().await.unwrap(), vec![a, b]);

    let ghost = gateway_record("GW-GHOST");
    assert!(
        matches!(tenant.update_gateway(&ghost).await, Err(StoreError::UnknownGateway(id)) if id == ghost.id)
    );
    assert_eq!(tenant.gateway(&ghost.id).await.unwrap(), None);
}

async fn a_sites_location_and_alerting_are_set_alone_and_undo_no_other_change(f: &Fixture) {
    let tenant = f.provider("acme").await;
    let record = gateway_record("GW-A");
    tenant.create_gateway(&record).await.unwrap();
    // A token rotation lands between a panel's read and its save of the site's settings.
    let mut rotated = record.clone();
    rotated.rotate_token(&GatewayToken::generate(), None, at(2026, 6, 1, 8, 0, 0));
    tenant.update_gateway(&rotated).await.unwrap();
    let location = SiteLocation::new(48.137154, 11.576124).unwrap();
    tenant.set_location(&record.id, Some(location)).await.unwrap();
    let alerting = SiteAlerting {
        offline_after_minutes: Some(240),
        underperformance_percent: None,
        maintenance_until: Some(at(2026, 6, 2, 9, 0, 0)),
    };
    tenant.set_alerting(&record.id, &alerting).await.unwrap();
    let stored = tenant.gateway(&record.id).await.unwrap().unwrap();
    assert_eq!(stored.token_hash, rotated.token_hash, "the rotation stands");
    assert_eq!((stored.location, stored.alerting), (Some(location), alerting));
    tenant.set_location(&record.id, None).await.unwrap();
    assert_eq!(tenant.gateway(&record.id).await.unwrap().unwrap().location, None);
    assert_eq!(tenant.gateway(&record.id).await.unwrap().unwrap().alerting, alerting, "left alone");
    let ghost = gw("GW-GHOST");
    assert!(matches!(tenant.set_location(&ghost, Some(location)).await, Err(StoreError::UnknownGateway(_))));
    assert!(matches!(tenant.set_alerting(&ghost, &alerting).await, Err(StoreError::UnknownGateway(_))));
    assert_eq!(tenant.gateway(&ghost).await.unwrap(), None, "no row made for an unknown id");
}

async fn a_gateway_id_belongs_to_one_provider_across_the_installation(f: &Fixture) {
    let acme = f.provider_with_gateway("acme", "GW-1").await;
    let sunny = f.provider("sunny").await;
    let taken = sunny.create_gateway(&gateway_record("GW-1")).await;
    assert!(matches!(&taken, Err(StoreError::GatewayTaken(id)) if *id == gw("GW-1")), "{taken:?}");
    assert_eq!(sunny.gateway(&gw("GW-1")).await.unwrap(), None);
    assert!(sunny.gateways().await.unwrap().is_empty());
    assert!(matches!(
        sunny.update_gateway(&gateway_record("GW-1")).await,
        Err(StoreError::UnknownGateway(_))
    ));

    assert_eq!(f.store.locate_gateway(&gw("GW-1")).await.unwrap(), Some(acme.provider().clone()));
    assert_eq!(f.store.locate_gateway(&gw("GW-2")).await.unwrap(), None);
    sunny.create_gateway(&gateway_record("GW-2")).await.unwrap();
    assert_eq!(f.store.locate_gateway(&gw("GW-2")).await.unwrap(), Some(sunny.provider().clone()));
    assert!(matches!(acme.create_gateway(&gateway_record("GW-2")).await, Err(StoreError::GatewayTaken(_))));
}

async fn a_batch_marks_its_gateway_seen_and_creates_no_gateway_of_its_own(f: &Fixture) {
    let tenant = f.provider_with_gateway("acme", "GW-1").await;
    let first = at(2026, 6, 1, 12, 0, 0);
    tenant.write_batch(WriteBatch::new(gw("GW-1"), first)).await.unwrap();
    assert_eq!(tenant.gateway(&gw("GW-1")).await.unwrap().unwrap().last_seen, Some(first));
    let later = first + TimeDelta::minutes(5);
    tenant.write_batch(batch("GW-1", later, vec![power_reading("GW-1", "inv-1", first, 1.0)])).await.unwrap();
    assert_eq!(tenant.gateway(&gw("GW-1")).await.unwrap().unwrap().last_seen, Some(later));

    // A batch for an id with no gateway record stores its readings but makes no gateway.
    tenant.write_batch(batch("GW-9", later, vec![power_reading("GW-9", "inv-1", first, 1.0)])).await.unwrap();
    assert_eq!(tenant.gateway(&gw("GW-9")).await.unwrap(), None);
    assert_eq!(tenant.gateways().await.unwrap().len(), 1);
    assert!(matches!(
        tenant.update_gateway(&gateway_record("GW-9")).await,
        Err(StoreError::UnknownGateway(_))
    ));
    // ... and the id can still be created, as new.
    let nine = gateway_record("GW-9");
    tenant.create_gateway(&nine).await.unwrap();
    assert_eq!(tenant.gateway(&nine.id).await.unwrap(), Some(nine));
}

async fn devices_are_upserted_keeping_details_a_later_document_leaves_out(f: &Fixture) {
    let tenant = f.provider_with_gateway("acme", "GW-1").await;
    tenant.create_gateway(&gateway_record("GW-2")).await.unwrap();
    let (t1, t2) = (at(2026, 6, 1, 12, 0, 0), at(2026, 6, 1, 12, 5, 0));
    let inverter = Device {
        gateway: gw("GW-1"),
        id: dev("inv-1"),
        kind: DeviceKind::Inverter,
        manufacturer: Some("Fronius".into()),
        model: Some("Symo 10".into()),
        serial: Some("SN-1".into()),
        last_seen: Some(t1),
    };
    let meter = Device {
        gateway: gw("GW-1"),
        id: dev("meter-1"),
        kind: DeviceKind::Meter,
        manufacturer: None,
        model: None,
        serial: None,
        last_seen: None,
    };
    let mut first = WriteBatch::new(gw("GW-1"), t1);
    first.devices = vec![meter.clone(), inverter.clone()];
    tenant.write_batch(first).await.unwrap();
    assert_eq!(tenant.devices(&gw("GW-1")).await.unwrap(), vec![inverter.clone(), meter.clone()], "by id");

    let mut second = WriteBatch::new(gw("GW-1"), t2);
    second.devices = vec![Device {
        manufacturer: None,
        model: Some("Symo 10.0-3-M".into()),
        serial: None,
        last_seen: Some(t2),
        ..inverter.clone()
    }];
    tenant.write_batch(second).await.unwrap();
    let expected = Device { model: Some("Symo 10.0-3-M".into()), last_seen: Some(t2), ..inverter };
    assert_eq!(tenant.devices(&gw("GW-1")).await.unwrap(), vec![expected, meter]);
    assert!(tenant.devices(&gw("GW-2")).await.unwrap().is_empty());
}

async fn quarantined_readings_come_back_newest_first_within_the_range(f: &Fixture) {
    let tenant = f.provider_with_gateway("acme", "GW-1").await;
    let t0 = at(2026, 6, 1, 23, 59, 0);
    let t1 = t0 + TimeDelta::seconds(30);
    let t2 = at(2026, 6, 2, 0, 0, 30);
    let mut first = WriteBatch::new(gw("GW-1"), t0);
    first.quarantined =
        vec![quarantined("GW-1", t0, Some(7), "bad unit"), quarantined("GW-1", t0, Some(7), "not a number")];
    let mut second = WriteBatch::new(gw("GW-1"), t1);
    second.quarantined = vec![quarantined("GW-1", t1, None, "future timestamp")];
    let mut third = WriteBatch::new(gw("GW-1"), t2);
    third.quarantined = vec![quarantined("GW-1", t2, Some(u64::from(u32::MAX) + 1), "empty")];
    for batch in [first.clone(), second.clone(), third.clone()] {
        tenant.write_batch(batch).await.unwrap();
    }
    let newest_first = vec![
        third.quarantined[0].clone(),
        second.quarantined[0].clone(),
        first.quarantined[1].clone(),
        first.quarantined[0].clone(),
    ];
    let day = at(2026, 6, 1, 0, 0, 0)..at(2026, 6, 3, 0, 0, 0);
    assert_eq!(tenant.quarantined(day.clone(), 100).await.unwrap(), newest_first);
    assert_eq!(tenant.quarantined(day.clone(), 2).await.unwrap(), newest_first[..2].to_vec());
    assert_eq!(tenant.quarantined(t0..t2, 100).await.unwrap(), newest_first[1..].to_vec(), "end excluded");
    assert_eq!(
        tenant.quarantined(t1..t2 + TimeDelta::milliseconds(1), 100).await.unwrap(),
        newest_first[..2].to_vec(),
        "start included"
    );
    assert!(tenant.quarantined(day.clone(), 0).await.unwrap().is_empty());
    assert!(
        tenant.quarantined(at(2026, 6, 3, 0, 0, 0)..at(2026, 6, 4, 0, 0, 0), 100).await.unwrap().is_empty()
    );
}

async fn refused_gateways_count_every_attempt_and_come_back_most_recent_first(f: &Fixture) {
    let tenant = f.provider("acme").await;
    let t = at(2026, 6, 1, 12, 0, 0);
    tenant
        .record_refused_gateway(&refusal("GW-X", RefusalReason::UnknownGateway, t, 1, "10.0.0.1"))
        .await
        .unwrap();
    tenant
        .record_refused_gateway(&refusal(
            "GW-Y",
            RefusalReason::Inactive,
            t + TimeDelta::minutes(1),
            1,
            "10.0.0.2",
        ))
        .await
        .unwrap();
    tenant
        .record_refused_gateway(&refusal(
            "GW-X",
            RefusalReason::WrongToken,
            t + TimeDelta::minutes(2),
            2,
            "10.0.0.3",
        ))
        .await
        .unwrap();
    let x = RefusedGateway {
        first_seen: t,
        attempts: 3,
        ..refusal("GW-X", RefusalReason::WrongToken, t + TimeDelta::minutes(2), 0, "10.0.0.3")
    };
    let y = refusal("GW-Y", RefusalReason::Inactive, t + TimeDelta::minutes(1), 1, "10.0.0.2");
    assert_eq!(tenant.refused_gateways(10).await.unwrap(), vec![x.clone(), y]);
    assert_eq!(tenant.refused_gateways(1).await.unwrap(), vec![x]);

    // Refusals recorded at once from several places are all counted.
    let z = refusal("GW-Z", RefusalReason::WrongToken, t - TimeDelta::minutes(1), 1, "10.0.0.4");
    let results = join_all((0..8).map(|_| tenant.record_refused_gateway(&z))).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let refused = tenant.refused_gateways(10).await.unwrap();
    assert_eq!(refused.last().map(|r| (r.gateway.as_str(), r.attempts)), Some(("GW-Z", 8)));
}

async fn unclaimed_gateways_count_every_attempt_and_come_back_most_recent_first(f: &Fixture) {
    let t = at(2026, 6, 1, 12, 0, 0);
    f.store
        .record_unclaimed_gateway(&refusal("GW-X", RefusalReason::UnknownGateway, t, 1, "10.0.0.1"))
        .await
        .unwrap();
    f.store
        .record_unclaimed_gateway(&refusal(
            "GW-Y",
            RefusalReason::UnknownGateway,
            t + TimeDelta::minutes(1),
            1,
            "10.0.0.2",
        ))
        .await
        .unwrap();
    // An older report arriving late: counted, but the last-seen time stays the later one.
    f.store
        .record_unclaimed_gateway(&refusal(
            "GW-X",
            RefusalReason::UnknownGateway,
            t - TimeDelta::hours(1),
            4,
            "10.0.0.9",
        ))
        .await
        .unwrap();
    f.store
        .record_unclaimed_gateway(&refusal(
            "GW-X",
            RefusalReason::UnknownGateway,
            t + TimeDelta::minutes(2),
            1,
            "10.0.0.3",
        ))
        .await
        .unwrap();
    let x = RefusedGateway {
        first_seen: t,
        attempts: 6,
        ..refusal("GW-X", RefusalReason::UnknownGateway, t + TimeDelta::minutes(2), 0, "10.0.0.3")
    };
    let y = refusal("GW-Y", RefusalReason::UnknownGateway, t + TimeDelta::minutes(1), 1, "10.0.0.2");
    assert_eq!(f.store.unclaimed_gateways(10).await.unwrap(), vec![x.clone(), y]);
    assert_eq!(f.store.unclaimed_gateways(1).await.unwrap(), vec![x]);
    assert!(f.store.unclaimed_gateways(0).await.unwrap().is_empty());

    let acme = f.provider("acme").await;
    assert!(
        acme.refused_gateways(10).await.unwrap().is_empty(),
        "the shared port's refusals are no provider's"
    );
}

async fn thousands_of_made_up_ids_fill_at_most_the_refusal_slots(f: &Fixture) {
    let tenant = f.provider("acme").await;
    let t = Utc::now();
    let ids = 3 * RefusedGateway::SLOTS as usize;
    for chunk in (0..ids).collect::<Vec<_>>().chunks(64) {
        let refusals: Vec<RefusedGateway> = chunk
            .iter()
            .map(|&n| refusal(&format!("FAKE-{n}"), RefusalReason::UnknownGateway, t, 1, "10.9.9.9"))
            .collect();
        let written = join_all(refusals.iter().map(|r| tenant.record_refused_gateway(r))).await;
        assert!(written.iter().all(Result::is_ok), "{written:?}");
        let written = join_all(refusals.iter().map(|r| f.store.record_unclaimed_gateway(r))).await;
        assert!(written.iter().all(Result::is_ok), "{written:?}");
    }
    let latest =
        refusal("FAKE-LAST", RefusalReason::UnknownGateway, t + TimeDelta::minutes(1), 1, "10.9.9.9");
    tenant.record_refused_gateway(&latest).await.unwrap();
    f.store.record_unclaimed_gateway(&latest).await.unwrap();
    for (whose, kept) in [
        ("the provider's", tenant.refused_gateways(usize::MAX).await.unwrap()),
        ("the installation's", f.store.unclaimed_gateways(usize::MAX).await.unwrap()),
    ] {
        println!("{whose} refusals after {ids} made-up ids: {} rows", kept.len());
        assert!(kept.len() <= RefusedGateway::SLOTS as usize, "{whose}: {} rows", kept.len());
        assert!(kept.len() > RefusedGateway::SLOTS as usize / 2, "{whose}: the slots are used");
        assert_eq!(kept.first().map(|r| r.gateway.as_str()), Some("FAKE-LAST"), "{whose}: newest first");
        assert_eq!(tenant.refused_gateways(5).await.unwrap().len(), 5, "a page reads a bounded slice");
    }
}

async fn a_providers_handle_never_sees_another_providers_data(f: &Fixture) {
    let acme = f.provider_with_gateway("acme", "GW-A").await;
    let sunny = f.provider_with_gateway("sunny", "GW-S").await;
    let t = at(2026, 6, 1, 12, 0, 0);
    acme.upsert_customer(&customer("Acme's customer", &["a@example.com"], chrono_tz::UTC)).await.unwrap();
    let mut document = batch("GW-A", t, vec![full_reading("GW-A", "inv-1", t, 1.0)]);
    document.quarantined = vec![quarantined("GW-A", t, Some(1), "bad unit")];
    document.devices = vec![Device {
        gateway: gw("GW-A"),
        id: dev("inv-1"),
        kind: DeviceKind::Inverter,
        manufacturer: None,
        model: None,
        serial: None,
        last_seen: Some(t),
    }];
    acme.write_batch(document).await.unwrap();
    acme.record_refused_gateway(&refusal("GW-BAD", RefusalReason::WrongToken, t, 1, "10.0.0.1"))
        .await
        .unwrap();

    let day = at(2026, 6, 1, 0, 0, 0)..at(2026, 6, 2, 0, 0, 0);
    assert!(sunny.customers().await.unwrap().is_empty());
    assert_eq!(sunny.gateways().await.unwrap().iter().map(|g| g.id.as_str()).collect::<Vec<_>>(), ["GW-S"]);
    assert_eq!(sunny.gateway(&gw("GW-A")).await.unwrap(), None);
    assert!(sunny.readings(&gw("GW-A"), &dev("inv-1"), day.clone(), 100).await.unwrap().is_empty());
    assert!(sunny.devices(&gw("GW-A")).await.unwrap().is_empty());
    assert!(sunny.quarantined(day.clone(), 100).await.unwrap().is_empty());
    assert!(sunny.refused_gateways(100).await.unwrap().is_empty());

    // Even a write naming acme's gateway lands in sunny's own namespace, and acme's stays as it was.
    sunny.write_batch(batch("GW-A", t, vec![power_reading("GW-A", "inv-1", t, 999.0)])).await.unwrap();
    assert_eq!(
        acme.readings(&gw("GW-A"), &dev("inv-1"), day.clone(), 100).await.unwrap(),
        vec![full_reading("GW-A", "inv-1", t, 1.0)]
    );
    assert_eq!(
        sunny.readings(&gw("GW-A"), &dev("inv-1"), day, 100).await.unwrap(),
        vec![power_reading("GW-A", "inv-1", t, 999.0)]
    );
    assert_eq!(acme.customers().await.unwrap().len(), 1);
    assert_eq!(acme.gateways().await.unwrap().iter().map(|g| g.id.as_str()).collect::<Vec<_>>(), ["GW-A"]);
    assert_eq!(acme.gateway(&gw("GW-A")).await.unwrap().unwrap().last_seen, Some(t));
}

async fn reopening_the_store_keeps_providers_and_their_data(f: &Fixture) {
    let tenant = f.provider_with_gateway("acme", "GW-1").await;
    let anna = customer("Anna", &["anna@example.com"], chrono_tz::UTC);
    tenant.upsert_customer(&anna).await.unwrap();
    let reading = full_reading("GW-1", "inv-1", at(2026, 6, 1, 12, 0, 0), 1.0);
    tenant.write_batch(batch("GW-1", at(2026, 6, 1, 12, 0, 0), vec![reading.clone()])).await.unwrap();

    let reopened = open(&f.settings).await;
    let slug = f.slug("acme");
    assert_eq!(
        reopened.providers().await.unwrap().iter().map(|p| p.slug.clone()).collect::<Vec<_>>(),
        vec![slug.clone()]
    );
    let again = reopened.tenant(&slug).await.unwrap();
    assert_eq!(again.customers().await.unwrap(), vec![anna]);
    assert_eq!(all_readings(again.as_ref(), "GW-1", "inv-1").await, vec![reading]);
    assert_eq!(reopened.locate_gateway(&gw("GW-1")).await.unwrap(), Some(slug));
}

// ---------------------------------------------------------------------------------------------
// What only Cassandra has: keyspaces, table options, partitions and recorded schema versions,
// read straight from the node.

mod cassandra_layout {
    use scylla::client::session::Session;
    use scylla::client::session_builder::SessionBuilder;

    use super::*;

    async fn raw_session() -> Session {
        SessionBuilder::new().known_node(cassandra_node()).build().await.unwrap()
    }

    async fn ttl(session: &Session, keyspace: &str, table: &str) -> i32 {
        let (ttl,): (i32,) = session
            .query_unpaged(
                "SELECT default_time_to_live FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?",
                (keyspace, table),
            )
            .await
            .unwrap()
            .into_rows_result()
            .unwrap()
            .single_row()
            .unwrap();
        ttl
    }

    async fn replication_class(session: &Session, keyspace: &str) -> String {
        let (replication,): (std::collections::HashMap<String, String>,) = session
            .query_unpaged(
                "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?",
                (keyspace,),
            )
            .await
            .unwrap()
            .into_rows_result()
            .unwrap()
            .single_row()
            .unwrap();
        replication["class"].clone()
    }

    /// The schema versions recorded for `keyspace`, with when each was applied.
    async fn versions(session: &Session, registry: &str, keyspace: &str) -> Vec<(i32, DateTime<Utc>)> {
        session
            .query_unpaged(
                format!(
                    "SELECT version, applied_at FROM {registry}.schema_migrations WHERE keyspace_name = ?"
                ),
                (keyspace,),
            )
            .await
            .unwrap()
            .into_rows_result()
            .unwrap()
            .rows::<(i32, DateTime<Utc>)>()
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// Versions 1, 2, ... with none missing.
    fn assert_complete(versions: &[(i32, DateTime<Utc>)]) {
        let numbers: Vec<i32> = versions.iter().map(|(v, _)| *v).collect();
        let expected: Vec<i32> = (1..=i32::try_from(numbers.len()).unwrap()).collect();
        assert_eq!(numbers, expected);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_provider_keyspace_has_its_replication_retention_day_partitions_and_recorded_schema() {
        super::run(super::Backend::Cassandra, |f| Box::pin(layout(f))).await;
    }

    async fn layout(f: &Fixture) {
        let session = raw_session().await;
        let StoreSettings::Cassandra(settings) = &f.settings else { unreachable!("a Cassandra fixture") };
        let registry = settings.registry_keyspace.as_str();
        let mut provider = Provider::new(f.slug("acme"), "Acme");
        provider.retention_days = 30;
        f.store.create_provider(&provider).await.unwrap();
        let keyspace = KeyspaceName::of_provider(&provider.slug);
        let keyspace = keyspace.as_str();
        assert_eq!(
            replication_class(&session, keyspace).await,
            "org.apache.cassandra.locator.SimpleStrategy"
        );
        assert_eq!(ttl(&session, keyspace, "readings").await, 30 * 86_400);
        assert_eq!(ttl(&session, keyspace, "quarantine").await, 30 * 86_400);
        assert_eq!(ttl(&session, keyspace, "customers").await, 0, "only readings and quarantine expire");

        let tenant = f.store.tenant(&provider.slug).await.unwrap();
        tenant.create_gateway(&gateway_record("GW-1")).await.unwrap();
        let readings = vec![
            power_reading("GW-1", "inv-1", at(2026, 6, 1, 23, 59, 0), 1.0),
            power_reading("GW-1", "inv-1", at(2026, 6, 2, 0, 0, 0), 2.0),
        ];
        tenant.write_batch(batch("GW-1", at(2026, 6, 2, 0, 1, 0), readings)).await.unwrap();
        let mut partitions: Vec<(String, String, i32)> = session
            .query_unpaged(format!("SELECT DISTINCT gateway, device, day FROM {keyspace}.readings"), ())
            .await
            .unwrap()
            .into_rows_result()
            .unwrap()
            .rows()
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        partitions.sort();
        let expected = [
            ("GW-1".to_owned(), "inv-1".to_owned(), 20_605),
            ("GW-1".to_owned(), "inv-1".to_owned(), 20_606),
        ];
        assert_eq!(partitions, expected, "one partition per device and UTC day");

        // The test node's data centre is SimpleSnitch's `datacenter1`.
        provider.retention_days = 60;
        provider.replication = heliograph_shared::Replication::parse("datacenter1:1").unwrap();
        f.store.update_provider(&provider).await.unwrap();
        assert_eq!(
            replication_class(&session, keyspace).await,
            "org.apache.cassandra.locator.NetworkTopologyStrategy"
        );
        assert_eq!(ttl(&session, keyspace, "readings").await, 60 * 86_400);
        assert_eq!(ttl(&session, keyspace, "quarantine").await, 60 * 86_400);

        let registry_versions = versions(&session, registry, registry).await;
        let tenant_versions = versions(&session, registry, keyspace).await;
        assert_complete(&registry_versions);
        assert_complete(&tenant_versions);
        let reopened = open(&f.settings).await;
        reopened.tenant(&provider.slug).await.unwrap();
        assert_eq!(versions(&session, registry, registry).await, registry_versions, "none applied again");
        assert_eq!(versions(&session, registry, keyspace).await, tenant_versions, "none applied again");
    }
}

async fn operator_accounts_are_kept_in_the_registry_and_replaced_whole(f: &Fixture) {
    let name = heliograph_shared::Username::parse(&format!("op_{}", f.token)).unwrap();
    assert!(f.store.operator(&name).await.unwrap().is_none());
    let mut operator = heliograph_shared::User {
        username: name.clone(),
        display_name: "Olga Operator".into(),
        password: heliograph_shared::PasswordDigest::from_stored(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        ),
        active: true,
        session_generation: heliograph_shared::SessionGeneration::from_stored(-42),
    };
    f.store.upsert_operator(&operator).await.unwrap();
    let stored = f.store.operator(&name).await.unwrap().unwrap();
    assert_eq!(
        (
            stored.display_name.as_str(),
            stored.password.as_str(),
            stored.active,
            stored.session_generation.value()
        ),
        ("Olga Operator", operator.password.as_str(), true, -42)
    );
    operator.active = false;
    f.store.upsert_operator(&operator).await.unwrap();
    assert!(!f.store.operator(&name).await.unwrap().unwrap().active);
    // An operator is not a user of any provider.
    let tenant = f.provider("acme").await;
    assert!(tenant.user(&name).await.unwrap().is_none());
}

async fn rollups_follow_rewrites_and_corrections_across_a_month_boundary(f: &Fixture) {
    let tenant = f.provider_with_gateway("acme", "GW-1").await;
    // 23:00 on 31 May to 01:00 on 1 June: two months, two partitions on Cassandra.
    let start = at(2026, 5, 31, 23, 0, 0);
    let reading = |minute: i64, energy: f64| {
        let mut reading = power_reading("GW-1", "inv-1", start + TimeDelta::minutes(minute), 600.0);
        reading.metrics.set(Metric::Energy, energy).unwrap();
        reading
    };
    let readings: Vec<Reading> = (0..120).map(|m| reading(m, 10_000.0 + 10.0 * m as f64)).collect();
    tenant.write_batch(batch("GW-1", start, readings.clone())).await.unwrap();
    // Sent again (a gateway that missed the ack): nothing counts twice.
    tenant.write_batch(batch("GW-1", start, readings.clone())).await.unwrap();
    let range = start..start + TimeDelta::hours(2);
    let stored = tenant.hourly_rollups(&gw("GW-1"), &dev("inv-1"), range.clone()).await.unwrap();
    assert_eq!(stored, hourly_rollups(&readings));
    assert_eq!(stored.iter().map(|r| r.energy_gain).sum::<f64>(), 1_180.0);
    // A corrected reading replaces the old one, and the rollup follows it.
    let mut corrected = readings.clone();
    corrected[90] = reading(90, 10_000.0 + 10.0 * 90.0 + 5.0);
    tenant.write_batch(batch("GW-1", start, vec![corrected[90].clone()])).await.unwrap();
    let stored = tenant.hourly_rollups(&gw("GW-1"), &dev("inv-1"), range).await.unwrap();
    assert_eq!(stored, hourly_rollups(&corrected));
}

/// A site's commissioning, as the reports take it: the hour of its first rollup, whichever
/// document brought it, in whatever order, through a plain write or a connection's writer;
/// none before any reading, and a later document does not move it.
async fn the_first_rollup_hour_is_the_earliest_written_in_any_order_and_by_any_writer(f: &Fixture) {
    let tenant = f.provider_with_gateway("acme", "GW-1").await;
    assert_eq!(tenant.first_rollup_hour(&gw("GW-1")).await.unwrap(), None);
    let reading = |ts| power_reading("GW-1", "inv-1", ts, 500.0);
    let writer = Arc::clone(&tenant).writer();
    writer
        .write(batch("GW-1", at(2026, 6, 3, 10, 0, 0), vec![reading(at(2026, 6, 3, 10, 5, 0))]))
        .await
        .unwrap();
    assert_eq!(tenant.first_rollup_hour(&gw("GW-1")).await.unwrap(), Some(at(2026, 6, 3, 10, 0, 0)));
    // A later document on the same connection, then history from the week before.
    writer
        .write(batch("GW-1", at(2026, 6, 3, 11, 0, 0), vec![reading(at(2026, 6, 3, 11, 30, 0))]))
        .await
        .unwrap();
    assert_eq!(tenant.first_rollup_hour(&gw("GW-1")).await.unwrap(), Some(at(2026, 6, 3, 10, 0, 0)));
    let backfill = vec![reading(at(2026, 5, 27, 8, 59, 0)), reading(at(2026, 5, 27, 9, 1, 0))];
    tenant.write_batch(batch("GW-1", at(2026, 6, 3, 12, 0, 0), backfill)).await.unwrap();
    assert_eq!(tenant.first_rollup_hour(&gw("GW-1")).await.unwrap(), Some(at(2026, 5, 27, 8, 0, 0)));
    // Anything later, however it comes, leaves it where it is.
    tenant
        .write_batch(batch("GW-1", at(2026, 6, 4, 0, 0, 0), vec![reading(at(2026, 6, 1, 0, 0, 0))]))
        .await
        .unwrap();
    assert_eq!(tenant.first_rollup_hour(&gw("GW-1")).await.unwrap(), Some(at(2026, 5, 27, 8, 0, 0)));
    // Another device of the site, earlier still: the site's first hour is its.
    let meter = power_reading("GW-1", "meter-1", at(2026, 5, 20, 7, 30, 0), -200.0);
    tenant.write_batch(batch("GW-1", at(2026, 6, 4, 1, 0, 0), vec![meter])).await.unwrap();
    assert_eq!(tenant.first_rollup_hour(&gw("GW-1")).await.unwrap(), Some(at(2026, 5, 20, 7, 0, 0)));
    assert_eq!(tenant.first_rollup_hour(&gw("GW-2")).await.unwrap(), None);
}

async fn users_are_replaced_whole_listed_by_name_and_kept_per_provider(f: &Fixture) {
    use heliograph_shared::{PasswordDigest, SessionGeneration, User, Username};
    let acme = f.provider("acme").await;
    let other = f.provider("other").await;
    let user = |name: &str, active: bool| User {
        username: Username::parse(name).unwrap(),
        display_name: format!("{name} display"),
        password: PasswordDigest::from_stored(format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA${name}")),
        active,
        session_generation: SessionGeneration::from_stored(i64::from(active) + 7),
    };
    acme.upsert_user(&user("zoe", true)).await.unwrap();
    acme.upsert_user(&user("anna", true)).await.unwrap();
    acme.upsert_user(&user("anna", false)).await.unwrap();
    let anna = acme.user(&Username::parse("anna").unwrap()).await.unwrap().unwrap();
    assert_eq!(anna, user("anna", false));
    let names: Vec<String> =
        acme.users().await.unwrap().into_iter().map(|u| u.username.to_string()).collect();
    assert_eq!(names, ["anna", "zoe"]);
    assert!(other.user(&Username::parse("anna").unwrap()).await.unwrap().is_none());
    assert!(other.users().await.unwrap().is_empty());
}

async fn ending_a_users_sessions_changes_its_generation_alone_and_makes_no_user(f: &Fixture) {
    use heliograph_shared::{PasswordDigest, User, Username};
    let acme = f.provider("acme").await;
    let other = f.provider("other").await;
    let name = Username::parse("anna").unwrap();
    let mut anna = User::new(
        name.clone(),
        "Anna",
        PasswordDigest::from_stored("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
    );
    anna.active = false;
    acme.upsert_user(&anna).await.unwrap();
    other.upsert_user(&anna).await.unwrap();
    assert!(acme.end_sessions(&name).await.unwrap());
    let ended = acme.user(&name).await.unwrap().unwrap();
    assert_ne!(ended.session_generation, anna.session_generation);
    assert_eq!(
        User { session_generation: anna.session_generation, ..ended.clone() },
        anna,
        "nothing else changed"
    );
    assert!(acme.end_sessions(&name).await.unwrap());
    assert_ne!(
        acme.user(&name).await.unwrap().unwrap().session_generation,
        ended.session_generation,
        "again"
    );
    assert_eq!(other.user(&name).await.unwrap().unwrap(), anna, "the other provider's anna keeps hers");
    let nobody = Username::parse("nobody").unwrap();
    assert!(!acme.end_sessions(&nobody).await.unwrap());
    assert!(acme.user(&nobody).await.unwrap().is_none(), "no user is made by ending its sessions");
    assert_eq!(acme.users().await.unwrap().len(), 1);
}

async fn ending_an_operators_sessions_changes_its_generation_alone_and_makes_no_operator(f: &Fixture) {
    use heliograph_shared::{PasswordDigest, User, Username};
    let name = Username::parse(&format!("op_{}", f.token)).unwrap();
    let olga = User::new(
        name.clone(),
        "Olga",
        PasswordDigest::from_stored("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
    );
    f.store.upsert_operator(&olga).await.unwrap();
    assert!(f.store.end_operator_sessions(&name).await.unwrap());
    let ended = f.store.operator(&name).await.unwrap().unwrap();
    assert_ne!(ended.session_generation, olga.session_generation);
    assert_eq!(User { session_generation: olga.session_generation, ..ended }, olga, "nothing else changed");
    let nobody = Username::parse(&format!("nobody_{}", f.token)).unwrap();
    assert!(!f.store.end_operator_sessions(&nobody).await.unwrap());
    assert!(f.store.operator(&nobody).await.unwrap().is_none(), "no operator is made by ending its sessions");
}

async fn api_tokens_are_found_by_hash_listed_and_revoked_per_provider(f: &Fixture) {
    use heliograph_shared::{ApiToken, TokenHash};
    let acme = f.provider("acme").await;
    let other = f.provider("other").await;
    let token = |byte: u8, name: &str, minute: i64| ApiToken {
        hash: TokenHash::from_bytes(&[byte; 32]).unwrap(),
        name: name.into(),
        created_at: at(2026, 6, 1, 10, 0, 0) + TimeDelta::minutes(minute),
    };
    acme.add_api_token(&token(2, "ERP export", 5)).await.unwrap();
    acme.add_api_token(&token(1, "Grafana", 1)).await.unwrap();
    assert_eq!(acme.api_token(&token(2, "", 0).hash).await.unwrap(), Some(token(2, "ERP export", 5)));
    let listed: Vec<String> = acme.api_tokens().await.unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(listed, ["Grafana", "ERP export"], "oldest first");
    assert!(
        other.api_token(&token(2, "", 0).hash).await.unwrap().is_none(),
        "a token is its provider's only"
    );
    acme.revoke_api_token(&token(2, "", 0).hash).await.unwrap();
    assert!(acme.api_token(&token(2, "", 0).hash).await.unwrap().is_none());
    assert_eq!(acme.api_tokens().await.unwrap().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Day summaries and history marks.

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn summary(date: NaiveDate, production_wh: f64) -> DaySummary {
    DaySummary {
        date,
        production_wh,
        grid: Some((production_wh / 10.0, production_wh / 2.0)),
        peak: Some(reports::Peak { watts: production_wh / 5.0, at: at(2026, 1, 1, 12, 0, 0) }),
        daylight_hours: 14,
        covered_hours: 13.5,
        paired: Some(reports::performance::PairedHours {
            energy_wh: production_wh * 0.9,
            insolation_wh_m2: production_wh / 10.0,
        }),
    }
}

async fn day_summaries_are_kept_per_site_and_zone_and_replaced_whole(f: &Fixture) {
    let tenant = f.provider_with_gateway("acme", "GW-1").await;
    let berlin = chrono_tz::Europe::Berlin;
    // Across a new year: two partitions on Cassandra.
    let days: Vec<DaySummary> =
        (0..6).map(|i| summary(date(2025, 12, 29) + TimeDelta::days(i), 1000.0 * i as f64)).collect();
    tenant.put_day_summaries(&gw("GW-1"), berlin, 42, &days).await.unwrap();
    tenant.put_day_summaries(&gw("GW-1"), chrono_tz::UTC, 7, &days[..2]).await.unwrap();

    let read = tenant.day_summaries(&gw("GW-1"), berlin, date(2025, 12, 30)..date(2026, 1, 3)).await.unwrap();
    assert_eq!(read, days[1..5].iter().map(|d| (d.clone(), 42)).collect::<Vec<_>>());
    let utc =
        tenant.day_summaries(&gw("GW-1"), chrono_tz::UTC, date(2025, 1, 1)..date(2027, 1, 1)).await.unwrap();
    assert_eq!(
        utc,
        days[..2].iter().map(|d| (d.clone(), 7)).collect::<Vec<_>>(),
        "one zone's are not another's"
    );
    assert!(
        tenant
            .day_summaries(&gw("GW-2"), berlin, date(2025, 1, 1)..date(2027, 1, 1))
            .await
            .unwrap()
            .is_empty()
    );

    let again = summary(date(2025, 12, 31), 99.0);
    tenant.put_day_summaries(&gw("GW-1"), berlin, 43, std::slice::from_ref(&again)).await.unwrap();
    let read = tenant.day_summaries(&gw("GW-1"), berlin, date(2025, 12, 31)..date(2026, 1, 1)).await.unwrap();
    assert_eq!(read, vec![(again, 43)]);
}

async fn late_readings_change_the_history_mark_and_live_ones_do_not(f: &Fixture) {
    let tenant = f.provider_with_gateway("acme", "GW-1").await;
    let now = Utc::now();
    assert_eq!(tenant.history_mark(&gw("GW-1")).await.unwrap(), None);
    let live = power_reading("GW-1", "inv-1", now - TimeDelta::hours(2), 500.0);
    tenant.write_batch(batch("GW-1", now, vec![live])).await.unwrap();
    assert_eq!(tenant.history_mark(&gw("GW-1")).await.unwrap(), None, "readings of the last hours are live");

    let late = power_reading("GW-1", "inv-1", now - TimeDelta::days(2), 500.0);
    tenant.write_batch(batch("GW-1", now, vec![late.clone()])).await.unwrap();
    let first = tenant.history_mark(&gw("GW-1")).await.unwrap();
    assert!(first.is_some(), "a reading two days old changes the mark");
    tenant.write_batch(batch("GW-1", now, vec![late])).await.unwrap();
    let second = tenant.history_mark(&gw("GW-1")).await.unwrap();
    assert!(second.is_some() && second != first, "every late document changes it again");
}

async fn a_year_report_counts_late_readings_in_days_summarised_before(f: &Fixture) {
    let year = SummarisedYear::new(f).await;
    let late = year.afternoon(at(2025, 3, 20, 12, 0, 0));
    year.tenant.write_batch(batch("GW-1", Utc::now(), late)).await.unwrap();
    year.assert_counts(1800.0).await;
}

async fn a_connections_late_documents_count_in_year_reports_at_each_acknowledgement(f: &Fixture) {
    // A writer with a session may change the history mark once before a run of late documents
    // rather than after each (Cassandra does): every document must count all the same.
    // A plain late write in between (an HTTP upload) must not end what the session started.
    let year = SummarisedYear::new(f).await;
    let writer = (Arc::clone(&year.tenant) as Arc<dyn ReadingsLog>).writer();
    for (n, (day, plain)) in [(20, false), (22, true), (24, false), (26, false)].into_iter().enumerate() {
        let mark = year.tenant.history_mark(&gw("GW-1")).await.unwrap();
        let late = batch("GW-1", Utc::now(), year.afternoon(at(2025, 3, day, 12, 0, 0)));
        if plain {
            year.tenant.write_batch(late).await.unwrap();
        } else {
            writer.write(late).await.unwrap();
        }
        let after = year.tenant.history_mark(&gw("GW-1")).await.unwrap().unwrap();
        assert!(
            Some(after) != mark || after.settling(Utc::now()),
            "after late document {n}, summaries computed before it are not trusted: {mark:?} then {after:?}"
        );
        year.assert_counts(1800.0 * (n + 1) as f64).await;
    }
}

/// A site with ten days of March 2025 whose year report has been shown once, so that every
/// day of 2025 has a stored summary.
struct SummarisedYear {
    tenant: Arc<dyn TenantStore>,
    gateway: Gateway,
    devices: [Device; 1],
    before: SiteReport,
}

impl SummarisedYear {
    const ZONE: chrono_tz::Tz = chrono_tz::Europe::Berlin;
    const YEAR: Period = Period::Year { year: 2025 };

    async fn new(f: &Fixture) -> Self {
        let tenant = f.provider_with_gateway("acme", "GW-1").await;
        let gateway = tenant.gateway(&gw("GW-1")).await.unwrap().unwrap();
        let devices = [Device {
            gateway: gw("GW-1"),
            id: dev("inv-1"),
            kind: DeviceKind::Inverter,
            manufacturer: None,
            model: None,
            serial: None,
            last_seen: None,
        }];
        // A reading every ten minutes with a rising counter (600 Wh an hour).
        let start = at(2025, 3, 1, 0, 0, 0);
        let readings: Vec<Reading> = (0..10 * 144)
            .map(|i| counter_reading(start + TimeDelta::minutes(10 * i), 600.0 * i as f64 / 6.0))
            .collect();
        for chunk in readings.chunks(500) {
            tenant.write_batch(batch("GW-1", chunk[0].ts, chunk.to_vec())).await.unwrap();
        }
        let before =
            reports::site_report(tenant.as_ref(), &gateway, &devices, Self::ZONE, Self::YEAR, Utc::now())
                .await
                .unwrap();
        let stored =
            tenant.day_summaries(&gw("GW-1"), Self::ZONE, date(2025, 1, 1)..date(2026, 1, 1)).await.unwrap();
        assert_eq!(stored.len(), 365, "every day of a past year is summarised once shown");
        Self { tenant, gateway, devices, before }
    }

    /// A backfill of 1,800 Wh: three hours of readings from `start`, in a day summarised (as
    /// empty) by [`SummarisedYear::new`].
    fn afternoon(&self, start: DateTime<Utc>) -> Vec<Reading> {
        (0..19)
            .map(|i| counter_reading(start + TimeDelta::minutes(10 * i), 90_000.0 + 100.0 * i as f64))
            .collect()
    }

    /// The year report now holds `added` Wh more than before, as computed from the rollups.
    async fn assert_counts(&self, added: f64) {
        let (tenant, now) = (self.tenant.as_ref(), Utc::now());
        let after = reports::site_report(tenant, &self.gateway, &self.devices, Self::ZONE, Self::YEAR, now)
            .await
            .unwrap();
        assert!(
            (after.total.production_wh - self.before.total.production_wh - added).abs() < 1e-6,
            "the backfilled {added} Wh count: {} then {}",
            self.before.total.production_wh,
            after.total.production_wh
        );
        let rollups =
            reports::device_rollups(tenant, &gw("GW-1"), &self.devices, Self::YEAR.bounds(Self::ZONE))
                .await
                .unwrap();
        let site = SiteFacts {
            capacity_kwp: self.gateway.capacity_kwp,
            timezone: Self::ZONE,
            commissioned: None,
            daylight: DaylightRule::Clock,
        };
        let direct = SiteReport::compute(site, &rollups, Self::YEAR, now);
        assert!((after.total.production_wh - direct.total.production_wh).abs() < 1e-6);
        assert_eq!(after.buckets[2].flows.production_wh, direct.buckets[2].flows.production_wh);
        assert!(after.buckets[2].flows.production_wh > 0.0);
    }
}

/// A reading of 3.6 kW with the energy counter at `wh`.
fn counter_reading(ts: DateTime<Utc>, wh: f64) -> Reading {
    let mut reading = power_reading("GW-1", "inv-1", ts, 3600.0);
    reading.metrics.set(Metric::Energy, wh).unwrap();
    reading
}
