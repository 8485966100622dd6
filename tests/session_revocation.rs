//! Sessions end on every web process: two `heliograph web` processes on one store (as behind a
//! load balancer), the same session secret. A session made on one is refused by the other soon
//! after the user logs out on the first, after `heliograph user password` and after `heliograph
//! user deactivate`, and an operator's likewise; each delay is measured and printed. On the
//! embedded store and on Cassandra (`HELIOGRAPH_CASSANDRA`).

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::process::{BIN, OPS_ANY_PORT, free_port, heliograph_fed, wait_for_port};
use heliograph_testkit::cookies::cookie_pair;
use heliograph_testkit::forms::{csrf_field, submit_login};
use heliograph_testkit::wait_until_async;

/// The longest a revocation may take to reach the other process.
const WITHIN: Duration = Duration::from_secs(10);

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Two web processes on one store.
struct Pair {
    config: PathBuf,
    bases: [String; 2],
    http: reqwest::Client,
    _processes: [Running; 2],
}

impl Pair {
    async fn start(dir: &Path, store: &str, provider: &str) -> Self {
        let secret = heliograph_shared::SigningSecret::generate_hex();
        let ports = [free_port(), free_port()];
        let configs: Vec<PathBuf> = ports
            .iter()
            .enumerate()
            .map(|(n, port)| {
                let path = dir.join(format!("web{n}.toml"));
                let text = format!(
                    "{store}\n[web]\nlisten = \"127.0.0.1:{port}\"\ncookie_secure = false\nsession_secret = \"{secret}\"\n\
                     [log]\nfilter = \"warn\"\n{OPS_ANY_PORT}"
                );
                std::fs::write(&path, text).unwrap();
                path
            })
            .collect();
        let config = configs[0].clone();
        heliograph_fed(&config, &["provider", "add", provider, "--name", "Acme"], "");
        heliograph_fed(
            &config,
            &["user", "add", "--provider", provider, "anna", "--display-name", "Anna", "--password-stdin"],
            "first password\n",
        );
        heliograph_fed(
            &config,
            &["operator", "add", "olga", "--display-name", "Olga", "--password-stdin"],
            "operator password\n",
        );
        let processes = [0, 1].map(|n| {
            let child = Command::new(BIN)
                .arg("--config")
                .arg(&configs[n])
                .arg("web")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let running = Running(child);
            wait_for_port(ports[n], "web");
            running
        });
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let bases = ports.map(|port| format!("http://127.0.0.1:{port}"));
        Self { config, bases, http, _processes: processes }
    }

    /// Logs in on process `n` through the form (provider users, or operators when `provider`
    /// is none); the session cookie.
    async fn log_in(
        &self,
        n: usize,
        provider: Option<&str>,
        user: &str,
        password: &str,
    ) -> Result<String, u16> {
        let (form_path, cookie_name, session_name) = match provider {
            Some(_) => ("/login", "hg_login", "hg_session"),
            None => ("/operator/login", "hg_operator_login", "hg_operator"),
        };
        let mut fields = vec![("username", user), ("password", password)];
        if let Some(provider) = provider {
            fields.push(("provider", provider));
        }
        let answer = submit_login(&self.http, &self.bases[n], form_path, cookie_name, &fields).await.unwrap();
        let status = answer.status().as_u16();
        cookie_pair(answer.headers(), session_name).filter(|_| status == 303).ok_or(status)
    }

    /// The status of `GET path` on process `n` with `session`.
    async fn status(&self, n: usize, path: &str, session: &str) -> u16 {
        let response =
            self.http.get(format!("{}{path}", self.bases[n])).header("cookie", session).send().await;
        response.unwrap().status().as_u16()
    }

