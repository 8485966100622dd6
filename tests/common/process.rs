//! The `heliograph` binary as an operator runs it: a config file, one-shot commands, and
//! long-running roles started in the background.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_heliograph");

/// An `[ops]` section that puts every role's probes and metrics on a port of the kernel's
/// choosing, so that test processes never collide on the default ports.
pub const OPS_ANY_PORT: &str =
    "[ops]\ningest = \"127.0.0.1:0\"\nweb = \"127.0.0.1:0\"\nmailer = \"127.0.0.1:0\"\n";

pub use heliograph_testkit::{free_port, wait_for_port};

/// Runs `heliograph --config <config> <args>`; its stdout, failing the test if it failed.
pub fn heliograph(config: &Path, args: &[&str]) -> String {
    heliograph_fed(config, args, "")
}

/// Runs `heliograph --config <config> <args>` with `stdin` as its input (a password, say); its
/// stdout, failing the test if it failed.
pub fn heliograph_fed(config: &Path, args: &[&str], stdin: &str) -> String {
    let output = heliograph_output(config, args, stdin, &[]);
    assert!(
        output.status.success(),
        "heliograph {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs `heliograph --config <config> <args>` with `stdin` as its input and `env` added; its
/// output, whatever came of it. `HELIOGRAPH_PASSWORD` is removed from what it inherits, so that
/// a password comes only from where the test puts it.
pub fn heliograph_output(config: &Path, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("HELIOGRAPH_PASSWORD")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs heliograph");
    let mut input = child.stdin.take().expect("a piped stdin");
    // A heliograph that exits without reading its input closes the pipe: what it said then is
    // in its output, which the caller sees, so a failed write is not the test's failure.
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    child.wait_with_output().expect("heliograph's output")
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
