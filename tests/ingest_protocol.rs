//! The wire protocol end to end: real TCP connections to a real ingest server over the embedded
//! store. Each test reads back what the store holds, so "acked" means "stored".

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod common;

use std::time::Duration;

use chrono::Utc;
use common::*;
use heliograph_shared::{DeviceId, GatewayId, Metric, RefusalReason};
use heliograph_testkit::wait_until_async;

fn day_range() -> std::ops::Range<chrono::DateTime<Utc>> {
    Utc::now() - chrono::Duration::days(2)..Utc::now() + chrono::Duration::days(1)
}

/// A device's stored readings of the last two days, oldest first.
async fn readings(
    tenant: &std::sync::Arc<dyn heliograph_shared::store::TenantStore>,
    gateway: &str,
    device: &str,
) -> Vec<heliograph_shared::Reading> {
    tenant
        .readings(
            &GatewayId::parse(gateway).unwrap(),
            &DeviceId::parse(device).unwrap(),
            day_range(),
            100_000,
        )
        .await
        .expect("readings")
}

async fn stored(
    tenant: &std::sync::Arc<dyn heliograph_shared::store::TenantStore>,
    gateway: &str,
    device: &str,
) -> usize {
    readings(tenant, gateway, device).await.len()
}

#[tokio::test]
async fn a_batch_after_hello_is_acknowledged_once_its_readings_are_stored() {
    let test = open_store(Backend::Embedded).await;
    let tenant = provider(&test.store, "acme", None).await;
    let token = gateway(&tenant, "GW-0001").await;
    let server = TestServer::start(test_settings(), test.store.clone()).await;

    let mut conn = GatewayConn::hello(server.addr, "GW-0001", &token).await;
    let ts = minutes_ago(5);
    conn.send(format!(
        "<batch seq=\"42\">{}{}</batch>\n",
        reading("inv-1", &ts, 1234.5, 9876.54),
        reading("inv-2", &ts, 10.0, 1.0)
    ))
    .await;
    assert_eq!(conn.answer().await, "<ack seq=\"42\" accepted=\"2\"/>");

    let rows = tenant
        .readings(&GatewayId::parse("GW-0001").unwrap(), &DeviceId::parse("inv-1").unwrap(), day_range(), 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].metrics.get(Metric::AcPower), Some(1234.5));
    assert!((rows[0].metrics.get(Metric::Energy).unwrap() - 9_876_540.0).abs() < 1e-6, "kWh converted to Wh");
    let gateway = tenant.gateway(&GatewayId::parse("GW-0001").unwrap()).await.unwrap().unwrap();
    assert!(gateway.last_seen.is_some(), "last-seen time recorded");
    server.stop().await;
}

#[tokio::test]
async fn credentials_on_the_document_work_without_hello_and_one_document_per_connection_reads_to_eof() {
    let test = open_store(Backend::Embedded).await;
    let tenant = provider(&test.store, "acme", None).await;
    let token = gateway(&tenant, "GW-0001").await;
    let server = TestServer::start(test_settings(), test.store.clone()).await;

    let mut conn = GatewayConn::connect(server.addr).await;
    conn.send(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- from the field -->\n\
         <batch gateway=\"GW-0001\" token=\"{token}\" seq=\"1\">{}</batch>",
        reading("inv-1", &minutes_ago(1), 500.0, 1.0)
    ))
    .await;
    // The gateway closes its sending side after its one document and still gets the answer.
    conn.finish_sending().await;
    assert_eq!(conn.answer().await, "<ack seq=\"1\" accepted=\"1\"/>");
    assert!(conn.closed_within(Duration::from_secs(5)).await);
    assert_eq!(stored(&tenant, "GW-0001", "inv-1").await, 1);
    server.stop().await;
}

#[tokio::test]
async fn documents_separated_by_whitespace_nul_bytes_declarations_and_comments_each_get_one_answer() {
    let test = open_store(Backend::Embedded).await;
    let tenant = provider(&test.store, "acme", None).await;
    let token = gateway(&tenant, "GW-0001").await;
    let server = TestServer::start(test_settings(), test.store.clone()).await;

    let mut conn = GatewayConn::hello(server.addr, "GW-0001", &token).await;
    let mut stream = String::new();
    for seq in 1..=5 {
        stream.push_str("<?xml version=\"1.0\"?><!-- doc -->");
        stream.push_str(&format!(
            "<batch seq=\"{seq}\">{}</batch>",
            reading("inv-1", &minutes_ago(seq), 1.0, 1.0)
        ));
        stream.push_str(if seq % 2 == 0 { "\0\0" } else { "\r\n\t " });
    }
    conn.send(stream).await;
    for seq in 1..=5 {
        assert_eq!(conn.answer().await, format!("<ack seq=\"{seq}\" accepted=\"1\"/>"));
    }
    assert_eq!(stored(&tenant, "GW-0001", "inv-1").await, 5);
    server.stop().await;
}

