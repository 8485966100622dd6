//! The binary as an operator uses it for the panel: `heliograph user add` reads a password from
//! stdin or the environment and that user logs in to `heliograph web`; `heliograph serve --demo`
//! lets anyone log in as sunrise / demo / demo, as the README says.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

mod common;

use common::process::{BIN, OPS_ANY_PORT, free_port, heliograph_output};
use heliograph_testkit::cookies::cookie_pair;
use heliograph_testkit::{forms, wait_until, wait_until_async};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A config with the embedded store in `dir` and every listener on a free loopback port;
/// returns its path and the web port.
fn config(dir: &Path) -> (std::path::PathBuf, u16) {
    let (ingest, http, web) = (free_port(), free_port(), free_port());
    let path = dir.join("heliograph.toml");
    let data = dir.join("data").display().to_string();
    let spool = dir.join("spool").display().to_string();
    let outbox = dir.join("outbox").display().to_string();
    let text = format!(
        "[store]\nbackend = \"embedded\"\ndata_dir = \"{data}\"\n\
         [ingest]\nlisten = \"127.0.0.1:{ingest}\"\nhttp_listen = \"127.0.0.1:{http}\"\nspool_dir = \"{spool}\"\n\
         [web]\nlisten = \"127.0.0.1:{web}\"\n[mailer]\noutbox_dir = \"{outbox}\"\n[log]\nfilter = \"warn\"\n{OPS_ANY_PORT}"
    );
    std::fs::write(&path, text).unwrap();
    (path, web)
}

/// Runs `heliograph` with `stdin` and extra environment; returns (success, stdout + stderr).
fn heliograph(config: &Path, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> (bool, String) {
    let output = heliograph_output(config, args, stdin, env);
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

fn start(config: &Path, args: &[&str], web: u16) -> Running {
    let child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(60), &format!("{args:?} to open the web port {web}"), || {
        std::net::TcpStream::connect(("127.0.0.1", web)).is_ok()
    });
    Running(child)
}

/// Logs in through the form; the session cookie on success.
async fn log_in(web: u16, provider: &str, user: &str, password: &str) -> Result<String, forms::FormError> {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    forms::log_in(&http, &format!("http://127.0.0.1:{web}"), provider, user, password).await
}

#[tokio::test]
async fn a_user_added_from_the_command_line_logs_in_to_the_panel() {
    let dir = tempfile::tempdir().unwrap();
    let (config, web) = config(dir.path());
    let (ok, out) = heliograph(&config, &["provider", "add", "acme", "--name", "ACME Solar"], "", &[]);
    assert!(ok, "{out}");
    let add =
        ["user", "add", "--provider", "acme", "anna", "--display-name", "Anna Huber", "--password-stdin"];
    let (ok, out) = heliograph(&config, &add, "a long enough secret\n", &[]);
    assert!(ok, "{out}");
    assert!(out.contains("user anna added to acme"), "{out}");
    let (ok, out) = heliograph(&config, &add, "another long secret\n", &[]);
    assert!(!ok && out.contains("already exists"), "a second add is refused: {out}");
    let from_env = ["user", "add", "--provider", "acme", "bob", "--display-name", "Bob"];
    let (ok, out) = heliograph(&config, &from_env, "", &[("HELIOGRAPH_PASSWORD", "bobs long secret")]);
    assert!(ok, "{out}");
    let (ok, out) =
        heliograph(&config, &["user", "add", "--provider", "acme", "carl", "--display-name", "C"], "", &[]);
    assert!(!ok && out.contains("--password-stdin"), "no password, no user: {out}");
    let short = ["user", "add", "--provider", "acme", "dora", "--display-name", "D", "--password-stdin"];
    let (ok, out) = heliograph(&config, &short, "short\n", &[]);
    assert!(!ok && out.contains("at least 8"), "{out}");
    let (ok, out) = heliograph(&config, &["user", "list", "--provider", "acme"], "", &[]);
    assert!(ok && out.contains("anna\tAnna Huber\tactive") && out.contains("bob\tBob"), "{out}");

    let _web = start(&config, &["web"], web);
    log_in(web, "acme", "anna", "a long enough secret").await.unwrap();
    log_in(web, "acme", "bob", "bobs long secret").await.unwrap();
    let refused = log_in(web, "acme", "anna", "a wrong secret").await;
    assert!(
        matches!(refused, Err(forms::FormError::Refused(reqwest::StatusCode::UNAUTHORIZED))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn serve_demo_lets_you_log_in_as_sunrise_demo_demo() {
    let dir = tempfile::tempdir().unwrap();
    let (config, web) = config(dir.path());
    let _serve = start(&config, &["serve", "--demo"], web);
    // The demo provisions its providers and users as it starts; poll until the login works.
    let session =
        wait_until_async(Duration::from_secs(60), "sunrise / demo / demo to log in", || async move {
            log_in(web, "sunrise", "demo", "demo").await.ok()
        })
        .await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let fleet =
        http.get(format!("http://127.0.0.1:{web}/sites")).header("cookie", session).send().await.unwrap();
    assert_eq!(fleet.status(), 200);
    let html = fleet.text().await.unwrap();
    assert!(html.contains("SUNRISE-0001") && html.contains("Sunrise Solar Installers"), "{html}");
    assert!(!html.contains("VOLTWERK-0001"));
    log_in(web, "voltwerk", "demo", "demo").await.unwrap();
}

#[tokio::test]
async fn an_operator_added_from_the_command_line_logs_in_to_the_operator_console() {
    let dir = tempfile::tempdir().unwrap();
    let (config, web) = config(dir.path());
    let add = ["operator", "add", "olga", "--display-name", "Olga", "--password-stdin"];
    let (ok, out) = heliograph(&config, &add, "operator secret\n", &[]);
    assert!(ok && out.contains("operator added: olga"), "{out}");
    let (ok, out) = heliograph(&config, &add, "short\n", &[]);
    assert!(!ok && out.contains("at least 8"), "{out}");

    let _web = start(&config, &["web"], web);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let base = format!("http://127.0.0.1:{web}");
    let fields = [("username", "olga"), ("password", "operator secret")];
    let answer =
        forms::submit_login(&http, &base, "/operator/login", "hg_operator_login", &fields).await.unwrap();
    assert_eq!(answer.status(), 303);
    let session = cookie_pair(answer.headers(), "hg_operator").unwrap();
    let console = http.get(format!("{base}/operator")).header("cookie", session).send().await.unwrap();
    assert_eq!(console.status(), 200);
    assert!(console.text().await.unwrap().contains("New provider"));
}
