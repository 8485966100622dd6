//! TLS on the ingest listener: a gateway that trusts the server's certificate gets its
//! documents acknowledged over TLS; plain-text bytes get nowhere.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use heliograph_ingest::settings::TlsSettings;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[tokio::test]
async fn gateways_send_over_tls_and_plain_text_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.path().join("cert.pem"), certified.cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), certified.signing_key.serialize_pem()).unwrap();
    let settings = heliograph_ingest::IngestSettings {
        tls: Some(TlsSettings {
            cert_path: dir.path().join("cert.pem"),
            key_path: dir.path().join("key.pem"),
        }),
        ..test_settings()
    };
    let test = open_store(Backend::Embedded).await;
    let tenant = provider(&test.store, "acme", None).await;
    let token = gateway(&tenant, "GW-TLS").await;
    let server = TestServer::start(settings, test.store.clone()).await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(certified.cert.der().to_vec())).unwrap();
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let tls = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
    let (read, mut write) = tokio::io::split(tls);
    let mut answers = BufReader::new(read).lines();
    write
        .write_all(
            format!(
                "<hello gateway=\"GW-TLS\" token=\"{token}\"/>\n<batch seq=\"1\">{}</batch>\n",
                reading("inv-1", &minutes_ago(1), 42.0, 1.0)
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(answers.next_line().await.unwrap().unwrap(), "<welcome gateway=\"GW-TLS\"/>");
    assert_eq!(answers.next_line().await.unwrap().unwrap(), "<ack seq=\"1\" accepted=\"1\"/>");

    // A gateway speaking plain XML to the TLS port gets no answer and is closed.
    let mut plain = GatewayConn::connect(server.addr).await;
    plain.send(format!("<hello gateway=\"GW-TLS\" token=\"{token}\"/>\n")).await;
    assert!(plain.closed_within(Duration::from_secs(5)).await);
    server.stop().await;
}