#[tokio::test]
async fn documents_cut_into_pieces_anywhere_are_answered_as_if_sent_whole() {
    // TCP delivers a stream in whatever pieces it likes: cuts inside tags, attribute values,
    // references, comments, declarations and end tags must all come out the same.
    let test = open_store(Backend::Embedded).await;
    let tenant = provider(&test.store, "acme", None).await;
    let token = gateway(&tenant, "GW-0001").await;
    let server = TestServer::start(test_settings(), test.store.clone()).await;

    let mut conn = GatewayConn::hello(server.addr, "GW-0001", &token).await;
    let (first, second, third) = (minutes_ago(3), minutes_ago(2), minutes_ago(1));
    let stream = format!(
        "<?xml version=\"1.0\"?>\n<!-- a < b & c -->\n\
         <batch seq=\"1\"><reading device=\"inv-1\" ts=\"{first}\"><ac_power unit=\"W\">1&#48;0</ac_power>\
         <status>&lt;producing&gt;</status></reading></batch>\r\n\
         <SunSpecData v=\"1\"><d sn=\"INV7\" t=\"{second}\"><m id=\"101\"><p id=\"W\">100</p></m></d></SunSpecData>\0\
         <batch seq=\"3\">{}</batch>\n",
        reading("inv-1", &third, 2.0, 1.0)
    );
    let mut rest = stream.as_bytes();
    for size in (1..=11).cycle() {
        if rest.is_empty() {
            break;
        }
        let (piece, after) = rest.split_at(size.min(rest.len()));
        conn.send(piece).await;
        tokio::time::sleep(Duration::from_millis(1)).await;
        rest = after;
    }
    assert_eq!(conn.answer().await, "<ack seq=\"1\" accepted=\"1\"/>");
    let answer = conn.answer().await;
    assert!(answer.starts_with("<sunSpecDataResponse><status>SUCCESS</status>"), "{answer}");
    assert_eq!(conn.answer().await, "<ack seq=\"3\" accepted=\"1\"/>");
    let readings = readings(&tenant, "GW-0001", "inv-1").await;
    assert_eq!(readings.len(), 2);
    assert_eq!(readings[0].metrics.get(Metric::AcPower), Some(100.0), "a character reference cut in two");
    assert_eq!(stored(&tenant, "GW-0001", "INV7").await, 1);
    server.stop().await;
}

#[tokio::test]
async fn resending_an_acknowledged_document_stores_each_reading_once() {
    let test = open_store(Backend::Embedded).await;
    let tenant = provider(&test.store, "acme", None).await;
    let token = gateway(&tenant, "GW-0001").await;
    let server = TestServer::start(test_settings(), test.store.clone()).await;

    let mut conn = GatewayConn::hello(server.addr, "GW-0001", &token).await;
    let ts = minutes_ago(3);
    let document = format!("<batch seq=\"9\">{}</batch>\n", reading("inv-1", &ts, 700.0, 2.0));
    for _ in 0..3 {
        conn.send(&document).await;
        assert_eq!(conn.answer().await, "<ack seq=\"9\" accepted=\"1\"/>");
    }
    assert_eq!(stored(&tenant, "GW-0001", "inv-1").await, 1);
    server.stop().await;
}

