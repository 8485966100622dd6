//! The `heliograph` binary as an operator runs it: a config file, one-shot commands, and
//! long-running roles started in the background.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_heliograph");

/// An `[ops]` section that puts every role's probes and metrics on a port of the kernel's
/// choosing, so that test processes never collide on the default ports.
pub const OPS_ANY_PORT: &str =
    "[ops]\ningest = \"127.0.0.1:0\"\nweb = \"127.0.0.1:0\"\nmailer = \"127.0.0.1:0\"\n";

/// A loopback port free at the time of asking, for a server started afterwards. It is taken
/// below Linux's ephemeral range (32768 and up), where the kernel's own choice for port 0 and
/// for every outgoing connection (a Cassandra driver's, another test's) lies: a port from that
/// range could be handed to one of those before the server binds it. Ports are handed out in
/// turn from a start that differs between test processes, each checked free when handed out.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000; // up to 31,999; clear of the Cassandra ports the tests use (7xxx, 9xxx)
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let offset = std::process::id().wrapping_mul(7_919);
    for _ in 0..COUNT {
        let port = FIRST + offset.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % COUNT;
        let port = u16::try_from(port).expect("below 32,000");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port from {FIRST} to {}", FIRST + COUNT - 1)
}

/// Runs `heliograph --config <config> <args>`; its stdout, failing the test if it failed.
pub fn heliograph(config: &Path, args: &[&str]) -> String {
    let output = Command::new(BIN).arg("--config").arg(config).args(args).output().expect("runs heliograph");
    assert!(
        output.status.success(),
        "heliograph {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Starts `heliograph --config <config> <role>` (output discarded) and waits until `port` accepts.
pub fn start_role(config: &Path, role: &str, port: u16) -> Child {
    let child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .arg(role)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts heliograph");
    wait_for_port(port, role);
    child
}

/// Waits until something accepts connections on loopback `port`.
pub fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not open port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An embedded-store installation in a directory: provider `acme` with gateway `GW-1`.
pub struct EmbeddedAcme {
    /// The config file.
    pub config: PathBuf,
    /// The gateway port.
    pub ingest: u16,
    /// The ingest HTTP port (SunSpec uploads, `/healthz`, `/readyz`).
    pub http: u16,
    /// The ingest process's internal port (`/healthz`, `/readyz`, `/metrics`).
    pub ops: u16,
    /// `GW-1`'s token.
    pub token: String,
}

impl EmbeddedAcme {
    /// Writes the config (`extra` is appended: more sections such as `[log]`) and adds the
    /// provider and its gateway with the CLI.
    pub fn new(dir: &Path, extra: &str) -> Self {
        let (ingest, http, ops) = (free_port(), free_port(), free_port());
        let config = dir.join("heliograph.toml");
        let text = format!(
            "[store]\nbackend = \"embedded\"\ndata_dir = \"{}\"\n[ingest]\nlisten = \"127.0.0.1:{ingest}\"\n\
             http_listen = \"127.0.0.1:{http}\"\nspool_dir = \"{}\"\n{extra}\
             [ops]\ningest = \"127.0.0.1:{ops}\"\nweb = \"127.0.0.1:0\"\nmailer = \"127.0.0.1:0\"\n",
            dir.join("data").display(),
            dir.join("spool").display()
        );
        std::fs::write(&config, text).expect("writes the config");
        heliograph(&config, &["provider", "add", "acme", "--name", "Acme"]);
        let added = heliograph(&config, &["gateway", "add", "--provider", "acme", "GW-1", "--site", "Roof"]);
        let token = added.lines().nth(1).expect("the token line").trim().to_owned();
        Self { config, ingest, http, ops, token }
    }

    /// The gateway port's address.
    pub fn ingest_addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.ingest))
    }
}
