//! `/metrics` on a real `heliograph ingest` process: the counters an operator alerts on move
//! when documents are accepted, quarantined and refused. Metrics are served on each process's
//! internal listener (`[ops]`), never on the ports gateways and browsers reach.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod common;

use std::time::Duration;

use common::process::{EmbeddedAcme, free_port, heliograph, start_role};
use common::{GatewayConn, minutes_ago, reading};
use heliograph_testkit::{try_wait_until_async, wait_until_async};

async fn scrape(port: u16) -> String {
    let (status, body) =
        common::http_get(std::net::SocketAddr::from(([127, 0, 0, 1], port)), "/metrics").await;
    assert_eq!(status, 200);
    body
}

#[tokio::test]
async fn ingest_metrics_count_accepted_quarantined_and_refused_documents() {
    let dir = tempfile::tempdir().unwrap();
    let acme = EmbeddedAcme::new(dir.path(), "[log]\nfilter = \"warn\"\n");
    let (token, ops) = (acme.token.clone(), acme.ops);
    let mut server = start_role(&acme.config, "ingest", acme.ingest);
    let addr = acme.ingest_addr();
    let mut conn = GatewayConn::hello(addr, "GW-1", &token).await;
    let ts = minutes_ago(1);
    conn.send(format!(
        "<batch seq=\"1\">{}<reading device=\"inv-2\" ts=\"{ts}\"><ac_power>NaN</ac_power></reading></batch>\n",
        reading("inv-1", &ts, 5.0, 1.0)
    ))
    .await;
    assert!(conn.answer().await.starts_with("<ack seq=\"1\" accepted=\"1\" rejected=\"1\">"));
    conn.send("<batch seq=\"x\"/>\n").await;
    assert!(conn.answer().await.contains("code=\"invalid\""));

    let expected = [
        r#"heliograph_ingest_documents_total{provider="acme",format="native",outcome="accepted"} 1"#,
        r#"heliograph_ingest_documents_total{provider="acme",format="native",outcome="invalid"} 1"#,
        r#"heliograph_ingest_readings_total{provider="acme",outcome="accepted"} 1"#,
        r#"heliograph_ingest_readings_total{provider="acme",outcome="quarantined"} 1"#,
        r#"heliograph_ingest_connections_total{listener="shared"}"#,
        "heliograph_ingest_connections_open 1",
        "heliograph_ingest_ack_seconds_bucket",
        r#"heliograph_store_write_seconds_count{backend="embedded"} 1"#,
    ];
    // A document is counted just after its answer is written: the scrape may come first.
    let expected = &expected;
    let complete = try_wait_until_async(Duration::from_secs(5), || async move {
        let metrics = scrape(ops).await;
        expected.iter().all(|e| metrics.contains(e)).then_some(metrics)
    })
    .await;
    // What is missing is told below, series by series.
    let metrics = match complete {
        Some(metrics) => metrics,
        None => scrape(ops).await,
    };
    let public = std::net::SocketAddr::from(([127, 0, 0, 1], acme.http));
    assert_eq!(common::http_get(public, "/metrics").await.0, 404, "no metrics on the public port");
    let _ = server.kill();
    let _ = server.wait();
    for expected in expected {
        assert!(metrics.contains(expected), "missing {expected:?} in\n{metrics}");
    }
    assert!(!metrics.contains(&token), "metrics never carry secrets");
}

async fn wait_healthy(port: u16) {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    wait_until_async(Duration::from_secs(20), &format!("something healthy on port {port}"), || async move {
        let healthy = std::net::TcpStream::connect(address).is_ok()
            && common::http_get(address, "/healthz").await.0 == 200;
        healthy.then_some(())
    })
    .await;
}

#[tokio::test]
async fn web_mailer_and_monitor_processes_serve_health_readiness_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let (web, web_ops, mailer_ops, monitor_ops) = (free_port(), free_port(), free_port(), free_port());
    let config = dir.path().join("heliograph.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nbackend = \"embedded\"\ndata_dir = \"{}\"\n[web]\nlisten = \"127.0.0.1:{web}\"\n\
             [mailer]\ntransport = \"file\"\noutbox_dir = \"{}\"\n\
             [ops]\nweb = \"127.0.0.1:{web_ops}\"\nmailer = \"127.0.0.1:{mailer_ops}\"\n\
             monitor = \"127.0.0.1:{monitor_ops}\"\n[log]\nfilter = \"warn\"\n",
            dir.path().join("data").display(),
            dir.path().join("outbox").display()
        ),
    )
    .unwrap();
    heliograph(&config, &["provider", "add", "acme", "--name", "Acme"]);
    let mut processes = [
        start_role(&config, "web", web),
        start_role(&config, "mailer", mailer_ops),
        start_role(&config, "monitor", monitor_ops),
    ];
    wait_healthy(web_ops).await;
    wait_healthy(mailer_ops).await;
    wait_healthy(monitor_ops).await;
    let web_addr = std::net::SocketAddr::from(([127, 0, 0, 1], web));
    let (status, _) = common::http_get(web_addr, "/login").await;
    assert_eq!(status, 200);
    for port in [web_ops, mailer_ops, monitor_ops] {
        let (status, body) =
            common::http_get(std::net::SocketAddr::from(([127, 0, 0, 1], port)), "/readyz").await;
        assert_eq!((status, body.trim()), (200, "ready"), "port {port}");
    }
    let web_metrics = scrape(web_ops).await;
    assert_eq!(common::http_get(web_addr, "/metrics").await.0, 404, "no metrics on the panel's port");
    // The scheduler's first round starts at once; its counter shows once it has finished.
    let finished = try_wait_until_async(Duration::from_secs(10), || async move {
        let (mailer, monitor) = (scrape(mailer_ops).await, scrape(monitor_ops).await);
        let done = mailer.contains(r#"heliograph_mailer_rounds_total{outcome="ok"}"#)
            && monitor.contains(r#"heliograph_monitor_checks_total{outcome="ok"}"#);
        done.then_some((mailer, monitor))
    })
    .await;
    // What is missing is told below.
    let (mailer_metrics, monitor_metrics) = match finished {
        Some(scraped) => scraped,
        None => (scrape(mailer_ops).await, scrape(monitor_ops).await),
    };
    for process in &mut processes {
        let _ = process.kill();
        let _ = process.wait();
    }
    let login = r#"heliograph_web_request_seconds_count{route="/login",status="2xx"} 1"#;
    assert!(web_metrics.contains(login), "missing {login:?} in\n{web_metrics}");
    let rounds = r#"heliograph_mailer_rounds_total{outcome="ok"}"#;
    assert!(mailer_metrics.contains(rounds), "missing {rounds:?} in\n{mailer_metrics}");
    let checks = r#"heliograph_monitor_checks_total{outcome="ok"}"#;
    assert!(monitor_metrics.contains(checks), "missing {checks:?} in\n{monitor_metrics}");
}