#[tokio::test]
async fn invalid_readings_are_listed_in_the_ack_and_kept_in_quarantine_while_the_rest_is_stored() {
    let test = open_store(Backend::Embedded).await;
    let tenant = provider(&test.store, "acme", None).await;
    let token = gateway(&tenant, "GW-0001").await;
    let server = TestServer::start(test_settings(), test.store.clone()).await;

    let mut conn = GatewayConn::hello(server.addr, "GW-0001", &token).await;
    let ts = minutes_ago(2);
    let future = (Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    conn.send(format!(
        "<batch seq=\"3\">{good}\
         <reading device=\"inv-2\" ts=\"{ts}\"><ac_power>NaN</ac_power></reading>\
         <reading device=\"inv-3\" ts=\"{ts}\"><ac_power unit=\"furlongs\">5</ac_power></reading>\
         <reading device=\"inv-4\" ts=\"{future}\"><ac_power>5</ac_power></reading>\
         <reading device=\"inv-5\" ts=\"{ts}\"><ac_power>five</ac_power></reading>\
         <reading device=\"inv-6\" ts=\"{ts}\"><ac_power>1e308</ac_power></reading>\
         </batch>\n",
        good = reading("inv-1", &ts, 100.0, 1.0)
    ))
    .await;
    let ack = conn.answer().await;
    assert!(ack.starts_with("<ack seq=\"3\" accepted=\"1\" rejected=\"5\">"), "{ack}");
    assert!(ack.contains("device=\"inv-2\"") && ack.contains("not finite"), "{ack}");
    assert!(ack.contains("unknown unit"), "{ack}");
    assert!(ack.contains("in the future"), "{ack}");
    assert!(ack.contains("is not a number"), "{ack}");
    assert!(ack.contains("out of range"), "{ack}");

    let quarantined = tenant.quarantined(day_range(), 100).await.unwrap();
    assert_eq!(quarantined.len(), 5);
    let nan = quarantined.iter().find(|q| q.device == "inv-2").expect("NaN reading quarantined");
    assert_eq!(nan.seq, Some(3));
    assert!(nan.content.contains("ac_power=NaN"), "{}", nan.content);
    assert_eq!(stored(&tenant, "GW-0001", "inv-1").await, 1);
    server.stop().await;
}

#[tokio::test]
async fn a_malformed_document_is_refused_with_a_reason_and_closes_only_its_own_connection() {
    let test = open_store(Backend::Embedded).await;
    let tenant = provider(&test.store, "acme", None).await;
    let token = gateway(&tenant, "GW-0001").await;
    let server = TestServer::start(test_settings(), test.store.clone()).await;

    let mut healthy = GatewayConn::hello(server.addr, "GW-0001", &token).await;
    let mut broken = GatewayConn::hello(server.addr, "GW-0001", &token).await;
    broken
        .send(format!(
            "<batch seq=\"1\">{}</batch>\n<batch seq=\"2\"><reading></batch>\n",
            reading("inv-1", &minutes_ago(9), 1.0, 1.0)
        ))
        .await;
    assert_eq!(
        broken.answer().await,
        "<ack seq=\"1\" accepted=\"1\"/>",
        "the document before the error is kept"
    );
    let nack = broken.answer().await;
    assert!(nack.starts_with("<nack code=\"malformed\" reason=\"XML syntax error"), "{nack}");
    assert!(broken.closed_within(Duration::from_secs(5)).await, "connection closed after a syntax error");

    healthy.send(format!("<batch seq=\"7\">{}</batch>\n", reading("inv-1", &minutes_ago(8), 1.0, 1.0))).await;
    assert_eq!(healthy.answer().await, "<ack seq=\"7\" accepted=\"1\"/>");
    server.stop().await;
}

#[tokio::test]
async fn a_well_formed_but_invalid_document_is_refused_and_the_connection_goes_on() {
    let test = open_store(Backend::Embedded).await;
    let tenant = provider(&test.store, "acme", None).await;
    let token = gateway(&tenant, "GW-0001").await;
    let server = TestServer::start(test_settings(), test.store.clone()).await;

    let mut conn = GatewayConn::hello(server.addr, "GW-0001", &token).await;
    conn.send("<readings><x/></readings>\n").await;
    let nack = conn.answer().await;
    assert!(nack.starts_with("<nack code=\"invalid\" reason=\"unknown document &lt;readings&gt;"), "{nack}");
    conn.send("<batch seq=\"x\"/>\n").await;
    assert!(conn.answer().await.contains("seq &quot;x&quot; is not a whole number"));
    conn.send("<batch seq=\"3\" seq=\"4\"/>\n").await;
    assert!(conn.answer().await.contains("attribute seq is given twice"));
    let ts = minutes_ago(1);
    conn.send(format!("<batch seq=\"5\"><reading device=\"a\" device=\"b\" ts=\"{ts}\"><ac_power>1</ac_power></reading></batch>\n"))
        .await;
    let nack = conn.answer().await;
    assert!(
        nack.starts_with("<nack seq=\"5\" code=\"invalid\"") && nack.contains("device is given twice"),
        "{nack}"
    );
    conn.send(format!("<batch seq=\"2\">{}</batch>\n", reading("inv-1", &minutes_ago(1), 1.0, 1.0))).await;
    assert_eq!(conn.answer().await, "<ack seq=\"2\" accepted=\"1\"/>");
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_document_is_refused_with_the_limit_it_hit() {
    let test = open_store(Backend::Embedded).await;
    let tenant = provider(&test.store, "acme", None).await;
    let token = gateway(&tenant, "GW-0001").await;
    let settings = heliograph_ingest::IngestSettings { max_document_bytes: 4096, ..test_settings() };
    let server = TestServer::start(settings, test.store.clone()).await;

    let mut conn = GatewayConn::hello(server.addr, "GW-0001", &token).await;
    let ts = minutes_ago(1);
    let many: String = (0..100).map(|i| reading(&format!("inv-{i}"), &ts, 1.0, 1.0)).collect();
    conn.send(format!("<batch seq=\"1\">{many}</batch>\n")).await;
    assert_eq!(
        conn.answer().await,
        "<nack code=\"too_large\" reason=\"document exceeds the limit of 4096 bytes\"/>"
    );
    assert!(conn.closed_within(Duration::from_secs(5)).await);

    // One giant text node is cut off by the same limit without being buffered whole.
    let mut conn = GatewayConn::hello(server.addr, "GW-0001", &token).await;
    conn.send(format!(
        "<batch seq=\"2\"><reading device=\"a\" ts=\"{ts}\"><ac_power>{}",
        "9".repeat(200_000)
    ))
    .await;
    assert_eq!(
        conn.answer().await,
        "<nack code=\"too_large\" reason=\"document exceeds the limit of 4096 bytes\"/>"
    );
    assert_eq!(stored(&tenant, "GW-0001", "inv-0").await, 0);
    server.stop().await;
}

#[tokio::test]
async fn too_many_readings_in_one_document_are_refused_whole() {
    let test = open_store(Backend::Embedded).await;
    let tenant = provider(&test.store, "acme", None).await;
    let token = gateway(&tenant, "GW-0001").await;
    let settings = heliograph_ingest::IngestSettings { max_readings_per_document: 3, ..test_settings() };
    let server = TestServer::start(settings, test.store.clone()).await;

    let mut conn = GatewayConn::hello(server.addr, "GW-0001", &token).await;
    let many: String = (0..4).map(|i| reading("inv-1", &minutes_ago(i), 1.0, 1.0)).collect();
    conn.send(format!("<batch seq=\"5\">{many}</batch>\n")).await;
    assert_eq!(
        conn.answer().await,
        "<nack seq=\"5\" code=\"too_many_readings\" reason=\"more than 3 readings in one document; split it\"/>"
    );
    assert_eq!(stored(&tenant, "GW-0001", "inv-1").await, 0, "nothing of a refused document is stored");
    server.stop().await;
}

#[tokio::test]
async fn unknown_gateways_and_wrong_tokens_are_refused_counted_and_recorded() {
    let test = open_store(Backend::Embedded).await;
    let tenant = provider(&test.store, "acme", None).await;
    let _token = gateway(&tenant, "GW-0001").await;
    let server = TestServer::start(test_settings(), test.store.clone()).await;

    let mut wrong = GatewayConn::connect(server.addr).await;
    wrong.send("<hello gateway=\"GW-0001\" token=\"guess\"/>\n").await;
    assert_eq!(
        wrong.answer().await,
        "<nack code=\"unauthorized\" reason=\"unknown gateway or wrong token\"/>"
    );
    assert!(wrong.closed_within(Duration::from_secs(5)).await);

    let mut stranger = GatewayConn::connect(server.addr).await;
    stranger
        .send(format!(
            "<batch gateway=\"GW-9999\" token=\"x\" seq=\"1\">{}</batch>\n",
            reading("inv-1", &minutes_ago(1), 1.0, 1.0)
        ))
        .await;
    assert_eq!(
        stranger.answer().await,
        "<nack seq=\"1\" code=\"unauthorized\" reason=\"unknown gateway or wrong token\"/>"
    );

    let mut anonymous = GatewayConn::connect(server.addr).await;
    anonymous
        .send(format!("<batch seq=\"1\">{}</batch>\n", reading("inv-1", &minutes_ago(1), 1.0, 1.0)))
        .await;
    assert!(anonymous.answer().await.starts_with("<nack seq=\"1\" code=\"unauthorized\""));

    let refused = tenant.refused_gateways(10).await.unwrap();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].reason, RefusalReason::WrongToken);
    assert_eq!(refused[0].last_address, "127.0.0.1");
    let unclaimed = test.store.unclaimed_gateways(10).await.unwrap();
    assert_eq!(unclaimed.iter().map(|g| g.gateway.as_str()).collect::<Vec<_>>(), ["GW-9999"]);
    assert_eq!(stored(&tenant, "GW-0001", "inv-1").await, 0);
    server.stop().await;
}

