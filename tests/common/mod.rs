//! Helpers for end-to-end tests: a real ingest server on loopback over a real store, and a
//! gateway that speaks to it over TCP.

#![allow(dead_code)]

pub mod process;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use heliograph_ingest::{IngestServer, IngestSettings};
use heliograph_shared::store::cassandra::KeyspaceName;
use heliograph_shared::store::{self, CassandraSettings, Store, StoreSettings, TenantStore};
use heliograph_shared::{Gateway, GatewayId, GatewayToken, Provider, ProviderSlug};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::sync::CancellationToken;

/// A unique suffix for names in a shared Cassandra node.
pub fn unique(prefix: &str) -> String {
    let n: u32 = rand::random();
    format!("{prefix}{n:08x}")
}

/// The Cassandra node the test command started; a test that needs it fails without it.
pub fn cassandra_settings() -> CassandraSettings {
    let node = std::env::var("HELIOGRAPH_CASSANDRA").expect(
        "HELIOGRAPH_CASSANDRA is not set: run the suite with scripts/test.sh, which starts Cassandra, \
         or set it to a reachable node such as 127.0.0.1:9042",
    );
    CassandraSettings {
        nodes: vec![node],
        registry_keyspace: KeyspaceName::parse(&unique("test_registry_")).expect("valid keyspace name"),
        consistency: heliograph_shared::store::ConsistencySetting::One,
        ..CassandraSettings::default()
    }
}

/// Which backend a test runs on.
pub enum Backend {
    /// SQLite files in a temporary directory.
    Embedded,
    /// The test Cassandra node, in fresh keyspaces.
    Cassandra,
}

/// A store for one test, and the directory it lives in (if embedded).
pub struct TestStore {
    pub store: Arc<dyn Store>,
    pub settings: StoreSettings,
    pub dir: tempfile::TempDir,
}

pub async fn open_store(backend: Backend) -> TestStore {
    let dir = tempfile::tempdir().expect("temporary directory");
    let settings = match backend {
        Backend::Embedded => StoreSettings::Embedded { data_dir: dir.path().join("data") },
        Backend::Cassandra => StoreSettings::Cassandra(cassandra_settings()),
    };
    let store = store::open(&settings).await.expect("store opens");
    TestStore { store, settings, dir }
}

/// Settings for a test server on ephemeral loopback ports. The spool is left to
/// [`TestServer::start`], which gives the server one it removes afterwards.
pub fn test_settings() -> IngestSettings {
    IngestSettings {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        http_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        dedicated_host: [127, 0, 0, 1].into(),
        registry_refresh_secs: 1,
        spool_dir: None,
        ..IngestSettings::default()
    }
}

/// A running ingest server.
pub struct TestServer {
    pub addr: SocketAddr,
    pub http: SocketAddr,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<()>,
    /// The spool directory the server was given, removed when the server is dropped.
    spool: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Binds and runs a server; with no `spool_dir` in `settings` it spools to a fresh directory
    /// that goes with the server (a test that restarts a server on one spool names its own).
    pub async fn start(mut settings: IngestSettings, store: Arc<dyn Store>) -> Self {
        let spool = settings.spool_dir.is_none().then(|| {
            tempfile::Builder::new().prefix("heliograph-test-spool-").tempdir().expect("a spool directory")
        });
        if let Some(dir) = &spool {
            settings.spool_dir = Some(dir.path().to_owned());
        }
        let server = IngestServer::bind(settings, store).await.expect("server binds");
        let addr = server.local_addr().expect("bound address");
        let http = server.http_addr().expect("http listener");
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let task = tokio::spawn(async move {
            server.run(stop).await.expect("server runs");
        });
        Self { addr, http, shutdown, task, spool }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
    }
}

/// Creates a provider and returns its handle.
pub async fn provider(store: &Arc<dyn Store>, slug: &str, port: Option<u16>) -> Arc<dyn TenantStore> {
    let slug = ProviderSlug::parse(slug).expect("valid slug");
    let mut provider = Provider::new(slug.clone(), format!("Provider {slug}"));
    provider.ingest_port = port;
    store.create_provider(&provider).await.expect("provider created");
    store.tenant(&slug).await.expect("tenant handle")
}

/// Adds a gateway and returns its token.
pub async fn gateway(tenant: &Arc<dyn TenantStore>, id: &str) -> String {
    let token = GatewayToken::generate();
    let id = GatewayId::parse(id).expect("valid id");
    let gateway = Gateway::new(id.clone(), None, format!("Site {id}"), 10.0, token.hash());
    tenant.create_gateway(&gateway).await.expect("gateway created");
    token.reveal().to_owned()
}

/// A gateway's TCP connection.
pub struct GatewayConn {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl GatewayConn {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connects");
        let (read, writer) = stream.into_split();
        Self { reader: BufReader::new(read), writer }
    }

    pub async fn send(&mut self, text: impl AsRef<[u8]>) {
        self.writer.write_all(text.as_ref()).await.expect("writes");
    }

    /// The next answer line; panics if none comes within 10 s.
    pub async fn answer(&mut self) -> String {
        let mut line = String::new();
        let read = tokio::time::timeout(Duration::from_secs(10), self.reader.read_line(&mut line))
            .await
            .expect("an answer within 10 s")
            .expect("reads");
        assert!(read > 0, "connection closed without an answer");
        line.trim_end().to_owned()
    }

    /// True if the server closes the connection (EOF) within `within`, after sending nothing
    /// but what is read and discarded here.
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        let read_to_end = async {
            let mut rest = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut self.reader, &mut rest).await
        };
        tokio::time::timeout(within, read_to_end).await.is_ok()
    }

    pub async fn hello(addr: SocketAddr, gateway: &str, token: &str) -> Self {
        let mut conn = Self::connect(addr).await;
        conn.send(format!("<hello gateway=\"{gateway}\" token=\"{token}\"/>\n")).await;
        let welcome = conn.answer().await;
        assert_eq!(welcome, format!("<welcome gateway=\"{gateway}\"/>"));
        conn
    }

    /// Closes the sending side (the gateway is done); answers can still be read.
    pub async fn finish_sending(&mut self) {
        self.writer.shutdown().await.expect("shuts down the write half");
    }
}

/// A native reading element.
pub fn reading(device: &str, ts: &str, power_w: f64, energy_kwh: f64) -> String {
    format!(
        "<reading device=\"{device}\" ts=\"{ts}\"><ac_power unit=\"W\">{power_w}</ac_power>\
         <energy unit=\"kWh\">{energy_kwh}</energy></reading>"
    )
}

/// An RFC 3339 timestamp `minutes` before now, whole seconds.
pub fn minutes_ago(minutes: i64) -> String {
    let ts = chrono::Utc::now() - chrono::Duration::minutes(minutes);
    ts.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// POSTs `body` to the SunSpec HTTP endpoint with Basic credentials; returns (status, body).
pub async fn http_post(
    addr: SocketAddr,
    path: &str,
    user: &str,
    password: &str,
    body: &str,
) -> (u16, String) {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {auth}\r\nContent-Type: application/xml\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    exchange(addr, &request).await
}

/// GETs `path`; returns (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    exchange(addr, &request).await
}

/// Sends one HTTP/1.1 request (with `Connection: close`) and reads the whole response:
/// (status, body).
async fn exchange(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    stream.write_all(request.as_bytes()).await.expect("writes");
    let mut response = Vec::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut response),
    )
    .await
    .expect("response within 10 s")
    .expect("reads");
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}
