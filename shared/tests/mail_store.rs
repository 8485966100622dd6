//! The mailer's storage on both backends: delivery claims (first claim wins, leases, retries,
//! forced resends), alerts (one open per condition, notices taken once) and mail preferences.
//! The Cassandra tests use the node named by `HELIOGRAPH_CASSANDRA` and fail, not skip, without.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use heliograph_shared::store::cassandra::KeyspaceName;
use heliograph_shared::store::{self, CassandraSettings, ConsistencySetting, StoreSettings, TenantStore};
use heliograph_shared::{
    Acknowledgement, Alert, AlertBasis, AlertKind, Claim, ClaimOwner, ClaimRequest, CustomerId, DeliveryKey,
    DeliveryOutcome, DeliveryState, DeviceId, GatewayId, MailPreferences, Provider, ProviderSlug,
    ReportSchedule,
};

#[derive(Clone, Copy)]
enum Backend {
    Embedded,
    Cassandra,
}

/// A fresh provider on `backend` (its own registry keyspace on Cassandra), and the directory
/// the embedded store lives in.
async fn tenant(backend: Backend) -> (Arc<dyn TenantStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let token = format!("{:08x}", rand::random::<u32>());
    let settings = match backend {
        Backend::Embedded => StoreSettings::Embedded { data_dir: dir.path().join("data") },
        Backend::Cassandra => StoreSettings::Cassandra(CassandraSettings {
            nodes: vec![std::env::var("HELIOGRAPH_CASSANDRA").expect(
                "HELIOGRAPH_CASSANDRA is not set: run scripts/test.sh (it starts a node) or set it to a node \
                 such as 127.0.0.1:9042",
            )],
            registry_keyspace: KeyspaceName::parse(&format!("mail_{token}")).expect("valid keyspace"),
            consistency: ConsistencySetting::One,
            request_timeout_ms: 20_000,
            ..CassandraSettings::default()
        }),
    };
    let store = store::open(&settings).await.expect("store opens");
    let slug = ProviderSlug::parse(&format!("acme_{token}")).expect("valid slug");
    store.create_provider(&Provider::new(slug.clone(), "ACME")).await.expect("provider created");
    (store.tenant(&slug).await.expect("tenant handle"), dir)
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("valid timestamp").with_timezone(&Utc)
}

fn request(key: &DeliveryKey, owner: &str, now: DateTime<Utc>, force: bool) -> ClaimRequest {
    ClaimRequest {
        key: key.clone(),
        owner: ClaimOwner::parse(owner).expect("valid owner"),
        now,
        lease: TimeDelta::minutes(10),
        force,
    }
}

async fn the_first_claim_wins_and_others_stay_away_until_its_lease_runs_out(backend: Backend) {
    let (tenant, _dir) = tenant(backend).await;
    let key = DeliveryKey::new(CustomerId::new_random(), "summary:2026-03").expect("valid key");
    let t0 = at("2026-04-01T01:00:00Z");
    assert_eq!(
        tenant.claim_delivery(&request(&key, "a", t0, false)).await.expect("claim"),
        Claim::Granted { attempt: 1 }
    );
    let other =
        tenant.claim_delivery(&request(&key, "b", t0 + TimeDelta::minutes(1), false)).await.expect("claim");
    assert!(matches!(other, Claim::HeldByOther { ref owner, .. } if owner.as_str() == "a"), "{other:?}");
    // Even forced, a live claim of another owner is respected.
    let forced =
        tenant.claim_delivery(&request(&key, "b", t0 + TimeDelta::minutes(1), true)).await.expect("claim");
    assert!(matches!(forced, Claim::HeldByOther { .. }), "{forced:?}");
    // "a" crashed; after its lease "b" takes over, and "a" can no longer record an outcome.
    let later = t0 + TimeDelta::minutes(11);
    assert_eq!(
        tenant.claim_delivery(&request(&key, "b", later, false)).await.expect("claim"),
        Claim::Granted { attempt: 2 }
    );
    let a = ClaimOwner::parse("a").expect("valid owner");
    let b = ClaimOwner::parse("b").expect("valid owner");
    assert!(!tenant.finish_delivery(&key, &a, &DeliveryOutcome::Sent, later).await.expect("finish"));
    assert!(tenant.finish_delivery(&key, &b, &DeliveryOutcome::Sent, later).await.expect("finish"));
    assert_eq!(
        tenant.claim_delivery(&request(&key, "c", later, false)).await.expect("claim"),
        Claim::AlreadySent
    );
    // A resend on demand reclaims even a sent delivery.
    assert_eq!(
        tenant.claim_delivery(&request(&key, "c", later, true)).await.expect("claim"),
        Claim::Granted { attempt: 3 }
    );
}