#[tokio::test]
async fn a_trickling_gateway_is_cut_off_at_the_document_timeout() {
    let test = open_store(Backend::Embedded).await;
    let tenant = provider(&test.store, "acme", None).await;
    let token = gateway(&tenant, "GW-0001").await;
    let settings = heliograph_ingest::IngestSettings { document_timeout_secs: 1, ..test_settings() };
    let server = TestServer::start(settings, test.store.clone()).await;

    let mut slow = GatewayConn::hello(server.addr, "GW-0001", &token).await;
    let started = std::time::Instant::now();
    let document = format!("<batch seq=\"1\">{}</batch>\n", reading("inv-1", &minutes_ago(1), 1.0, 1.0));
    let mut answer = None;
    for byte in document.as_bytes().chunks(1) {
        slow.send(byte).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        if started.elapsed() > Duration::from_millis(1500) {
            answer = Some(slow.answer().await);
            break;
        }
    }
    assert_eq!(
        answer.as_deref(),
        Some("<nack code=\"timeout\" reason=\"document not complete within 1 s\"/>")
    );
    assert!(slow.closed_within(Duration::from_secs(5)).await);
    assert_eq!(stored(&tenant, "GW-0001", "inv-1").await, 0);
    server.stop().await;
}

#[tokio::test]
async fn dtds_and_undefined_entities_are_refused_without_expansion() {
    let test = open_store(Backend::Embedded).await;
    let tenant = provider(&test.store, "acme", None).await;
    let token = gateway(&tenant, "GW-0001").await;
    let server = TestServer::start(test_settings(), test.store.clone()).await;

    let mut conn = GatewayConn::hello(server.addr, "GW-0001", &token).await;
    conn.send("<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;\">]><batch seq=\"1\">&lol2;</batch>\n").await;
    assert_eq!(
        conn.answer().await,
        "<nack code=\"dtd_forbidden\" reason=\"DOCTYPE declarations are not accepted (no DTDs, no entity expansion)\"/>"
    );
    assert!(conn.closed_within(Duration::from_secs(5)).await);

    let mut conn = GatewayConn::hello(server.addr, "GW-0001", &token).await;
    conn.send(format!(
        "<batch seq=\"2\"><reading device=\"inv-1\" ts=\"{}\"><ac_power>&xxe;</ac_power></reading></batch>\n",
        minutes_ago(1)
    ))
    .await;
    assert!(conn.answer().await.starts_with("<nack code=\"malformed\" reason=\"undefined entity &amp;xxe;"));
    server.stop().await;
}