    /// Posts the logout form at `path` on process `n`, with the CSRF token of `page`.
    async fn log_out(&self, n: usize, page: &str, path: &str, session: &str) {
        let html = self
            .http
            .get(format!("{}{page}", self.bases[n]))
            .header("cookie", session)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let token = csrf(&html);
        let answer = self
            .http
            .post(format!("{}{path}", self.bases[n]))
            .header("cookie", session)
            .form(&[("csrf", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 303, "logout on process {n}");
    }

    /// How long after `since` process `n` took to refuse `session` on `path` (it must, within
    /// [`WITHIN`]).
    async fn refused_after(&self, n: usize, path: &str, session: &str, since: Instant) -> Duration {
        let what = format!("process {n} to refuse the session");
        let within = WITHIN.saturating_sub(since.elapsed());
        wait_until_async(within, &what, || async {
            (self.status(n, path, session).await == 303).then_some(())
        })
        .await;
        since.elapsed()
    }
}

fn csrf(html: &str) -> String {
    csrf_field(html).expect("a page with a csrf field")
}

async fn sessions_end_on_both_processes(backend: &str, store: &str, provider: &str) {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path(), store, provider).await;
    let p = Some(provider);

    // Logging out on one process ends the session on the other.
    let session = pair.log_in(0, p, "anna", "first password").await.unwrap();
    assert_eq!(
        (pair.status(0, "/sites", &session).await, pair.status(1, "/sites", &session).await),
        (200, 200)
    );
    let started = Instant::now();
    pair.log_out(0, "/sites", "/logout", &session).await;
    let delay = pair.refused_after(1, "/sites", &session, started).await;
    println!(
        "{backend}: user logged out on web 1, web 2 refused the session {delay:.0?} after the logout began"
    );

    // A new password, set from the command line, ends the sessions on both.
    let session = pair.log_in(1, p, "anna", "first password").await.unwrap();
    let args = ["user", "password", "--provider", provider, "anna", "--password-stdin"];
    let out = heliograph_fed(&pair.config, &args, "second password\n");
    let changed = Instant::now();
    assert!(out.contains("their sessions have ended"), "{out}");
    let delays = [
        pair.refused_after(0, "/sites", &session, changed).await,
        pair.refused_after(1, "/sites", &session, changed).await,
    ];
    println!(
        "{backend}: after `heliograph user password` the session was refused by web 1 and 2 within {delays:.0?}"
    );
    assert_eq!(pair.log_in(0, p, "anna", "first password").await, Err(401), "the old password is refused");

    // So does deactivation.
    let session = pair.log_in(0, p, "anna", "second password").await.unwrap();
    heliograph_fed(&pair.config, &["user", "deactivate", "--provider", provider, "anna"], "");
    let deactivated = Instant::now();
    let delays = [
        pair.refused_after(0, "/sites", &session, deactivated).await,
        pair.refused_after(1, "/sites", &session, deactivated).await,
    ];
    println!(
        "{backend}: after `heliograph user deactivate` the session was refused by web 1 and 2 within {delays:.0?}"
    );
    assert_eq!(
        pair.log_in(1, p, "anna", "second password").await,
        Err(401),
        "a deactivated user cannot log in"
    );

    // Operators too.
    let session = pair.log_in(0, None, "olga", "operator password").await.unwrap();
    assert_eq!(pair.status(1, "/operator", &session).await, 200);
    let started = Instant::now();
    pair.log_out(1, "/operator", "/operator/logout", &session).await;
    let delay = pair.refused_after(0, "/operator", &session, started).await;
    println!(
        "{backend}: operator logged out on web 2, web 1 refused the session {delay:.0?} after the logout began"
    );
    let session = pair.log_in(1, None, "olga", "operator password").await.unwrap();
    heliograph_fed(&pair.config, &["operator", "deactivate", "olga"], "");
    let deactivated = Instant::now();
    let delays = [
        pair.refused_after(0, "/operator", &session, deactivated).await,
        pair.refused_after(1, "/operator", &session, deactivated).await,
    ];
    println!(
        "{backend}: after `heliograph operator deactivate` the operator's session was refused within {delays:.0?}"
    );
}

#[tokio::test]
async fn sessions_end_on_every_web_process_of_an_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        format!("[store]\nbackend = \"embedded\"\ndata_dir = \"{}\"", dir.path().join("data").display());
    sessions_end_on_both_processes("embedded", &store, "acme").await;
}

#[tokio::test]
async fn sessions_end_on_every_web_process_of_a_cassandra_store() {
    let settings = common::cassandra_settings();
    let store = format!(
        "[store]\nbackend = \"cassandra\"\nnodes = [\"{}\"]\nregistry_keyspace = \"{}\"\nconsistency = \"one\"",
        settings.nodes[0], settings.registry_keyspace
    );
    sessions_end_on_both_processes("cassandra", &store, &common::unique("acme")).await;
}