async fn a_failed_delivery_is_due_again_only_at_its_retry_time(backend: Backend) {
    let (tenant, _dir) = tenant(backend).await;
    let key = DeliveryKey::new(CustomerId::new_random(), "summary:2026-03-29").expect("valid key");
    let t0 = at("2026-03-30T01:00:00Z");
    tenant.claim_delivery(&request(&key, "a", t0, false)).await.expect("claim");
    let retry_at = t0 + TimeDelta::minutes(2);
    let failed = DeliveryOutcome::Failed { error: "connection refused".into(), retry_at };
    let a = ClaimOwner::parse("a").expect("valid owner");
    assert!(tenant.finish_delivery(&key, &a, &failed, t0).await.expect("finish"));
    assert_eq!(
        tenant.claim_delivery(&request(&key, "b", t0 + TimeDelta::minutes(1), false)).await.expect("claim"),
        Claim::NotDue { at: retry_at }
    );
    assert!(tenant.deliveries_due(t0 + TimeDelta::minutes(1), 10).await.expect("due").is_empty());
    let due = tenant.deliveries_due(retry_at, 10).await.expect("due");
    assert_eq!(due.len(), 1);
    assert_eq!(
        (due[0].state, due[0].last_error.as_deref()),
        (DeliveryState::Failed, Some("connection refused"))
    );
    assert_eq!(
        tenant.claim_delivery(&request(&key, "b", retry_at, false)).await.expect("claim"),
        Claim::Granted { attempt: 2 }
    );
}

async fn one_alert_is_open_per_condition_and_its_notices_are_taken_once(backend: Backend) {
    let (tenant, _dir) = tenant(backend).await;
    let customer = CustomerId::new_random();
    let gateway = GatewayId::parse("GW-1").expect("valid id");
    let t0 = at("2026-06-10T10:00:00Z");
    let offline =
        || Alert::open(AlertKind::SiteOffline, gateway.clone(), None, Some(customer), t0, "silent".into());
    let first = offline();
    assert!(tenant.open_alert(&first).await.expect("opened"));
    assert!(!tenant.open_alert(&offline()).await.expect("not twice"));
    let fault = Alert::open(
        AlertKind::DeviceFault,
        gateway.clone(),
        Some(DeviceId::parse("inv").expect("valid")),
        Some(customer),
        t0,
        "fault".into(),
    );
    assert!(tenant.open_alert(&fault).await.expect("another condition"));
    assert_eq!(tenant.customers_with_pending_notices().await.expect("pending"), vec![customer]);
    assert_eq!(tenant.take_alert_notices(customer, "alerts:1").await.expect("taken").len(), 2);
    assert!(tenant.customers_with_pending_notices().await.expect("pending").is_empty());
    assert!(tenant.take_alert_notices(customer, "alerts:2").await.expect("nothing new").is_empty());
    // A retry of the first notice sees the same alerts.
    assert_eq!(tenant.take_alert_notices(customer, "alerts:1").await.expect("again").len(), 2);

    assert!(tenant.clear_alert(&first, t0 + TimeDelta::hours(1)).await.expect("cleared"));
    assert!(!tenant.clear_alert(&first, t0 + TimeDelta::hours(2)).await.expect("cleared once"));
    assert_eq!(tenant.open_alerts().await.expect("open").len(), 1);
    let notice = tenant.take_alert_notices(customer, "alerts:3").await.expect("the clearing");
    assert_eq!(notice.len(), 1);
    assert_eq!(notice[0].clear_notice.as_deref(), Some("alerts:3"));
    // The condition can open again once cleared.
    assert!(tenant.open_alert(&offline()).await.expect("reopened"));
    let history = tenant.customer_alerts(customer, t0..t0 + TimeDelta::hours(3)).await.expect("history");
    assert_eq!(history.len(), 3);
}

async fn an_underperformance_keeps_what_it_was_measured_against(backend: Backend) {
    let (tenant, _dir) = tenant(backend).await;
    let customer = CustomerId::new_random();
    let t0 = at("2026-06-10T10:00:00Z");
    let low = |gateway: &str, basis| {
        let gateway = GatewayId::parse(gateway).expect("valid id");
        Alert::open(AlertKind::Underperformance, gateway, None, Some(customer), t0, "low".into())
            .with_basis(basis)
    };
    let sensed = low("GW-1", Some(AlertBasis::Irradiance));
    let compared = low("GW-2", Some(AlertBasis::Peers));
    let offline = Alert::open(
        AlertKind::SiteOffline,
        GatewayId::parse("GW-3").expect("valid id"),
        None,
        Some(customer),
        t0,
        "silent".into(),
    );
    for alert in [&sensed, &compared, &offline] {
        assert!(tenant.open_alert(alert).await.expect("opened"));
    }
    let mut stored = tenant.open_alerts().await.expect("open");
    stored.sort_by(|a, b| a.gateway.as_str().cmp(b.gateway.as_str()));
    let bases: Vec<Option<AlertBasis>> = stored.iter().map(|a| a.basis).collect();
    assert_eq!(bases, [Some(AlertBasis::Irradiance), Some(AlertBasis::Peers), None]);
    let history = tenant.customer_alerts(customer, t0..t0 + TimeDelta::hours(1)).await.expect("history");
    assert!(history.iter().any(|a| a.basis == Some(AlertBasis::Irradiance)));
}