#[tokio::test]
async fn garbage_between_documents_is_refused_and_earlier_documents_are_kept() {
    let test = open_store(Backend::Embedded).await;
    let tenant = provider(&test.store, "acme", None).await;
    let token = gateway(&tenant, "GW-0001").await;
    let server = TestServer::start(test_settings(), test.store.clone()).await;

    let mut conn = GatewayConn::hello(server.addr, "GW-0001", &token).await;
    // Text between documents is only known to be garbage once the next markup (or EOF) arrives.
    conn.send(format!(
        "<batch seq=\"1\">{}</batch> GARBAGE \n<batch seq=\"2\">{}</batch>\n",
        reading("inv-1", &minutes_ago(2), 1.0, 1.0),
        reading("inv-1", &minutes_ago(1), 1.0, 1.0)
    ))
    .await;
    assert_eq!(conn.answer().await, "<ack seq=\"1\" accepted=\"1\"/>");
    assert!(
        conn.answer()
            .await
            .starts_with("<nack code=\"malformed\" reason=\"unexpected text between documents")
    );
    assert!(conn.closed_within(Duration::from_secs(5)).await);
    assert_eq!(stored(&tenant, "GW-0001", "inv-1").await, 1);
    server.stop().await;
}

#[tokio::test]
async fn a_dedicated_port_accepts_only_its_own_providers_gateways() {
    let test = open_store(Backend::Embedded).await;
    let free = heliograph_testkit::free_port();
    let acme = provider(&test.store, "acme", Some(free)).await;
    let other = provider(&test.store, "other", None).await;
    let acme_token = gateway(&acme, "ACME-1").await;
    let other_token = gateway(&other, "OTHER-1").await;
    let server = TestServer::start(test_settings(), test.store.clone()).await;
    let dedicated = std::net::SocketAddr::from(([127, 0, 0, 1], free));

    let mut own = GatewayConn::hello(dedicated, "ACME-1", &acme_token).await;
    own.send(format!("<batch seq=\"1\">{}</batch>\n", reading("inv-1", &minutes_ago(1), 1.0, 1.0))).await;
    assert_eq!(own.answer().await, "<ack seq=\"1\" accepted=\"1\"/>");

    let mut foreign = GatewayConn::connect(dedicated).await;
    foreign.send(format!("<hello gateway=\"OTHER-1\" token=\"{other_token}\"/>\n")).await;
    assert_eq!(
        foreign.answer().await,
        "<nack code=\"unauthorized\" reason=\"unknown gateway or wrong token\"/>"
    );
    assert_eq!(stored(&acme, "ACME-1", "inv-1").await, 1);
    // Another provider's gateway and its address are none of the port owner's business.
    let refused = acme.refused_gateways(10).await.unwrap();
    assert!(refused.iter().all(|r| r.gateway.as_str() != "OTHER-1"), "{refused:?}");
    GatewayConn::hello(server.addr, "OTHER-1", &other_token).await;
    server.stop().await;
}

