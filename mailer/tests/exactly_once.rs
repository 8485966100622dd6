//! Delivery that neither loses nor duplicates, against a real SMTP server process: a server that
//! is down delays mail until it is back; two mailers on one store (embedded, and Cassandra at
//! `HELIOGRAPH_CASSANDRA`, failing without it) send each summary once; a claim left by a
//! crashed mailer is taken over when its lease runs out.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use heliograph_mailer::MailerSettings;
use heliograph_mailer::summary::email as summary_email;
use heliograph_shared::store::cassandra::KeyspaceName;
use heliograph_shared::store::embedded::EmbeddedStore;
use heliograph_shared::store::{
    self, CassandraSettings, ConsistencySetting, Store, StoreSettings, TenantStore,
};
use heliograph_shared::{Claim, ClaimOwner, ClaimRequest, DeliveryState, DeviceKind, ReportSchedule};
use heliograph_testkit::wait_until_async;

use common::*;

async fn embedded(dir: &std::path::Path) -> Arc<dyn Store> {
    Arc::new(EmbeddedStore::open(&dir.join("data")).await.expect("store opens"))
}

/// Readings of the clock's yesterday for one site, so the summaries have something to say.
async fn some_production(
    tenant: &Arc<dyn TenantStore>,
    site: &heliograph_shared::Gateway,
    clock: &BerlinDayClock,
) {
    let bounds = clock.yesterday().bounds(chrono_tz::Europe::Berlin);
    let from = bounds.start + TimeDelta::hours(8);
    let readings = inverter_readings(
        &site.id,
        "inv-1",
        from,
        from + TimeDelta::hours(6),
        TimeDelta::minutes(15),
        |t| 10_000.0 + (t - from).num_minutes() as f64 * 20.0,
        |_| 1200.0,
    );
    write(tenant, readings, DeviceKind::Inverter).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_waits_while_the_smtp_server_is_down_and_arrives_once_it_is_back() {
    let clock = BerlinDayClock::start();
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = embedded(dir.path()).await;
    let tenant = provider(&store, "sunny", ReportSchedule::Daily).await;
    let customer = customer(&tenant, "Huber family", "huber@example.com", chrono_tz::Europe::Berlin).await;
    let site = site(&tenant, "GW-H1", "Huber residence", customer.id, 9.8).await;
    some_production(&tenant, &site, &clock).await;

    // Nothing listens on the port yet.
    let port = free_port();
    let mailer = mailer(Arc::clone(&store), settings(port));
    let first = mailer.round(clock.now()).await.expect("a round runs while the mail server is down");
    assert_eq!((first.sent, first.failed), (0, 1), "{first:?}");
    let key = summary_email::key(customer.id, clock.yesterday()).expect("a key");
    let delivery = tenant.delivery(&key).await.expect("readable").expect("claimed and recorded");
    assert_eq!(delivery.state, DeliveryState::Failed);
    assert!(delivery.next_attempt_at.is_some() && delivery.last_error.is_some(), "{delivery:?}");

    // The server comes up; the retry (backoff 1 s in these settings) delivers the summary.
    let smtp = SmtpServer::start_on(port, &dir.path().join("received"));
    let (mailer_ref, smtp_ref, clock_ref) = (&mailer, &smtp, &clock);
    let what = "the summary to arrive within 30 s of the server coming back";
    wait_until_async(Duration::from_secs(30), what, || async move {
        mailer_ref.round(clock_ref.now()).await.expect("a round");
        (!smtp_ref.messages().is_empty()).then_some(())
    })
    .await;
    // Later rounds send nothing more.
    for _ in 0..3 {
        mailer.round(clock.now()).await.expect("a round");
    }
    let messages = smtp.wait_for(2, Duration::from_millis(500));
    assert_eq!(messages.len(), 1, "the summary arrives exactly once");
    let mail = parse(&messages[0]);
    assert!(header(&mail, "Subject").is_some_and(|s| s.contains(&clock.yesterday().label())));
    let delivery = tenant.delivery(&key).await.expect("readable").expect("recorded");
    assert_eq!(delivery.state, DeliveryState::Sent);
    assert!(delivery.attempts >= 2, "{delivery:?}");
}

/// Two mailers, each with its own handle on one store (as two processes would have), send each
/// of twelve customers' summaries once; a third customer's summary, claimed by a mailer that
/// then crashed, is sent once its lease runs out.
async fn two_mailers_send_each_summary_exactly_once(
    first_store: Arc<dyn Store>,
    second_store: Arc<dyn Store>,
    slug: &str,
    dir: &std::path::Path,
) {
    let clock = &BerlinDayClock::start();
    let tenant = provider(&first_store, slug, ReportSchedule::Daily).await;
    let mut customers = Vec::new();
    for i in 0..12 {
        let c = customer(
            &tenant,
            &format!("Customer {i}"),
            &format!("c{i}@example.com"),
            chrono_tz::Europe::Berlin,
        )
        .await;
        let s = site(&tenant, &format!("GW-{i:02}"), &format!("Site {i}"), c.id, 5.0 + f64::from(i)).await;
        if i % 3 == 0 {
            some_production(&tenant, &s, clock).await;
        }
        customers.push(c);
    }
    // A mailer that claimed customer 0's summary and crashed: its lease runs 3 more seconds.
    // The first rounds run at the instant of that claim, so that however slowly this machine
    // gets through them, the lease cannot have run out during them.
    let claimed_at = clock.now();
    let crashed = ClaimRequest {
        key: summary_email::key(customers[0].id, clock.yesterday()).expect("a key"),
        owner: ClaimOwner::parse("crashed-mailer").expect("valid owner"),
        now: claimed_at,
        lease: TimeDelta::seconds(3),
        force: false,
    };
    assert_eq!(tenant.claim_delivery(&crashed).await.expect("claimed"), Claim::Granted { attempt: 1 });

    let smtp = SmtpServer::start(&dir.join("received"));
    let one = mailer(Arc::clone(&first_store), settings(smtp.port));
    let two = mailer(Arc::clone(&second_store), settings(smtp.port));
    for _ in 0..3 {
        let (a, b) = tokio::join!(one.round(claimed_at), two.round(claimed_at));
        let (a, b) = (a.expect("round"), b.expect("round"));
        assert_eq!(a.failed + b.failed, 0, "{a:?} {b:?}");
    }
    let received = smtp.wait_for(11, Duration::from_secs(20));
    assert_eq!(received.len(), 11, "everyone but the crashed claim's customer, once each");

    // Once the lease has run out, one of the two takes the claim over and sends it.
    let (one_ref, two_ref, smtp_ref, clock_ref) = (&one, &two, &smtp, &clock);
    let what = "the crashed mailer's claim to be taken over";
    wait_until_async(Duration::from_secs(30), what, || async move {
        let (a, b) = tokio::join!(one_ref.round(clock_ref.now()), two_ref.round(clock_ref.now()));
        a.expect("round");
        b.expect("round");
        (smtp_ref.messages().len() >= 12).then_some(())
    })
    .await;
    for _ in 0..2 {
        let (a, b) = tokio::join!(one.round(clock.now()), two.round(clock.now()));
        a.expect("round");
        b.expect("round");
    }
    let received = smtp.wait_for(13, Duration::from_millis(500));
    let mut per_recipient: HashMap<String, usize> = HashMap::new();
    for raw in &received {
        let to = header(&parse(raw), "To").expect("a recipient");
        *per_recipient.entry(to).or_default() += 1;
    }
    for c in &customers {
        let address = c.emails[0].as_str();
        assert_eq!(
            per_recipient.get(address),
            Some(&1),
            "{address} got {:?} summaries",
            per_recipient.get(address)
        );
    }
    assert_eq!(received.len(), 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_made_late_in_a_long_round_holds_for_a_lease_from_when_it_is_made() {
    let clock = &BerlinDayClock::start();
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = embedded(dir.path()).await;
    let tenant = provider(&store, "sunny", ReportSchedule::Daily).await;
    let mut keys = Vec::new();
    for i in 0..8 {
        let c = customer(
            &tenant,
            &format!("Customer {i}"),
            &format!("c{i}@example.com"),
            chrono_tz::Europe::Berlin,
        )
        .await;
        site(&tenant, &format!("GW-{i:02}"), &format!("Site {i}"), c.id, 5.0).await;
        keys.push(summary_email::key(c.id, clock.yesterday()).expect("a key"));
    }
    // A slow mail server and one summary at a time: the round lasts about four seconds, longer
    // than the three-second lease. A claim whose lease ran from the round's start would already
    // have run out when its message was sent, and another mailer could send it as well.
    let smtp = SmtpServer::start_slow(&dir.path().join("received"), Duration::from_millis(500));
    let one =
        mailer(Arc::clone(&store), MailerSettings { lease_secs: 3, concurrency: 1, ..settings(smtp.port) });
    one.round(clock.now()).await.expect("round");
    assert_eq!(smtp.wait_for(8, Duration::from_secs(20)).len(), 8);
    let mut leases = Vec::new();
    for key in &keys {
        leases.push(tenant.delivery(key).await.expect("reads").expect("a delivery").lease_until);
    }
    let (first, last) = (leases.iter().min().expect("eight"), leases.iter().max().expect("eight"));
    println!(
        "claims of one round of 8 summaries at 0.5 s each: leases end {} ms apart",
        (*last - *first).num_milliseconds()
    );
    assert!(*last - *first >= TimeDelta::seconds(2), "the last claim's lease runs from when it was made");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_mailers_on_one_embedded_store_send_each_summary_exactly_once() {
    let dir = tempfile::tempdir().expect("temporary directory");
    // Two store handles on the same files.
    let first = embedded(dir.path()).await;
    let second = embedded(dir.path()).await;
    two_mailers_send_each_summary_exactly_once(first, second, "sunny", dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_mailers_on_one_cassandra_keyspace_send_each_summary_exactly_once() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let token = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let settings = StoreSettings::Cassandra(CassandraSettings {
        nodes: vec![std::env::var("HELIOGRAPH_CASSANDRA").expect(
            "HELIOGRAPH_CASSANDRA is not set: run scripts/test.sh (it starts a node) or set it to a node such as \
             127.0.0.1:9042",
        )],
        registry_keyspace: KeyspaceName::parse(&format!("mailer_{token}")).expect("valid keyspace"),
        consistency: ConsistencySetting::One,
        request_timeout_ms: 20_000,
        ..CassandraSettings::default()
    });
    // Two sessions, as two mailer processes would have.
    let first = store::open(&settings).await.expect("Cassandra store opens");
    let second = store::open(&settings).await.expect("Cassandra store opens");
    two_mailers_send_each_summary_exactly_once(first, second, &format!("sunny_{token}"), dir.path()).await;
}
