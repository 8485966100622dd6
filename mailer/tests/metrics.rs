//! The mailer's emails counter, scraped in Prometheus text: a send that fails while the SMTP
//! server is down counts as `retry`, the delivery once it is back as `sent`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use heliograph_shared::store::Store;
use heliograph_shared::store::embedded::EmbeddedStore;
use heliograph_shared::{DeviceKind, ReportSchedule};
use heliograph_testkit::wait_until_async;
use metrics_exporter_prometheus::PrometheusBuilder;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emails_are_counted_by_provider_kind_and_outcome() {
    let recorder = PrometheusBuilder::new().install_recorder().expect("the only recorder of this binary");
    let dir = tempfile::tempdir().expect("temporary directory");
    let store: Arc<dyn Store> =
        Arc::new(EmbeddedStore::open(&dir.path().join("data")).await.expect("store opens"));
    let tenant = provider(&store, "sunny", ReportSchedule::Daily).await;
    let customer = customer(&tenant, "Huber family", "huber@example.com", chrono_tz::Europe::Berlin).await;
    let site = site(&tenant, "GW-H1", "Huber residence", customer.id, 9.8).await;
    let clock = BerlinDayClock::start();
    let from = clock.yesterday().bounds(chrono_tz::Europe::Berlin).start + TimeDelta::hours(9);
    let readings = inverter_readings(
        &site.id,
        "inv-1",
        from,
        from + TimeDelta::hours(4),
        TimeDelta::minutes(15),
        |t| 5_000.0 + (t - from).num_minutes() as f64 * 15.0,
        |_| 900.0,
    );
    write(&tenant, readings, DeviceKind::Inverter).await;

    let port = free_port();
    let mailer = mailer(Arc::clone(&store), settings(port));
    mailer.round(clock.now()).await.expect("a round runs while the mail server is down");
    let scraped = recorder.render();
    let retry = r#"heliograph_mailer_emails_total{provider="sunny",kind="summary",outcome="retry"} 1"#;
    assert!(scraped.contains(retry), "missing {retry:?} in\n{scraped}");

    let smtp = SmtpServer::start_on(port, &dir.path().join("received"));
    let (mailer_ref, smtp_ref, clock_ref) = (&mailer, &smtp, &clock);
    wait_until_async(
        Duration::from_secs(30),
        "the summary to arrive once the server was back",
        || async move {
            mailer_ref.round(clock_ref.now()).await.expect("a round");
            (!smtp_ref.messages().is_empty()).then_some(())
        },
    )
    .await;
    let scraped = recorder.render();
    let sent = r#"heliograph_mailer_emails_total{provider="sunny",kind="summary",outcome="sent"} 1"#;
    assert!(scraped.contains(sent), "missing {sent:?} in\n{scraped}");
    assert!(!scraped.contains("huber@example.com"), "no addresses in metrics");
}