#[tokio::test]
async fn a_provider_added_while_running_gets_its_dedicated_port_without_a_restart() {
    let test = open_store(Backend::Embedded).await;
    let server = TestServer::start(test_settings(), test.store.clone()).await;
    let free = heliograph_testkit::free_port();
    let late = provider(&test.store, "late", Some(free)).await;
    let token = gateway(&late, "LATE-1").await;
    let dedicated = std::net::SocketAddr::from(([127, 0, 0, 1], free));
    wait_until_async(Duration::from_secs(10), "the dedicated port to open", || async move {
        tokio::net::TcpStream::connect(dedicated).await.ok().map(drop)
    })
    .await;
    let _conn = GatewayConn::hello(dedicated, "LATE-1", &token).await;
    server.stop().await;
}

#[tokio::test]
async fn a_rotated_token_is_accepted_at_once_and_the_old_one_during_its_grace_period() {
    let test = open_store(Backend::Embedded).await;
    let tenant = provider(&test.store, "acme", None).await;
    let old = gateway(&tenant, "GW-0001").await;
    let server = TestServer::start(test_settings(), test.store.clone()).await;
    let _warm = GatewayConn::hello(server.addr, "GW-0001", &old).await;

    let id = GatewayId::parse("GW-0001").unwrap();
    let mut record = tenant.gateway(&id).await.unwrap().unwrap();
    let new = heliograph_shared::GatewayToken::generate();
    record.previous_token = Some((record.token_hash, Utc::now() + chrono::Duration::hours(1)));
    record.token_hash = new.hash();
    tenant.update_gateway(&record).await.unwrap();

    let _with_new = GatewayConn::hello(server.addr, "GW-0001", new.reveal()).await;
    let _with_old = GatewayConn::hello(server.addr, "GW-0001", &old).await;
    server.stop().await;
}