async fn an_open_alert_is_acknowledged_by_whom_when_and_with_a_note(backend: Backend) {
    let (tenant, _dir) = tenant(backend).await;
    let t0 = at("2026-06-10T10:00:00Z");
    let gateway = GatewayId::parse("GW-1").expect("valid id");
    // A site without a customer: its alert is kept all the same.
    let alert = Alert::open(AlertKind::SiteOffline, gateway, None, None, t0, "silent".into());
    assert!(tenant.open_alert(&alert).await.expect("opened"));
    let taken = Acknowledgement {
        by: "anna".into(),
        at: t0 + TimeDelta::minutes(5),
        note: "technician booked".into(),
    };
    assert!(tenant.acknowledge_alert(&alert, &taken).await.expect("acknowledged"));
    let open = tenant.open_alerts().await.expect("open");
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].acknowledged.as_ref(), Some(&taken));
    // Taken on again by someone else: the later one stands.
    let again = Acknowledgement { by: "ben".into(), at: t0 + TimeDelta::minutes(9), note: String::new() };
    assert!(tenant.acknowledge_alert(&alert, &again).await.expect("acknowledged"));
    assert_eq!(tenant.open_alerts().await.expect("open")[0].acknowledged.as_ref(), Some(&again));
    // A cleared alert is not acknowledged, and an alert that was never opened makes no row.
    assert!(tenant.clear_alert(&alert, t0 + TimeDelta::hours(1)).await.expect("cleared"));
    assert!(!tenant.acknowledge_alert(&alert, &taken).await.expect("refused"));
    let ghost = Alert::open(
        AlertKind::SiteOffline,
        GatewayId::parse("GW-9").expect("valid"),
        None,
        None,
        t0,
        "x".into(),
    );
    assert!(!tenant.acknowledge_alert(&ghost, &taken).await.expect("refused"));
    assert!(tenant.open_alerts().await.expect("open").is_empty());
}

async fn mail_preferences_default_until_set(backend: Backend) {
    let (tenant, _dir) = tenant(backend).await;
    let customer = CustomerId::new_random();
    assert_eq!(tenant.mail_preferences(customer).await.expect("read"), MailPreferences::default());
    let chosen = MailPreferences {
        schedule: Some(ReportSchedule::Weekly),
        unsubscribed_summaries: true,
        unsubscribed_alerts: false,
    };
    tenant.set_mail_preferences(customer, &chosen).await.expect("stored");
    assert_eq!(tenant.mail_preferences(customer).await.expect("read"), chosen);
}

#[tokio::test]
async fn the_first_claim_wins_and_others_stay_away_until_its_lease_runs_out_on_embedded() {
    the_first_claim_wins_and_others_stay_away_until_its_lease_runs_out(Backend::Embedded).await;
}

#[tokio::test]
async fn the_first_claim_wins_and_others_stay_away_until_its_lease_runs_out_on_cassandra() {
    the_first_claim_wins_and_others_stay_away_until_its_lease_runs_out(Backend::Cassandra).await;
}

#[tokio::test]
async fn a_failed_delivery_is_due_again_only_at_its_retry_time_on_embedded() {
    a_failed_delivery_is_due_again_only_at_its_retry_time(Backend::Embedded).await;
}

#[tokio::test]
async fn a_failed_delivery_is_due_again_only_at_its_retry_time_on_cassandra() {
    a_failed_delivery_is_due_again_only_at_its_retry_time(Backend::Cassandra).await;
}

#[tokio::test]
async fn one_alert_is_open_per_condition_and_its_notices_are_taken_once_on_embedded() {
    one_alert_is_open_per_condition_and_its_notices_are_taken_once(Backend::Embedded).await;
}

#[tokio::test]
async fn one_alert_is_open_per_condition_and_its_notices_are_taken_once_on_cassandra() {
    one_alert_is_open_per_condition_and_its_notices_are_taken_once(Backend::Cassandra).await;
}

#[tokio::test]
async fn mail_preferences_default_until_set_on_embedded() {
    mail_preferences_default_until_set(Backend::Embedded).await;
}

#[tokio::test]
async fn mail_preferences_default_until_set_on_cassandra() {
    mail_preferences_default_until_set(Backend::Cassandra).await;
}

#[tokio::test]
async fn an_open_alert_is_acknowledged_by_whom_when_and_with_a_note_on_embedded() {
    an_open_alert_is_acknowledged_by_whom_when_and_with_a_note(Backend::Embedded).await;
}

#[tokio::test]
async fn an_open_alert_is_acknowledged_by_whom_when_and_with_a_note_on_cassandra() {
    an_open_alert_is_acknowledged_by_whom_when_and_with_a_note(Backend::Cassandra).await;
}

#[tokio::test]
async fn an_underperformance_keeps_what_it_was_measured_against_on_embedded() {
    an_underperformance_keeps_what_it_was_measured_against(Backend::Embedded).await;
}

#[tokio::test]
async fn an_underperformance_keeps_what_it_was_measured_against_on_cassandra() {
    an_underperformance_keeps_what_it_was_measured_against(Backend::Cassandra).await;
}