#[tokio::test]
async fn sunspec_uploads_over_http_are_stored_and_answered_with_matching_statuses() {
    let test = open_store(Backend::Embedded).await;
    let tenant = provider(&test.store, "acme", None).await;
    let token = gateway(&tenant, "LOGGER-1").await;
    let server = TestServer::start(test_settings(), test.store.clone()).await;
    let t = minutes_ago(2);
    let upload = format!(
        "<sunSpecData v=\"1\"><d lid=\"11:22:33:44:55:66\" man=\"gsc\" mod=\"r300\" sn=\"123456\" t=\"{t}\" cid=\"2\">\
         <m id=\"101\" x=\"1\"><p id=\"W\">6701.3</p><p id=\"WH\">126973</p><p id=\"St\">4</p></m></d></sunSpecData>"
    );

    let (status, body) = http_post(server.http, "/sunspec", "LOGGER-1", &token, &upload).await;
    assert_eq!(
        (status, body.trim()),
        (200, "<sunSpecDataResponse><status>SUCCESS</status></sunSpecDataResponse>")
    );
    let rows = tenant
        .readings(
            &GatewayId::parse("LOGGER-1").unwrap(),
            &DeviceId::parse("123456").unwrap(),
            day_range(),
            10,
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].metrics.get(Metric::AcPower), Some(6701.3));

    let (status, body) = http_post(server.http, "/sunspec", "LOGGER-1", "wrong", &upload).await;
    assert_eq!(status, 401);
    assert!(body.contains("<code>INVALID_CREDENTIALS</code>"), "{body}");
    let (status, body) = http_post(server.http, "/sunspec", "LOGGER-1", &token, "<sunSpecData><d>").await;
    assert_eq!(status, 400);
    assert!(body.contains("<code>INVALID_MESSAGE</code>"), "{body}");
    let huge = format!("<sunSpecData>{}</sunSpecData>", " ".repeat(2 * 1024 * 1024));
    let (status, body) = http_post(server.http, "/sunspec", "LOGGER-1", &token, &huge).await;
    assert_eq!(status, 413);
    assert!(body.contains("<code>LIMIT_EXCEEDED</code>"), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn sunspec_documents_on_a_tcp_connection_after_hello_get_sunspec_answers() {
    let test = open_store(Backend::Embedded).await;
    let tenant = provider(&test.store, "acme", None).await;
    let token = gateway(&tenant, "LOGGER-1").await;
    let server = TestServer::start(test_settings(), test.store.clone()).await;

    let mut conn = GatewayConn::hello(server.addr, "LOGGER-1", &token).await;
    let good = minutes_ago(2);
    conn.send(format!(
        "<SunSpecData v=\"1\"><d sn=\"INV7\" t=\"{good}\"><m id=\"101\"><p id=\"W\">100</p></m></d>\
         <d sn=\"INV8\" t=\"never\" cid=\"9\"><m id=\"101\"><p id=\"W\">100</p></m></d></SunSpecData>\n"
    ))
    .await;
    let answer = conn.answer().await;
    assert!(answer.starts_with("<sunSpecDataResponse><status>DR_FAILURE</status>"), "{answer}");
    assert!(answer.contains("<dResult id=\"1\""), "{answer}");
    assert!(
        answer.contains(
            "<dResult id=\"2\" t=\"never\" cid=\"9\"><status>FAILURE</status><code>INVALID_MESSAGE</code>"
        ),
        "{answer}"
    );
    assert_eq!(stored(&tenant, "LOGGER-1", "INV7").await, 1);
    assert_eq!(tenant.quarantined(day_range(), 10).await.unwrap().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_lets_a_connection_finish_the_document_it_is_reading() {
    let test = open_store(Backend::Embedded).await;
    let tenant = provider(&test.store, "acme", None).await;
    let token = gateway(&tenant, "GW-0001").await;
    let server = TestServer::start(test_settings(), test.store.clone()).await;

    let mut conn = GatewayConn::hello(server.addr, "GW-0001", &token).await;
    let document = format!("<batch seq=\"77\">{}</batch>\n", reading("inv-1", &minutes_ago(1), 3.0, 1.0));
    let (first, rest) = document.split_at(20);
    conn.send(first).await;
    // The server shows nothing when it has read the start of a document, and a shutdown that
    // comes before that rightly closes the connection: this wait gives it the time to read it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.shutdown.cancel();
    // The accept loop drops its listener when it sees the shutdown, woken by the same cancel as
    // the connection: once new connections are refused, the connection has seen the shutdown
    // mid-document, and a server that closed it then would leave the rest unanswered.
    let addr = server.addr;
    wait_until_async(
        Duration::from_secs(10),
        "the listener to refuse connections after shutdown",
        || async move { tokio::net::TcpStream::connect(addr).await.is_err().then_some(()) },
    )
    .await;
    conn.send(rest).await;
    assert_eq!(conn.answer().await, "<ack seq=\"77\" accepted=\"1\"/>");
    assert!(conn.closed_within(Duration::from_secs(5)).await, "closed after the in-flight document");
    assert_eq!(stored(&tenant, "GW-0001", "inv-1").await, 1);
}
